//! Security costs: the two AEAD candidates on a full-size packet (the
//! choice of `secure::Cipher` rests on this), sealing and opening a data
//! message through a session, signature checks, and a whole handshake.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use common::action::Sealer;
use common::wire::{sealable_data_message, Handshake, HandshakeRepr, MessageType};
use common::{NodeId, Time};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use secure::{Cipher, CipherSetting, Freshness, Identity, Limits, Sessions, Suite};
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
    pair_with(Suite::default())
}

/// A whole handshake with these settings on both ends.
fn pair_with(suite: Suite) -> (Sessions, Sessions, Arc<Identity>) {
    let oid = Arc::new(Identity::from_seed(&[1; 32]));
    let rid = Arc::new(Identity::from_seed(&[2; 32]));
    let mut o = Sessions::new(OBU, oid, Limits::default(), 4);
    let mut r = Sessions::new(RSU, rid.clone(), Limits::default(), 4);
    o.set_suite(suite);
    r.set_suite(suite);
    let init = o.initiate(Time::ZERO, 1, RSU, rid.public()).unwrap();
    let f = Freshness {
        now_us: 1,
        max_age_us: 10,
    };
    let resp = r
        .respond(Time::ZERO, f, &parse(&init), |_| true)
        .unwrap()
        .msg;
    o.complete(Time::ZERO, &parse(&resp)).unwrap();
    (o, r, rid)
}

fn message() -> Vec<u8> {
    sealable_data_message(MessageType::DataUp, 16, OBU, RSU, &[0; LEN])
}

fn sessions(c: &mut Criterion) {
    let mut g = c.benchmark_group("session_1400B");
    g.throughput(Throughput::Bytes(LEN as u64));
    for cipher in Cipher::ALL {
        let (mut o, mut r, _) = pair_with(Suite {
            cipher: CipherSetting::Only(cipher),
            ..Suite::default()
        });
        let template = message();
        let mut m = template.clone();
        g.bench_function(format!("seal_and_open_{cipher}"), |b| {
            b.iter(|| {
                m.copy_from_slice(&template);
                assert!(o.seal(RSU, &mut m));
                r.open(OBU, black_box(&mut m)).unwrap();
            })
        });
    }
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
    g.bench_function("noise_ik_handshake_post_quantum", |b| {
        b.iter(|| {
            pair_with(Suite {
                post_quantum: true,
                ..Suite::default()
            })
        })
    });
    g.finish();
}

/// A 200-byte broadcast packet (a CAM-sized safety message) from `origin`,
/// signed by `key` under `cert`, as a whole frame with sequence `seq`.
fn signed_broadcast(
    origin: NodeId,
    key: &Identity,
    cert: &common::wire::CertRepr,
    seq: u32,
    wall_us: u64,
) -> Vec<u8> {
    use common::wire::{BroadcastRepr, BROADCAST_OVERHEAD, HEADER_LEN};
    let fixed = BROADCAST_OVERHEAD - HEADER_LEN;
    let mut body = vec![0x45u8; fixed + 200];
    BroadcastRepr::emit_fixed(origin, seq, &mut body);
    let raw = secure::cert::sign_certified(
        key,
        cert,
        MessageType::Broadcast,
        &body,
        wall_us,
        &mut Vec::new(),
    );
    let msg = common::action::Control::Raw(Box::new(raw));
    let mut f = vec![0xffu8; 6];
    f.extend_from_slice(origin.as_bytes());
    f.extend_from_slice(&common::wire::DEFAULT_ETHERTYPE.to_be_bytes());
    let at = f.len();
    f.resize(at + msg.wire_len(), 0);
    msg.emit(1, &mut f[at..]);
    f
}

