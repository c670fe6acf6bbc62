//! Handshakes and sealed data between an initiator and a responder, on
//! simulated time.

use common::action::{RawMessage, Sealer};
use common::wire::{sealable_data_message, Handshake, HandshakeRepr, MessageType};
use common::{NodeId, Time};
use secure::suite::{Cipher, CipherSetting, Suite};
use secure::Error;
use secure::{Freshness, Identity, Limits, Sessions};
use std::sync::Arc;
use std::time::Duration;

const OBU: NodeId = NodeId([2, 0, 0, 0, 0, 1]);
const RSU: NodeId = NodeId([2, 0, 0, 0, 0, 9]);
const WALL: u64 = 1_800_000_000_000_000;

fn fresh(now: Time) -> Freshness {
    Freshness {
        now_us: WALL + now.0,
        max_age_us: 5_000_000,
    }
}

fn parse(m: &RawMessage) -> HandshakeRepr<'_> {
    HandshakeRepr::parse(m.msg_type, &Handshake::new_checked(&m.body[..]).unwrap()).unwrap()
}

struct Pair {
    obu: Sessions,
    rsu: Sessions,
    obu_id: Arc<Identity>,
    rsu_id: Arc<Identity>,
}

fn pair(limits: Limits) -> Pair {
    let obu_id = Arc::new(Identity::from_seed(&[1; 32]));
    let rsu_id = Arc::new(Identity::from_seed(&[2; 32]));
    Pair {
        obu: Sessions::new(OBU, obu_id.clone(), limits.clone(), 16),
        rsu: Sessions::new(RSU, rsu_id.clone(), limits, 16),
        obu_id,
        rsu_id,
    }
}

impl Pair {
    fn handshake(&mut self, now: Time) -> Result<(), Error> {
        let init = self
            .obu
            .initiate(now, WALL + now.0, RSU, self.rsu_id.public())
            .unwrap();
        let want = self.obu_id.public();
        let a = self
            .rsu
            .respond(now, fresh(now), &parse(&init), |k| *k == want)?;
        let (resp, key) = (a.msg, a.key);
        assert_eq!(key, want);
        self.obu.complete(now, &parse(&resp)).map(|_| ())
    }
}

/// A whole data message from `origin` to `dest` ready for sealing.
fn message(origin: NodeId, dest: NodeId, text: &[u8]) -> Vec<u8> {
    sealable_data_message(MessageType::DataUp, 16, origin, dest, text)
}

#[test]
fn handshake_then_data_both_ways() {
    let mut p = pair(Limits::default());
    assert!(
        !p.obu.seal(RSU, &mut message(OBU, RSU, b"x")),
        "no session yet"
    );
    p.handshake(Time::ZERO).unwrap();
    let mut m = message(OBU, RSU, b"hello rsu");
    assert!(p.obu.seal(RSU, &mut m));
    assert!(
        !m.windows(9).any(|w| w == b"hello rsu"),
        "plaintext visible"
    );
    let r = p.rsu.open(OBU, &mut m).unwrap();
    assert_eq!(&m[r], b"hello rsu");
    // The RSU's session is confirmed now; it can answer.
    let mut back = message(RSU, OBU, b"hello obu");
    assert!(p.rsu.seal(OBU, &mut back));
    let r = p.obu.open(RSU, &mut back).unwrap();
    assert_eq!(&back[r], b"hello obu");
}

#[test]
fn responder_with_no_other_session_uses_the_unconfirmed_one() {
    let mut p = pair(Limits::default());
    p.handshake(Time::ZERO).unwrap();
    let mut m = message(RSU, OBU, b"early");
    assert!(p.rsu.seal(OBU, &mut m));
    let r = p.obu.open(RSU, &mut m).unwrap();
    assert_eq!(&m[r], b"early");
}

