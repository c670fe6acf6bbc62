//! Round trips for every message, several messages per frame, padding, and
//! rejection (never a panic) of truncated and corrupted frames.

use common::action::Control;
use common::ip::IpPrefix;
use common::wire::*;
use common::NodeId;
use proptest::prelude::*;

const RSU: NodeId = NodeId([0x02, 0, 0, 0, 0, 0x01]);
const OBU: NodeId = NodeId([0x02, 0, 0, 0, 0, 0x02]);

fn beacon() -> BeaconRepr {
    BeaconRepr {
        rsu: RSU,
        seq: 0xdead_beef,
        hops: 3,
        timestamp_us: 0x0102_0304_0506_0708,
        interval_ms: 100,
        epoch: 7,
        uplink: false,
        preference: 9,
    }
}

fn reply() -> BeaconReplyRepr {
    let addrs: Vec<IpPrefix> = ["10.42.0.2/24", "fd42::2/64", "192.168.7.1/32"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    BeaconReplyRepr {
        obu: OBU,
        rsu: RSU,
        seq: 7,
        timestamp_us: 123_456_789,
        hops: 2,
        addrs: AddrList::from_slice(&addrs).unwrap(),
        attach_seq: 0x0a0b_0c0d,
        leaving: true,
        cert: None,
        parent: NodeId([2, 0, 0, 0, 0, 0x33]),
        quality_pct: 87,
    }
}

fn control_bytes(c: Control, ttl: u8) -> Vec<u8> {
    let mut v = vec![0u8; c.wire_len()];
    c.emit(ttl, &mut v);
    v
}

fn data_bytes(kind: MessageType, ttl: u8, origin: NodeId, dest: NodeId, ip: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; DATA_OVERHEAD];
    HeaderRepr {
        msg_type: kind,
        flags: 0,
        ttl,
        body_len: (DATA_OVERHEAD - HEADER_LEN + ip.len()) as u16,
    }
    .emit(&mut v);
    DataRepr::emit_fixed(origin, dest, &mut v[HEADER_LEN..]);
    v.extend_from_slice(ip);
    v
}

fn broadcast_bytes(ttl: u8, origin: NodeId, seq: u32, ip: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; BROADCAST_OVERHEAD];
    HeaderRepr {
        msg_type: MessageType::Broadcast,
        flags: 0,
        ttl,
        body_len: (BROADCAST_OVERHEAD - HEADER_LEN + ip.len()) as u16,
    }
    .emit(&mut v);
    BroadcastRepr::emit_fixed(origin, seq, &mut v[HEADER_LEN..]);
    v.extend_from_slice(ip);
    v
}

fn only(buf: &[u8]) -> ParsedMessage<'_> {
    let mut it = Messages::new(buf);
    let m = it.next().expect("one message").expect("valid");
    assert!(it.next().is_none());
    m
}

#[test]
fn beacon_round_trip() {
    let bytes = control_bytes(Control::Beacon(beacon()), 9);
    let m = only(&bytes);
    assert_eq!(m.header.msg_type, MessageType::Beacon);
    assert_eq!(m.header.ttl, 9);
    assert_eq!(m.body, Body::Beacon(beacon()));
}

#[test]
fn a_beacon_from_before_the_epoch_parses_with_epoch_zero() {
    let new = control_bytes(Control::Beacon(beacon()), 9);
    // The same beacon as a node without the epoch field sends it: 22 bytes.
    let mut old = new[..HEADER_LEN + 22].to_vec();
    old[4..6].copy_from_slice(&22u16.to_be_bytes());
    let m = only(&old);
    assert_eq!(
        m.body,
        Body::Beacon(BeaconRepr {
            epoch: 0,
            uplink: true,
            preference: 0,
            ..beacon()
        })
    );
    // Before the uplink state: 26 bytes, uplink up, preference 0.
    let mut old = new[..HEADER_LEN + 26].to_vec();
    old[4..6].copy_from_slice(&26u16.to_be_bytes());
    assert_eq!(
        only(&old).body,
        Body::Beacon(BeaconRepr {
            uplink: true,
            preference: 0,
            ..beacon()
        })
    );
    // Any other short length is refused.
    for len in [21u16, 23, 25, 27] {
        let mut b = new[..HEADER_LEN + len as usize].to_vec();
        b[4..6].copy_from_slice(&len.to_be_bytes());
        assert!(Messages::new(&b).all(|m| m.is_err()), "{len} bytes");
    }
}

