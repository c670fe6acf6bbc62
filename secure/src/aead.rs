//! The data path's AEAD: AES-256-GCM or ChaCha20-Poly1305 (negotiated,
//! see [`crate::suite`]), from the assembly of `aws-lc-rs` (AWS-LC) or
//! `ring`, whichever is faster on this CPU, chosen by measurement
//! (`cargo bench -p benches --bench aead`, the end-to-end driver and the
//! 250-daemon lab run; docs/BENCHMARKS.md):
//!
//! - AES-256-GCM on an x86-64 CPU with AVX-512 and VAES: AWS-LC, whose
//!   AVX-512 code seals 1400 bytes in 166 ns against ring's 215 ns.
//! - AES-256-GCM on any other CPU: ring. On x86-64 with VAES and AVX2 but
//!   no AVX-512 (AMD Zen 3/4, Intel client cores) AWS-LC falls back to
//!   its older AVX code: 608 ns against ring's 351 ns; on CPUs without
//!   either, both use the same older AES-NI/ARMv8 code.
//! - ChaCha20-Poly1305: AWS-LC everywhere (the two are within 20 % of
//!   each other, in either order depending on the size).
//!
//! Both implement the same standard constructions (tests below check
//! each against RustCrypto's), so nodes with different backends talk.
//! One key per direction, a 96-bit nonce from the session's counter, the
//! tag kept apart so that the message is sealed and opened where it lies.

use crate::suite::Cipher;
use aws_lc_rs::aead as awslc;
use ring::aead as ringaead;

/// Bytes of the tag.
pub const TAG_LEN: usize = 16;

/// Which library's code runs an [`Aead`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    AwsLc,
    Ring,
}

impl Backend {
    /// The faster library for `cipher` on the CPU this runs on, unless
    /// the process prefers one ([`prefer_library`]).
    pub fn for_cipher(cipher: Cipher) -> Backend {
        if let Some(b) = preferred_library() {
            return b;
        }
        match cipher {
            Cipher::Aes256Gcm if !aws_lc_has_avx512_aes_gcm() => Backend::Ring,
            _ => Backend::AwsLc,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::AwsLc => "aws-lc",
            Backend::Ring => "ring",
        }
    }

    /// The library [`Backend::name`] names.
    pub fn from_name(name: &str) -> Option<Backend> {
        [Backend::AwsLc, Backend::Ring]
            .into_iter()
            .find(|b| b.name() == name)
    }
}

/// The library every [`Backend::for_cipher`] of this process picks,
/// whatever the CPU: set once, by the daemon from its environment
/// (`V2XD_AEAD_LIBRARY`, for comparisons and a way round a library
/// problem without a rebuild; docs/OPERATIONS.md), before any session.
static PREFERRED: std::sync::OnceLock<Backend> = std::sync::OnceLock::new();

/// Makes every later [`Backend::for_cipher`] pick `b`. False if a
/// library was preferred already (the first stands).
pub fn prefer_library(b: Backend) -> bool {
    PREFERRED.set(b).is_ok()
}

/// The library preferred with [`prefer_library`], if any.
pub fn preferred_library() -> Option<Backend> {
    PREFERRED.get().copied()
}