#[test]
fn lost_confirmation_does_not_strand_the_responder() {
    let mut p = pair(Limits::default());
    p.handshake(Time::ZERO).unwrap();
    let mut m = message(OBU, RSU, b"confirm");
    assert!(p.obu.seal(RSU, &mut m));
    assert!(p.rsu.open(OBU, &mut m).is_ok());
    // Rekey; the initiator's confirmation of the new session is lost.
    let t = Time::ZERO + Duration::from_secs(120);
    p.handshake(t).unwrap();
    // The responder keeps the old session while it lasts...
    let mut down = message(RSU, OBU, b"old session");
    assert!(p.rsu.seal(OBU, &mut down));
    assert!(p.obu.open(RSU, &mut down).is_ok());
    // ...and moves to the new one when the old one ends.
    let later = Time::ZERO + Duration::from_secs(181);
    p.rsu.expire(later);
    p.obu.expire(later);
    let mut down = message(RSU, OBU, b"new session");
    assert!(p.rsu.seal(OBU, &mut down));
    let r = p
        .obu
        .open(RSU, &mut down)
        .expect("opens on the initiator's current session");
    assert_eq!(&down[r], b"new session");
}

#[test]
fn replayed_flipped_and_misattributed_messages_are_refused() {
    let mut p = pair(Limits::default());
    p.handshake(Time::ZERO).unwrap();
    let mut m = message(OBU, RSU, b"payload");
    assert!(p.obu.seal(RSU, &mut m));
    let copy = m.clone();
    assert!(p.rsu.open(OBU, &mut m).is_ok());
    // A copy right after: inside the window (what a sender repeating on a
    // weak link makes), dropped all the same.
    assert_eq!(p.rsu.open(OBU, &mut copy.clone()), Err(Error::Copy));
    // Every single bit flipped outside the TTL byte is detected.
    let mut m2 = message(OBU, RSU, b"another payload");
    assert!(p.obu.seal(RSU, &mut m2));
    for bit in 0..m2.len() * 8 {
        if bit / 8 == 3 {
            continue; // TTL: changed by relays, not covered
        }
        let mut f = m2.clone();
        f[bit / 8] ^= 1 << (bit % 8);
        assert!(p.rsu.open(OBU, &mut f).is_err(), "bit {bit} flip accepted");
    }
    // TTL changes are fine, and the original still opens once.
    let mut ttl = m2.clone();
    ttl[3] = 1;
    assert!(p.rsu.open(OBU, &mut ttl).is_ok());
    // Claiming another origin for a valid session index fails.
    let mut m3 = message(OBU, RSU, b"z");
    assert!(p.obu.seal(RSU, &mut m3));
    assert_eq!(
        p.rsu.open(NodeId([2, 0, 0, 0, 0, 7]), &mut m3),
        Err(Error::NoSession)
    );
}

#[test]
fn reordered_messages_inside_the_window_open_once() {
    let mut p = pair(Limits::default());
    p.handshake(Time::ZERO).unwrap();
    let mut msgs: Vec<Vec<u8>> = (0..100u8)
        .map(|i| {
            let mut m = message(OBU, RSU, &[i; 20]);
            assert!(p.obu.seal(RSU, &mut m));
            m
        })
        .collect();
    msgs.reverse();
    for m in &mut msgs {
        assert!(p.rsu.open(OBU, m).is_ok());
    }
    for m in &mut msgs {
        assert_eq!(p.rsu.open(OBU, m), Err(Error::Copy));
    }
}

#[test]
fn untrusted_initiator_and_replayed_init_are_refused() {
    let mut p = pair(Limits::default());
    let init = p
        .obu
        .initiate(Time::ZERO, WALL, RSU, p.rsu_id.public())
        .unwrap();
    assert_eq!(
        p.rsu
            .respond(Time::ZERO, fresh(Time::ZERO), &parse(&init), |_| false)
            .err(),
        Some(Error::AuthFailed)
    );
    // Accepted once...
    assert!(p
        .rsu
        .respond(Time::ZERO, fresh(Time::ZERO), &parse(&init), |_| true)
        .is_ok());
    // ...a second time it is a replay (timestamp not newer).
    assert_eq!(
        p.rsu
            .respond(Time::ZERO, fresh(Time::ZERO), &parse(&init), |_| true)
            .err(),
        Some(Error::Replayed)
    );
    // An init for an impostor RSU key does not decrypt at the real RSU.
    let other = Identity::from_seed(&[3; 32]);
    let init = p
        .obu
        .initiate(Time::ZERO, WALL + 1, RSU, other.public())
        .unwrap();
    assert_eq!(
        p.rsu
            .respond(Time::ZERO, fresh(Time::ZERO), &parse(&init), |_| true)
            .err(),
        Some(Error::AuthFailed)
    );
    // A stale init (old wall clock) is refused.
    let init = p
        .obu
        .initiate(Time::ZERO, WALL - 60_000_000, RSU, p.rsu_id.public())
        .unwrap();
    let mut q = pair(Limits::default());
    assert_eq!(
        q.rsu
            .respond(Time::ZERO, fresh(Time::ZERO), &parse(&init), |_| true)
            .err(),
        Some(Error::Replayed)
    );
}