#[test]
fn beacon_reply_round_trip() {
    let bytes = control_bytes(Control::BeaconReply(Box::new(reply())), 1);
    let m = only(&bytes);
    assert_eq!(m.body, Body::BeaconReply(reply()));
    let empty = BeaconReplyRepr {
        addrs: AddrList::default(),
        ..reply()
    };
    let bytes = control_bytes(Control::BeaconReply(Box::new(empty)), 1);
    assert_eq!(only(&bytes).body, Body::BeaconReply(empty));
}

#[test]
fn a_reply_from_before_the_attachment_sequence_parses_with_zero() {
    let new = control_bytes(Control::BeaconReply(Box::new(reply())), 1);
    // The same reply without the 12-byte extension, as older nodes send it.
    let body_len = new.len() - HEADER_LEN - 12;
    let mut old = new[..HEADER_LEN + body_len].to_vec();
    old[4..6].copy_from_slice(&(body_len as u16).to_be_bytes());
    assert_eq!(
        only(&old).body,
        Body::BeaconReply(BeaconReplyRepr {
            attach_seq: 0,
            leaving: false,
            cert: None,
            parent: NodeId::default(),
            quality_pct: 0,
            ..reply()
        })
    );
    // With the first 5 bytes of the extension only (attachment sequence
    // and flags, before the parent and link quality).
    let mut v1 = new[..HEADER_LEN + body_len + 5].to_vec();
    v1[4..6].copy_from_slice(&((body_len + 5) as u16).to_be_bytes());
    assert_eq!(
        only(&v1).body,
        Body::BeaconReply(BeaconReplyRepr {
            parent: NodeId::default(),
            quality_pct: 0,
            ..reply()
        })
    );
    // A partial extension, unknown flags or a quality over 100 % is refused.
    for cut in [1usize, 2, 4, 6, 11] {
        let len = body_len + cut;
        let mut b = new[..HEADER_LEN + len].to_vec();
        b[4..6].copy_from_slice(&(len as u16).to_be_bytes());
        assert!(Messages::new(&b).all(|m| m.is_err()), "{cut} extra bytes");
    }
    let mut bad = new.clone();
    bad[HEADER_LEN + body_len + 4] = 0x80;
    assert!(Messages::new(&bad).all(|m| m.is_err()));
    let mut bad = new.clone();
    let last = bad.len() - 1;
    bad[last] = 101;
    assert!(Messages::new(&bad).all(|m| m.is_err()));
}

#[test]
fn data_round_trip_both_directions() {
    let ip = [0x45u8; 40];
    for kind in [MessageType::DataUp, MessageType::DataDown] {
        let bytes = data_bytes(kind, 17, OBU, RSU, &ip);
        let m = only(&bytes);
        assert_eq!(m.header.msg_type, kind);
        assert_eq!(m.header.ttl, 17);
        assert_eq!(
            m.body,
            Body::Data(DataRepr {
                origin: OBU,
                dest: RSU,
                payload: &ip
            })
        );
        assert_eq!(m.payload_offset(), Some(DATA_OVERHEAD));
    }
}

#[test]
fn broadcast_round_trip() {
    let ip = [0x60u8; 48];
    let bytes = broadcast_bytes(1, OBU, u32::MAX, &ip);
    let m = only(&bytes);
    assert_eq!(
        m.body,
        Body::Broadcast(BroadcastRepr {
            origin: OBU,
            seq: u32::MAX,
            payload: &ip
        })
    );
    assert_eq!(m.payload_offset(), Some(BROADCAST_OVERHEAD));
}

#[test]
fn ethernet_round_trip() {
    let repr = EthernetRepr {
        dst: NodeId::BROADCAST,
        src: RSU,
        ethertype: DEFAULT_ETHERTYPE,
    };
    let mut b = [0u8; ETH_HEADER_LEN];
    repr.emit(&mut b);
    let f = EthernetFrame::new_checked(&b[..]).unwrap();
    assert_eq!(EthernetRepr::parse(&f), repr);
    assert!(f.payload().is_empty());
    assert_eq!(
        EthernetFrame::new_checked(&b[..13]).err(),
        Some(WireError::Truncated)
    );
}

fn mixed_frame() -> Vec<u8> {
    let mut f = control_bytes(Control::Beacon(beacon()), 1);
    f.extend(data_bytes(MessageType::DataUp, 8, OBU, RSU, &[0x45; 28]));
    f.extend(control_bytes(Control::BeaconReply(Box::new(reply())), 1));
    f.extend(broadcast_bytes(1, OBU, 5, &[0x45; 20]));
    f
}