/// Signed broadcast (secure modes): the origin's signing cost, a
/// receiver's check with the sender's certificate cached and not, and the
/// whole receive path of an OBU (checks, de-duplication, delivery).
fn broadcast(c: &mut Criterion) {
    use common::wire::{Messages, ETH_HEADER_LEN};
    let rsu = sim::rsu_fleet_key();
    let obu = Identity::from_seed(&[7; 32]);
    // Not a node of the simulated cell below.
    const OBU: NodeId = NodeId([2, 0, 0, 0, 0, 0x55]);
    let wall = sim::WALL_AT_ZERO_US;
    let cert = secure::cert::issue(&rsu, OBU, &obu.public(), wall, 600_000_000, 0);
    let frame = signed_broadcast(OBU, &obu, &cert, 1, wall);
    let fresh = Freshness {
        now_us: wall,
        max_age_us: 5_000_000,
    };
    let trusted = |k: &secure::PublicKey| *k == rsu.public();
    let mut g = c.benchmark_group("broadcast_200B");
    g.throughput(Throughput::Elements(1));
    let mut seq = 1u32;
    g.bench_function("sign", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            signed_broadcast(OBU, &obu, &cert, black_box(seq), wall)
        })
    });
    let m = Messages::new(&frame[ETH_HEADER_LEN..])
        .next()
        .unwrap()
        .unwrap();
    let mut cache = secure::cert::CertCache::default();
    let mut scratch = Vec::new();
    g.bench_function("verify_cert_cached", |b| {
        b.iter(|| {
            secure::cert::verify_certified(
                black_box(m.raw),
                m.trailer,
                trusted,
                fresh,
                &mut cache,
                &mut scratch,
            )
            .unwrap()
        })
    });
    g.bench_function("verify_cert_uncached", |b| {
        b.iter(|| {
            let mut cold = secure::cert::CertCache::default();
            secure::cert::verify_certified(
                black_box(m.raw),
                m.trailer,
                trusted,
                fresh,
                &mut cold,
                &mut scratch,
            )
            .unwrap()
        })
    });
    // The whole path in an OBU of an authenticated cell (mode off beside
    // it): each frame a new sequence number, signed outside the timing.
    for mode in [
        node_lib::config::SecurityMode::Off,
        node_lib::config::SecurityMode::Authenticated,
    ] {
        let mut s = sim::Sim::new(node_lib::config::RoutingConfig::default());
        if mode != node_lib::config::SecurityMode::Off {
            s = s.with_security(mode);
        }
        let r = s.add_rsu();
        let o = s.add_obu();
        s.link(r, o);
        s.run_for(std::time::Duration::from_secs(2));
        // Each frame 1 ms after the last (signed then, received then): a
        // steady 1000 a second from one sender, under the check budget
        // (`protocol::ratelimit::BROADCAST_CHECKS_*`), so every one is
        // checked in full.
        let start = s.now;
        let wall_now = wall + start.0;
        let cert = secure::cert::issue(&rsu, OBU, &obu.public(), wall_now, 1 << 40, 0);
        let mut seq = 10u32;
        let mut received = 0u64;
        let name = format!("obu_receive_{mode:?}").to_lowercase();
        g.bench_function(&name, |b| {
            b.iter_batched(
                || {
                    seq = seq.wrapping_add(1);
                    let ms = u64::from(seq - 10);
                    let mut f = signed_broadcast(OBU, &obu, &cert, seq, wall_now + ms * 1000);
                    if mode == node_lib::config::SecurityMode::Off {
                        // The same message unsigned: flag cleared, trailer cut.
                        let t = common::wire::auth::CERT_AUTH_LEN;
                        let n = f.len() - t;
                        f.truncate(n);
                        let body = (n - ETH_HEADER_LEN - common::wire::HEADER_LEN) as u16;
                        f[ETH_HEADER_LEN + 2] = 0;
                        f[ETH_HEADER_LEN + 4..ETH_HEADER_LEN + 6]
                            .copy_from_slice(&body.to_be_bytes());
                    }
                    (f, ms)
                },
                |(f, ms)| {
                    s.now = start + std::time::Duration::from_millis(ms);
                    s.inject_frame(o, &f);
                    s.nodes[o].tun_out.clear();
                    received += 1;
                },
                criterion::BatchSize::SmallInput,
            )
        });
        let verified = s.nodes[o]
            .counters
            .broadcasts_verified
            .load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            mode == node_lib::config::SecurityMode::Off || verified == received,
            "only {verified} of the benchmark's {received} broadcasts were checked in full"
        );
    }
    g.finish();
}

criterion_group!(benches, aead, sessions, broadcast);
criterion_main!(benches);