#[test]
fn rekey_keeps_traffic_flowing_both_ways() {
    let limits = Limits {
        rekey_after_messages: 50,
        ..Limits::default()
    };
    let mut p = pair(limits);
    let mut now = Time::ZERO;
    p.handshake(now).unwrap();
    let mut delivered = 0;
    let mut handshakes = 1;
    for i in 0..1000u32 {
        now = now + Duration::from_millis(1);
        if p.obu.needs_handshake(now, &RSU) {
            // Messages sealed before the rekey, delivered after it.
            let mut late = message(OBU, RSU, b"in flight");
            assert!(p.obu.seal(RSU, &mut late));
            let mut late_down = message(RSU, OBU, b"in flight down");
            assert!(p.rsu.seal(OBU, &mut late_down));
            p.handshake(now).unwrap();
            handshakes += 1;
            assert!(
                p.rsu.open(OBU, &mut late).is_ok(),
                "old session still opens"
            );
            assert!(p.obu.open(RSU, &mut late_down).is_ok());
        }
        let mut up = message(OBU, RSU, &i.to_be_bytes());
        assert!(p.obu.seal(RSU, &mut up), "seal up {i}");
        let r = p.rsu.open(OBU, &mut up).expect("open up");
        assert_eq!(&up[r], &i.to_be_bytes());
        let mut down = message(RSU, OBU, &i.to_be_bytes());
        assert!(p.rsu.seal(OBU, &mut down), "seal down {i}");
        assert!(p.obu.open(RSU, &mut down).is_ok());
        delivered += 1;
    }
    assert_eq!(delivered, 1000);
    assert!(handshakes >= 1000 / 50, "rekeyed {handshakes} times");
    assert!(p.obu.len() <= 1 && p.rsu.len() <= 1);
}

#[test]
fn sessions_expire_by_age() {
    let mut p = pair(Limits::default());
    p.handshake(Time::ZERO).unwrap();
    let later = Time::ZERO + Duration::from_secs(181);
    assert!(p.obu.needs_handshake(later, &RSU));
    p.obu.expire(later);
    p.rsu.expire(later);
    assert!(p.obu.is_empty() && p.rsu.is_empty());
    assert!(!p.obu.seal(RSU, &mut message(OBU, RSU, b"x")));
}

#[test]
fn tampered_indices_in_the_clear_do_not_break_the_session() {
    let mut p = pair(Limits::default());
    let init = p
        .obu
        .initiate(Time::ZERO, WALL, RSU, p.rsu_id.public())
        .unwrap();
    let mut init_t = init.clone();
    init_t.body[12..16].copy_from_slice(&0xdead_beefu32.to_be_bytes());
    let want = p.obu_id.public();
    let resp = p
        .rsu
        .respond(Time::ZERO, fresh(Time::ZERO), &parse(&init_t), |k| {
            *k == want
        })
        .unwrap()
        .msg;
    let mut resp_t = resp.clone();
    resp_t.body[12..16].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    p.obu.complete(Time::ZERO, &parse(&resp_t)).unwrap();
    // The indices that count came inside the authenticated payloads.
    let mut up = message(OBU, RSU, b"still works");
    assert!(p.obu.seal(RSU, &mut up));
    assert!(p.rsu.open(OBU, &mut up).is_ok());
    let mut down = message(RSU, OBU, b"both ways");
    assert!(p.rsu.seal(OBU, &mut down));
    assert_eq!(p.obu.open(RSU, &mut down).map(|_| ()), Ok(()));
}