#[test]
fn several_messages_per_frame_and_padding_ignored() {
    let mut f = mixed_frame();
    let n = Messages::new(&f).filter(|m| m.is_ok()).count();
    assert_eq!(n, 4);
    // Ethernet pads short frames with zeros: padding yields nothing more.
    f.extend([0u8; 46]);
    let all: Vec<_> = Messages::new(&f).collect();
    assert_eq!(all.len(), 4);
    assert!(all.iter().all(|m| m.is_ok()));
    // A short tail of fewer bytes than a header is padding too.
    let mut g = mixed_frame();
    g.extend([1u8; 3]);
    assert_eq!(Messages::new(&g).count(), 4);
}

#[test]
fn unknown_type_is_skipped_and_rest_parsed() {
    let mut f = control_bytes(Control::Beacon(beacon()), 1);
    f[1] = 99; // type
    f.extend(control_bytes(Control::Beacon(beacon()), 1));
    let all: Vec<_> = Messages::new(&f).collect();
    assert_eq!(all[0], Err(WireError::UnknownType));
    assert!(all[1].is_ok());
    assert_eq!(all.len(), 2);
}

#[test]
fn unknown_version_stops_the_walk() {
    let mut f = control_bytes(Control::Beacon(beacon()), 1);
    f[0] = 2;
    f.extend(control_bytes(Control::Beacon(beacon()), 1));
    let all: Vec<_> = Messages::new(&f).collect();
    assert_eq!(all, vec![Err(WireError::UnknownVersion)]);
}

#[test]
fn every_truncation_is_rejected() {
    for whole in [
        control_bytes(Control::Beacon(beacon()), 1),
        control_bytes(Control::BeaconReply(Box::new(reply())), 1),
        data_bytes(MessageType::DataDown, 1, RSU, OBU, &[0x45; 20]),
        broadcast_bytes(1, OBU, 1, &[0x45; 20]),
    ] {
        for cut in HEADER_LEN..whole.len() {
            let all: Vec<_> = Messages::new(&whole[..cut]).collect();
            assert_eq!(all, vec![Err(WireError::Truncated)], "cut at {cut}");
        }
    }
}

#[test]
fn bad_bodies_are_rejected() {
    // Body length shorter than the fixed part of each type.
    for (ty, fixed) in [(1u8, 26usize), (2, 26), (3, 12), (4, 12), (5, 10)] {
        let mut m = vec![VERSION, ty, 0, 1, 0, (fixed - 1) as u8];
        m.extend(vec![0x11; fixed - 1]);
        let all: Vec<_> = Messages::new(&m).collect();
        assert_eq!(all, vec![Err(WireError::Truncated)], "type {ty}");
    }
    // Reply: bad address family, too many addresses, trailing garbage.
    let good = control_bytes(Control::BeaconReply(Box::new(reply())), 1);
    let family_at = HEADER_LEN + 26;
    let mut bad = good.clone();
    bad[family_at] = 7;
    assert_eq!(only_err(&bad), WireError::Malformed);
    let mut bad = good.clone();
    bad[HEADER_LEN + 25] = 200;
    assert_eq!(only_err(&bad), WireError::Malformed);
    let mut bad = good.clone();
    bad[HEADER_LEN + 27] = 33; // IPv4 prefix length 33
    assert_eq!(only_err(&bad), WireError::Malformed);
    // Beacon from a group address.
    let mut bad = control_bytes(Control::Beacon(beacon()), 1);
    bad[HEADER_LEN] = 0x01;
    assert_eq!(only_err(&bad), WireError::Malformed);
}

fn only_err(buf: &[u8]) -> WireError {
    let all: Vec<_> = Messages::new(buf).collect();
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].unwrap_err()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes never panic, the walk always ends, and it never
    /// yields more messages than header-sized pieces fit.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let n = Messages::new(&bytes).take(1000).count();
        prop_assert!(n <= bytes.len() / HEADER_LEN + 1);
    }

    /// Flipping any byte of a valid frame never panics.
    #[test]
    fn corrupted_frames_never_panic(pos in 0usize..400, val in any::<u8>()) {
        let mut f = mixed_frame();
        let p = pos % f.len();
        f[p] = val;
        let _ = Messages::new(&f).count();
    }
}
