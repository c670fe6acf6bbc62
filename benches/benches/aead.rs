//! The AEAD candidates for the data path, measured as the daemons use
//! them: seal and open in place with a detached tag, a 12-byte nonce and
//! 29 bytes of associated data (the frame's header), for 64-, 512- and
//! 1400-byte packets. RustCrypto's `aes-gcm` and `chacha20poly1305` (the
//! current choice is `aes-gcm`), `ring` and `aws-lc-rs`, each with
//! AES-256-GCM and ChaCha20-Poly1305. docs/BENCHMARKS.md holds the table.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

const SIZES: [usize; 3] = [64, 512, 1400];
const KEY: [u8; 32] = [7u8; 32];
const NONCE: [u8; 12] = [3u8; 12];
const AAD: [u8; 29] = [1u8; 29];

/// One implementation and cipher: seal in place (returning the tag) and
/// open in place (given the tag).
trait Candidate {
    fn seal(&self, buf: &mut [u8]) -> [u8; 16];
    fn open(&self, buf: &mut [u8], tag: &[u8; 16]) -> bool;
}

struct RustCrypto<A>(A);

impl<A: aes_gcm::aead::AeadInPlace> Candidate for RustCrypto<A> {
    fn seal(&self, buf: &mut [u8]) -> [u8; 16] {
        let t = self
            .0
            .encrypt_in_place_detached(aes_gcm::aead::Nonce::<A>::from_slice(&NONCE), &AAD, buf)
            .expect("seal");
        t.as_slice().try_into().expect("16-byte tag")
    }
    fn open(&self, buf: &mut [u8], tag: &[u8; 16]) -> bool {
        self.0
            .decrypt_in_place_detached(
                aes_gcm::aead::Nonce::<A>::from_slice(&NONCE),
                &AAD,
                buf,
                aes_gcm::aead::Tag::<A>::from_slice(tag),
            )
            .is_ok()
    }
}

struct Ring(ring::aead::LessSafeKey);

impl Candidate for Ring {
    fn seal(&self, buf: &mut [u8]) -> [u8; 16] {
        let n = ring::aead::Nonce::assume_unique_for_key(NONCE);
        let t = self
            .0
            .seal_in_place_separate_tag(n, ring::aead::Aad::from(AAD), buf)
            .expect("seal");
        t.as_ref().try_into().expect("16-byte tag")
    }
    fn open(&self, buf: &mut [u8], tag: &[u8; 16]) -> bool {
        let n = ring::aead::Nonce::assume_unique_for_key(NONCE);
        let t = ring::aead::Tag::from(*tag);
        self.0
            .open_in_place_separate_tag(n, ring::aead::Aad::from(AAD), t, buf, 0..)
            .is_ok()
    }
}

struct AwsLc(aws_lc_rs::aead::LessSafeKey);

impl Candidate for AwsLc {
    fn seal(&self, buf: &mut [u8]) -> [u8; 16] {
        let n = aws_lc_rs::aead::Nonce::assume_unique_for_key(NONCE);
        let t = self
            .0
            .seal_in_place_separate_tag(n, aws_lc_rs::aead::Aad::from(AAD), buf)
            .expect("seal");
        t.as_ref().try_into().expect("16-byte tag")
    }
    fn open(&self, buf: &mut [u8], tag: &[u8; 16]) -> bool {
        let n = aws_lc_rs::aead::Nonce::assume_unique_for_key(NONCE);
        self.0
            .open_in_place_separate_tag(n, aws_lc_rs::aead::Aad::from(AAD), tag, buf)
            .is_ok()
    }
}

fn candidates() -> Vec<(&'static str, Box<dyn Candidate>)> {
    use aes_gcm::aead::KeyInit;
    let ring_key =
        |alg| ring::aead::LessSafeKey::new(ring::aead::UnboundKey::new(alg, &KEY).expect("key"));
    let aws_key = |alg| {
        aws_lc_rs::aead::LessSafeKey::new(aws_lc_rs::aead::UnboundKey::new(alg, &KEY).expect("key"))
    };
    vec![
        (
            "rustcrypto_aes256gcm",
            Box::new(RustCrypto(aes_gcm::Aes256Gcm::new((&KEY).into()))),
        ),
        (
            "rustcrypto_chacha20poly1305",
            Box::new(RustCrypto(chacha20poly1305::ChaCha20Poly1305::new(
                (&KEY).into(),
            ))),
        ),
        (
            "ring_aes256gcm",
            Box::new(Ring(ring_key(&ring::aead::AES_256_GCM))),
        ),
        (
            "ring_chacha20poly1305",
            Box::new(Ring(ring_key(&ring::aead::CHACHA20_POLY1305))),
        ),
        (
            "awslc_aes256gcm",
            Box::new(AwsLc(aws_key(&aws_lc_rs::aead::AES_256_GCM))),
        ),
        (
            "awslc_chacha20poly1305",
            Box::new(AwsLc(aws_key(&aws_lc_rs::aead::CHACHA20_POLY1305))),
        ),
    ]
}

fn aead(c: &mut Criterion) {
    let all = candidates();
    // Every candidate opens what it sealed (and refuses a flipped bit)
    // before it is timed.
    for (name, k) in &all {
        let mut buf = vec![0x5au8; 100];
        let tag = k.seal(&mut buf);
        assert!(k.open(&mut buf.clone(), &tag), "{name} opens its own");
        buf[0] ^= 1;
        assert!(!k.open(&mut buf, &tag), "{name} refuses a changed byte");
    }
    for len in SIZES {
        let mut g = c.benchmark_group(format!("aead_{len}B"));
        g.throughput(Throughput::Bytes(len as u64));
        for (name, k) in &all {
            let mut buf = vec![0x5au8; len];
            g.bench_function(BenchmarkId::new("seal", name), |b| {
                b.iter(|| k.seal(black_box(&mut buf)))
            });
            let mut sealed = vec![0x5au8; len];
            let tag = k.seal(&mut sealed);
            let mut work = sealed.clone();
            g.bench_function(BenchmarkId::new("open", name), |b| {
                b.iter(|| {
                    work.copy_from_slice(&sealed);
                    assert!(k.open(black_box(&mut work), &tag));
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, aead);
criterion_main!(benches);