fn suite(cipher: &str, post_quantum: bool, cpu_prefers: Cipher) -> Suite {
    Suite {
        cipher: CipherSetting::parse(cipher).unwrap(),
        post_quantum,
        cpu_prefers,
    }
}

/// Seals up and down on the current sessions and opens at the other end.
fn data_both_ways(p: &mut Pair) {
    let mut up = message(OBU, RSU, b"up the road");
    assert!(p.obu.seal(RSU, &mut up));
    let r = p.rsu.open(OBU, &mut up).unwrap();
    assert_eq!(&up[r], b"up the road");
    let mut down = message(RSU, OBU, b"down the road");
    assert!(p.rsu.seal(OBU, &mut down));
    let r = p.obu.open(RSU, &mut down).unwrap();
    assert_eq!(&down[r], b"down the road");
}

#[test]
fn each_cipher_and_post_quantum_carry_data_and_are_what_was_agreed() {
    use Cipher::*;
    for (obu, rsu, want) in [
        (
            suite("auto", false, Aes256Gcm),
            suite("auto", false, Aes256Gcm),
            Aes256Gcm,
        ),
        (
            suite("auto", false, ChaCha20Poly1305),
            suite("auto", false, Aes256Gcm),
            ChaCha20Poly1305,
        ),
        (
            suite("aes-256-gcm", false, Aes256Gcm),
            suite("auto", false, ChaCha20Poly1305),
            Aes256Gcm,
        ),
        (
            suite("auto", true, Aes256Gcm),
            suite("chacha20-poly1305", true, Aes256Gcm),
            ChaCha20Poly1305,
        ),
        (
            suite("aes-256-gcm", true, Aes256Gcm),
            suite("aes-256-gcm", true, Aes256Gcm),
            Aes256Gcm,
        ),
    ] {
        let mut p = pair(Limits::default());
        p.obu.set_suite(obu);
        p.rsu.set_suite(rsu);
        p.handshake(Time::ZERO).unwrap();
        let pq = obu.post_quantum;
        assert_eq!(
            p.obu.session_suite(&RSU),
            Some((want, pq)),
            "{obu:?} {rsu:?}"
        );
        assert_eq!(
            p.rsu.session_suite(&OBU),
            Some((want, pq)),
            "{obu:?} {rsu:?}"
        );
        data_both_ways(&mut p);
    }
}

#[test]
fn post_quantum_handshakes_are_larger_and_still_fit_a_frame() {
    let mut p = pair(Limits::default());
    let init = p
        .obu
        .initiate(Time::ZERO, WALL, RSU, p.rsu_id.public())
        .unwrap();
    let plain_len = init.body.len();
    let mut q = pair(Limits::default());
    q.obu.set_suite(suite("auto", true, Cipher::Aes256Gcm));
    q.rsu.set_suite(suite("auto", true, Cipher::Aes256Gcm));
    let init = q
        .obu
        .initiate(Time::ZERO, WALL, RSU, q.rsu_id.public())
        .unwrap();
    assert_eq!(init.body.len(), plain_len + secure::hybrid::EK_LEN);
    assert_eq!(
        init.body.len(),
        20 + secure::peers::POST_QUANTUM_INIT_NOISE_LEN
    );
    // The handshake body's fixed part (ids and indices) is 20 bytes.
    assert!(init.body.len() <= 20 + common::wire::MAX_NOISE_LEN);
    let want = q.obu_id.public();
    let a = q
        .rsu
        .respond(Time::ZERO, fresh(Time::ZERO), &parse(&init), |k| *k == want)
        .unwrap();
    assert!(a.refused.is_none());
    assert!(a.msg.body.len() > secure::hybrid::CT_LEN);
    q.obu.complete(Time::ZERO, &parse(&a.msg)).unwrap();
    data_both_ways(&mut q);
}

