//! The simulator runs the daemons' data path (`datapath::Engine`) from
//! frame in to TUN write: behaviours of that path, not of the roles, show
//! here — the TUN backlog's small-packets-first order, and the GRO plan of
//! the TUN writes.

use common::offload::WriteKind;
use protocol::plan::Coalesce;
use sim::{addr, ipv4_packet, tcp_super_packet, Sim};
use std::time::Duration;

/// A ping written after a burst of bulk leaves before it: the backlog
/// expedites a small packet of a flow with nothing queued, on the air and
/// so at the far TUN. (Handled packet by packet, it would be last.)
#[test]
fn a_small_packet_read_behind_bulk_leaves_first() {
    let mut s = Sim::attached_pair(None);
    let (o, r) = (1, 0);
    // 30 bulk datagrams of one flow (UDP), then one small packet of
    // another (protocol 1), all queued before the data path reads.
    let mut packets: Vec<Vec<u8>> = (0..30)
        .map(|k| ipv4_packet(addr(o), addr(r), k as u8, 1_380))
        .collect();
    let mut ping = ipv4_packet(addr(o), addr(r), 0xee, 40);
    ping[9] = 1;
    packets.push(ping.clone());
    let delivered = s.nodes[r].tun_out.len();
    s.send_ips(o, &packets);
    s.run_for(Duration::from_millis(5));
    let got = &s.nodes[r].tun_out[delivered..];
    assert_eq!(got.len(), 31, "all delivered");
    assert_eq!(got[0], ping, "the small packet first");
    let markers: Vec<u8> = got[1..].iter().map(|p| p[20]).collect();
    assert_eq!(markers, (0..30).collect::<Vec<u8>>(), "bulk in its order");
}

/// Segments that arrive together are written to a TUN with offload as one
/// coalesced write (GRO), and one by one to a TUN without.
#[test]
fn segments_arriving_together_are_one_tun_write_with_offload() {
    for gro in [true, false] {
        let mut s = Sim::attached_pair(None);
        let (o, r) = (1, 0);
        s.nodes[r].engine.tun.coalesce = Coalesce {
            tcp: gro,
            udp: false,
        };
        let writes = s.nodes[r].engine.tun.writes.len();
        let delivered = s.nodes[r].tun_out.len();
        // 8 full segments, cut by the OBU (TSO) and sent in one batch.
        s.send_ip_tso(
            o,
            &tcp_super_packet(addr(o), addr(r), 1000, 8 * 1_200),
            1_200,
        );
        s.run_for(Duration::from_millis(5));
        assert_eq!(s.nodes[r].tun_out.len() - delivered, 8, "gro {gro}");
        let new = &s.nodes[r].engine.tun.writes[writes..];
        if gro {
            assert_eq!(new.len(), 1, "one write: {new:?}");
            assert_eq!(new[0].count, 8);
            assert!(matches!(new[0].kind, WriteKind::Tcp(..)), "{new:?}");
        } else {
            assert_eq!(new.len(), 8, "{new:?}");
            assert!(new.iter().all(|w| w.kind == WriteKind::Single));
        }
    }
}
