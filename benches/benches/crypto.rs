//! Security costs: the two AEAD candidates on a full-size packet (the
//! choice of `secure::Cipher` rests on this), sealing and opening a data
//! message through a session, signature checks, and a whole handshake.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use common::action::Sealer;
use common::wire::{sealable_data_message, Handshake, HandshakeRepr, MessageType};
use common::{NodeId, Time};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use secure::{Freshness, Identity, Limits, Sessions};
use std::hint::black_box;
use std::sync::Arc;

const LEN: usize = 1400;
const OBU: NodeId = NodeId([2, 0, 0, 0, 0, 1]);
const RSU: NodeId = NodeId([2, 0, 0, 0, 0, 9]);

fn aead(c: &mut Criterion) {
    let mut g = c.benchmark_group("aead_1400B");
    g.throughput(Throughput::Bytes(LEN as u64));
    let key = [7u8; 32];
    let nonce = [0u8; 12];
    let aad = [1u8; 29];
    let mut buf = vec![0x5au8; LEN];
    let chacha = chacha20poly1305::ChaCha20Poly1305::new(&key.into());
    g.bench_function("chacha20poly1305_seal", |b| {
        b.iter(|| {
            chacha
                .encrypt_in_place_detached(&nonce.into(), &aad, black_box(&mut buf))
                .unwrap()
        })
    });
    let gcm = aes_gcm::Aes256Gcm::new(&key.into());
    g.bench_function("aes256gcm_seal", |b| {
        b.iter(|| {
            gcm.encrypt_in_place_detached(&nonce.into(), &aad, black_box(&mut buf))
                .unwrap()
        })
    });
    g.finish();
}

fn parse(m: &common::action::RawMessage) -> HandshakeRepr<'_> {
    HandshakeRepr::parse(m.msg_type, &Handshake::new_checked(&m.body[..]).unwrap()).unwrap()
}

fn pair() -> (Sessions, Sessions, Arc<Identity>) {
    let oid = Arc::new(Identity::from_seed(&[1; 32]));
    let rid = Arc::new(Identity::from_seed(&[2; 32]));
    let mut o = Sessions::new(OBU, oid, Limits::default(), 4);
    let mut r = Sessions::new(RSU, rid.clone(), Limits::default(), 4);
    let init = o.initiate(Time::ZERO, 1, RSU, rid.public()).unwrap();
    let f = Freshness {
        now_us: 1,
        max_age_us: 10,
    };
    let (resp, _) = r.respond(Time::ZERO, f, &parse(&init), |_| true).unwrap();
    o.complete(Time::ZERO, &parse(&resp)).unwrap();
    (o, r, rid)
}

fn message() -> Vec<u8> {
    sealable_data_message(MessageType::DataUp, 16, OBU, RSU, &[0; LEN])
}

fn sessions(c: &mut Criterion) {
    let mut g = c.benchmark_group("session_1400B");
    g.throughput(Throughput::Bytes(LEN as u64));
    let (mut o, mut r, rid) = pair();
    let template = message();
    let mut m = template.clone();
    g.bench_function("seal", |b| {
        b.iter(|| {
            m.copy_from_slice(&template);
            assert!(o.seal(RSU, black_box(&mut m)));
        })
    });
    g.bench_function("seal_and_open", |b| {
        b.iter(|| {
            m.copy_from_slice(&template);
            assert!(o.seal(RSU, &mut m));
            r.open(OBU, black_box(&mut m)).unwrap();
        })
    });
    g.finish();
    let mut g = c.benchmark_group("control");
    let sig = rid.sign(&template);
    let public = rid.public();
    g.bench_function("ed25519_verify", |b| {
        b.iter(|| assert!(public.verify(black_box(&template), &sig)))
    });
    g.bench_function("noise_ik_handshake", |b| b.iter(pair));
    g.finish();
}

criterion_group!(benches, aead, sessions);
criterion_main!(benches);