/// Every mismatch is refused by the responder, which says so, and its
/// refusal reaches the initiator, which says so too; neither makes a
/// session, and the initiator waits before it tries again.
#[test]
fn mismatched_settings_are_refused_at_both_ends_with_the_reason() {
    use Cipher::*;
    for (obu, rsu, words) in [
        (
            suite("aes-256-gcm", false, Aes256Gcm),
            suite("chacha20-poly1305", false, Aes256Gcm),
            "no cipher in common",
        ),
        (
            suite("chacha20-poly1305", true, Aes256Gcm),
            suite("aes-256-gcm", true, Aes256Gcm),
            "no cipher in common",
        ),
        (
            suite("auto", true, Aes256Gcm),
            suite("auto", false, Aes256Gcm),
            "post_quantum is on at the initiator (OBU) and off",
        ),
        (
            suite("auto", false, Aes256Gcm),
            suite("auto", true, Aes256Gcm),
            "post_quantum is off at the initiator (OBU) and on",
        ),
    ] {
        let mut p = pair(Limits::default());
        p.obu.set_suite(obu);
        p.rsu.set_suite(rsu);
        let init = p
            .obu
            .initiate(Time::ZERO, WALL, RSU, p.rsu_id.public())
            .unwrap();
        let a = p
            .rsu
            .respond(Time::ZERO, fresh(Time::ZERO), &parse(&init), |_| true)
            .unwrap();
        let at_rsu = a.refused.expect("refused").to_string();
        assert!(at_rsu.contains(words), "{at_rsu}");
        assert!(!p.rsu.has_session(&OBU));
        let err = p.obu.complete(Time::ZERO, &parse(&a.msg)).unwrap_err();
        let Error::Incompatible(m) = err else {
            panic!("{err:?}")
        };
        assert_eq!(m.to_string(), at_rsu, "both ends tell the same story");
        assert!(err.to_string().starts_with("session refused: "));
        assert!(!p.obu.has_session(&RSU));
        assert!(
            !p.obu.needs_handshake(Time::from_millis(5000), &RSU),
            "backs off"
        );
        p.obu.expire(Time::from_millis(5000));
        assert!(
            !p.obu.needs_handshake(Time::from_millis(5000), &RSU),
            "remembered"
        );
        assert!(
            p.obu.needs_handshake(Time::from_millis(10_000), &RSU),
            "tries again"
        );
        // Once the settings agree, the next try works.
        p.obu.set_suite(rsu);
        p.handshake(Time::from_millis(10_000)).unwrap();
        data_both_ways(&mut p);
    }
}

/// A peer that never answers: the initiator retries after about 1, 2, 4
/// and 8 s (with jitter), not every second; a path that keeps changing
/// (each change abandons the handshake in flight) gets at most one new
/// handshake per quarter of the current backoff; an answer resets it.
#[test]
fn unanswered_handshakes_back_off_and_flapping_cannot_speed_them_up() {
    let mut p = pair(Limits::default());
    let key = p.rsu_id.public();
    let mut sent = Vec::new();
    let mut t = Time::ZERO;
    while t < Time::from_millis(20_000) {
        if p.obu.needs_handshake(t, &RSU) {
            p.obu.initiate(t, WALL + t.0, RSU, key).unwrap();
            sent.push(t.0 / 1000);
        }
        t = t + Duration::from_millis(10);
    }
    assert!((4..=6).contains(&sent.len()), "{sent:?}");
    let gaps: Vec<u64> = sent.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.windows(2).all(|g| g[1] >= g[0] || g[1] >= 5_000),
        "{gaps:?}"
    );
    assert!(gaps.last().unwrap() >= &5_000, "{gaps:?}");
    // Flapping: abandon after every 10 ms.
    let mut q = pair(Limits::default());
    let mut flap = 0;
    let mut t = Time::ZERO;
    while t < Time::from_millis(4_000) {
        if q.obu.needs_handshake(t, &RSU) {
            q.obu.initiate(t, WALL + t.0, RSU, key).unwrap();
            flap += 1;
        }
        q.obu.abandon_pending(&RSU);
        t = t + Duration::from_millis(10);
    }
    assert!(flap <= 8, "{flap} handshakes in 4 s of flapping");
    assert!(q.obu.attempts(&RSU) == flap);
}