/// Whether AWS-LC's AVX-512 AES-GCM code runs here: it needs AVX-512
/// (F, BW, VL), VAES and VPCLMULQDQ.
fn aws_lc_has_avx512_aes_gcm() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("vaes")
            && std::is_x86_feature_detected!("vpclmulqdq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// One direction's key.
pub struct Aead {
    key: Key,
}

enum Key {
    AwsLc(awslc::LessSafeKey),
    /// Boxed: `ring` keeps its expanded key and GHASH table inline (544
    /// bytes), AWS-LC behind a pointer already.
    Ring(Box<ringaead::LessSafeKey>),
}

impl Aead {
    /// A key on the faster backend for `cipher` here.
    pub fn new(cipher: Cipher, key: &[u8; 32]) -> Aead {
        Aead::with_backend(cipher, key, Backend::for_cipher(cipher))
    }

    /// A key on a given backend (tests and benchmarks compare them).
    pub fn with_backend(cipher: Cipher, key: &[u8; 32], backend: Backend) -> Aead {
        // Both ciphers take any 32-byte key in both libraries.
        const VALID: &str = "a 32-byte key is valid for both ciphers";
        let key = match backend {
            Backend::AwsLc => {
                let alg = match cipher {
                    Cipher::Aes256Gcm => &awslc::AES_256_GCM,
                    Cipher::ChaCha20Poly1305 => &awslc::CHACHA20_POLY1305,
                };
                let unbound = awslc::UnboundKey::new(alg, key).expect(VALID);
                Key::AwsLc(awslc::LessSafeKey::new(unbound))
            }
            Backend::Ring => {
                let alg = match cipher {
                    Cipher::Aes256Gcm => &ringaead::AES_256_GCM,
                    Cipher::ChaCha20Poly1305 => &ringaead::CHACHA20_POLY1305,
                };
                let unbound = ringaead::UnboundKey::new(alg, key).expect(VALID);
                Key::Ring(Box::new(ringaead::LessSafeKey::new(unbound)))
            }
        };
        Aead { key }
    }

    /// The library this key runs on.
    pub fn backend(&self) -> Backend {
        match self.key {
            Key::AwsLc(_) => Backend::AwsLc,
            Key::Ring(_) => Backend::Ring,
        }
    }

    /// Encrypts `text` in place; returns the tag. `None` only if the
    /// library refuses (a text longer than GCM allows).
    pub fn seal(&self, nonce: [u8; 12], aad: &[u8], text: &mut [u8]) -> Option<[u8; TAG_LEN]> {
        match &self.key {
            Key::AwsLc(k) => {
                let n = awslc::Nonce::assume_unique_for_key(nonce);
                let tag = k
                    .seal_in_place_separate_tag(n, awslc::Aad::from(aad), text)
                    .ok()?;
                tag.as_ref().try_into().ok()
            }
            Key::Ring(k) => {
                let n = ringaead::Nonce::assume_unique_for_key(nonce);
                let tag = k
                    .seal_in_place_separate_tag(n, ringaead::Aad::from(aad), text)
                    .ok()?;
                tag.as_ref().try_into().ok()
            }
        }
    }

    /// Decrypts `text` in place if `tag` authenticates it with `aad`;
    /// false (and `text` unspecified) otherwise.
    pub fn open(&self, nonce: [u8; 12], aad: &[u8], text: &mut [u8], tag: &[u8]) -> bool {
        match &self.key {
            Key::AwsLc(k) => {
                let n = awslc::Nonce::assume_unique_for_key(nonce);
                k.open_in_place_separate_tag(n, awslc::Aad::from(aad), tag, text)
                    .is_ok()
            }
            Key::Ring(k) => {
                let Ok(tag) = ringaead::Tag::try_from(tag) else {
                    return false;
                };
                let n = ringaead::Nonce::assume_unique_for_key(nonce);
                k.open_in_place_separate_tag(n, ringaead::Aad::from(aad), tag, text, 0..)
                    .is_ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_pair() -> impl Iterator<Item = (Cipher, Backend)> {
        Cipher::ALL
            .into_iter()
            .flat_map(|c| [(c, Backend::AwsLc), (c, Backend::Ring)])
    }

    #[test]
    fn a_library_is_found_by_its_name() {
        assert_eq!(Backend::from_name("ring"), Some(Backend::Ring));
        assert_eq!(Backend::from_name("aws-lc"), Some(Backend::AwsLc));
        assert_eq!(Backend::from_name("openssl"), None);
        assert_eq!(Backend::from_name(""), None);
    }

    /// What one library seals the other opens: nodes built for CPUs that
    /// pick different backends talk to each other.
    #[test]
    fn the_backends_open_each_others_messages() {
        for c in Cipher::ALL {
            for (from, to) in [
                (Backend::AwsLc, Backend::Ring),
                (Backend::Ring, Backend::AwsLc),
            ] {
                let mut text = vec![0x5a; 1400];
                let tag = Aead::with_backend(c, &[3; 32], from)
                    .seal([4; 12], b"aad", &mut text)
                    .unwrap();
                assert!(Aead::with_backend(c, &[3; 32], to).open([4; 12], b"aad", &mut text, &tag));
                assert_eq!(text, vec![0x5a; 1400]);
            }
        }
    }

    #[test]
    fn a_tag_of_the_wrong_length_is_refused() {
        for (c, b) in every_pair() {
            let k = Aead::with_backend(c, &[3; 32], b);
            let mut text = vec![1; 64];
            let tag = k.seal([4; 12], b"", &mut text).unwrap();
            assert!(!k.open([4; 12], b"", &mut text, &tag[..15]));
        }
    }

    #[test]
    fn what_is_sealed_opens_and_any_change_is_refused() {
        for (c, b) in every_pair() {
            let k = Aead::with_backend(c, &[9; 32], b);
            let mut text = b"a data message".to_vec();
            let tag = k.seal([1; 12], b"header", &mut text).unwrap();
            assert_ne!(&text[..], b"a data message");
            let sealed = text.clone();
            assert!(k.open([1; 12], b"header", &mut text, &tag));
            assert_eq!(&text[..], b"a data message");
            for (nonce, aad, flip_text, flip_tag) in [
                ([2; 12], &b"header"[..], false, false),
                ([1; 12], &b"headeR"[..], false, false),
                ([1; 12], &b"header"[..], true, false),
                ([1; 12], &b"header"[..], false, true),
            ] {
                let (mut t, mut g) = (sealed.clone(), tag);
                if flip_text {
                    t[0] ^= 1;
                }
                if flip_tag {
                    g[15] ^= 1;
                }
                assert!(!k.open(nonce, aad, &mut t, &g));
            }
            // Another key does not open it.
            let mut t = sealed.clone();
            assert!(!Aead::with_backend(c, &[8; 32], b).open([1; 12], b"header", &mut t, &tag));
            // Nor does the other cipher with the same key.
            let mut t = sealed.clone();
            let other = Cipher::ALL.into_iter().find(|o| *o != c).unwrap();
            assert!(!Aead::with_backend(other, &[9; 32], b).open([1; 12], b"header", &mut t, &tag));
        }
    }

    /// The same construction as before (AES-256-GCM, same nonce and AAD),
    /// so the wire does not change: RustCrypto's implementation opens what
    /// this one seals.
    #[test]
    fn the_wire_is_standard_aes_256_gcm() {
        use aes_gcm::aead::{AeadInPlace, KeyInit};
        for b in [Backend::AwsLc, Backend::Ring] {
            let k = Aead::with_backend(Cipher::Aes256Gcm, &[5; 32], b);
            let mut text = vec![0x42u8; 1400];
            let tag = k.seal([7; 12], b"aad", &mut text).unwrap();
            let other = aes_gcm::Aes256Gcm::new((&[5u8; 32]).into());
            other
                .decrypt_in_place_detached((&[7u8; 12]).into(), b"aad", &mut text, (&tag).into())
                .expect("standard AES-256-GCM");
            assert_eq!(text, vec![0x42u8; 1400]);
            // And ChaCha20-Poly1305 is RFC 8439's, as RustCrypto implements it.
            let k = Aead::with_backend(Cipher::ChaCha20Poly1305, &[5; 32], b);
            let tag = k.seal([7; 12], b"aad", &mut text).unwrap();
            chacha20poly1305::ChaCha20Poly1305::new((&[5u8; 32]).into())
                .decrypt_in_place_detached((&[7u8; 12]).into(), b"aad", &mut text, (&tag).into())
                .expect("standard ChaCha20-Poly1305");
            assert_eq!(text, vec![0x42u8; 1400]);
        }
    }
}
