//! Signed beacons and replies: round trips, and every way to tamper with
//! them is refused.

use common::ip::IpPrefix;
use common::wire::{AddrList, BeaconReplyRepr, BeaconRepr, Body, HeaderRepr, Messages, HEADER_LEN};
use common::NodeId;
use secure::control::{relay_beacon, sign_beacon, sign_reply, verify_beacon, verify_reply};
use secure::Error;
use secure::VerifyCache;
use secure::{Freshness, Identity};

const NOW: u64 = 1_800_000_000_000_000;
const F: Freshness = Freshness {
    now_us: NOW,
    max_age_us: 2_000_000,
};

fn wire(m: &common::action::RawMessage, ttl: u8) -> Vec<u8> {
    let mut v = vec![0u8; HEADER_LEN + m.body.len()];
    HeaderRepr {
        msg_type: m.msg_type,
        flags: m.flags,
        ttl,
        body_len: m.body.len() as u16,
    }
    .emit(&mut v);
    v[HEADER_LEN..].copy_from_slice(&m.body);
    v
}

fn beacon() -> BeaconRepr {
    BeaconRepr {
        rsu: NodeId([2, 0, 0, 0, 0, 9]),
        seq: 42,
        hops: 0,
        timestamp_us: 1234,
        interval_ms: 100,
        epoch: 7,
        uplink: true,
        preference: 0,
    }
}

#[test]
fn beacons_verify_through_relays_and_tampering_fails() {
    let rsu = Identity::from_seed(&[4; 32]);
    let mut s = Vec::new();
    let m = sign_beacon(&rsu, &beacon(), NOW, &mut s);
    let raw = wire(&m, 1);
    let trusted = |k: &secure::PublicKey| *k == rsu.public();
    let parsed = Messages::new(&raw).next().unwrap().unwrap();
    assert!(matches!(parsed.body, Body::Beacon(b) if b == beacon()));
    assert_eq!(
        verify_beacon(
            parsed.raw,
            parsed.trailer,
            0,
            trusted,
            F,
            &mut VerifyCache::new(),
            &mut s
        )
        .unwrap()
        .key,
        rsu.public()
    );
    // Relayed twice: hop count 2, still valid.
    let r1 = wire(&relay_beacon(&raw, 1).unwrap(), 1);
    let r2 = wire(&relay_beacon(&r1, 2).unwrap(), 1);
    let p2 = Messages::new(&r2).next().unwrap().unwrap();
    assert!(matches!(p2.body, Body::Beacon(b) if b.hops == 2));
    assert!(verify_beacon(
        p2.raw,
        p2.trailer,
        2,
        trusted,
        F,
        &mut VerifyCache::new(),
        &mut s
    )
    .is_ok());
    // Lowering the hop count breaks the chain.
    let mut low = r2.clone();
    low[HEADER_LEN + 10] = 1;
    let pl = Messages::new(&low).next().unwrap().unwrap();
    assert_eq!(
        verify_beacon(
            pl.raw,
            pl.trailer,
            1,
            trusted,
            F,
            &mut VerifyCache::new(),
            &mut s
        ),
        Err(Error::AuthFailed)
    );
    // Untrusted signer.
    assert_eq!(
        verify_beacon(
            parsed.raw,
            parsed.trailer,
            0,
            |_| false,
            F,
            &mut VerifyCache::new(),
            &mut s
        ),
        Err(Error::AuthFailed)
    );
    // Stale.
    let old = Freshness {
        now_us: NOW + 3_000_000,
        ..F
    };
    assert_eq!(
        verify_beacon(
            parsed.raw,
            parsed.trailer,
            0,
            trusted,
            old,
            &mut VerifyCache::new(),
            &mut s
        ),
        Err(Error::Replayed)
    );
    // Any flipped bit in a signed field fails, also with the untampered
    // beacon's success remembered.
    let mut cache = VerifyCache::new();
    if let Some(Ok(p)) = Messages::new(&raw).next() {
        let hops = match p.body {
            Body::Beacon(b) => b.hops,
            _ => 0,
        };
        assert!(verify_beacon(p.raw, p.trailer, hops, trusted, F, &mut cache, &mut s).is_ok());
    }
    for byte in 0..raw.len() {
        if byte == 3 || byte == HEADER_LEN + 10 {
            continue; // TTL and hop count are not signed (the chain guards hops)
        }
        let mut f = raw.clone();
        f[byte] ^= 0x10;
        let ok = match Messages::new(&f).next() {
            Some(Ok(p)) => {
                let hops = match p.body {
                    Body::Beacon(b) => b.hops,
                    _ => 0,
                };
                verify_beacon(p.raw, p.trailer, hops, trusted, F, &mut cache, &mut s).is_ok()
            }
            _ => false,
        };
        assert!(!ok, "flip in byte {byte} accepted");
    }
}

#[test]
fn replies_verify_and_tampering_fails() {
    let obu = Identity::from_seed(&[5; 32]);
    let r = BeaconReplyRepr {
        obu: NodeId([2, 0, 0, 0, 0, 1]),
        rsu: NodeId([2, 0, 0, 0, 0, 9]),
        seq: 42,
        timestamp_us: 1234,
        hops: 2,
        addrs: AddrList::from_slice(&[IpPrefix::new("10.0.0.2".parse().unwrap(), 32).unwrap()])
            .unwrap(),
        attach_seq: 0,
        leaving: false,
        cert: None,
        parent: NodeId::default(),
        quality_pct: 0,
    };
    let mut s = Vec::new();
    let raw = wire(&sign_reply(&obu, &r, NOW, &mut s), 8);
    let p = Messages::new(&raw).next().unwrap().unwrap();
    assert!(matches!(p.body, Body::BeaconReply(x) if x == r));
    assert_eq!(
        verify_reply(p.raw, p.trailer, F, &mut VerifyCache::new(), &mut s)
            .unwrap()
            .0,
        obu.public()
    );
    for byte in 0..raw.len() {
        if byte == 3 {
            continue;
        }
        let mut f = raw.clone();
        f[byte] ^= 0x04;
        let ok = matches!(Messages::new(&f).next(), Some(Ok(p)) if verify_reply(p.raw, p.trailer, F, &mut VerifyCache::new(), &mut s).is_ok());
        assert!(!ok, "flip in byte {byte} accepted");
    }
}
