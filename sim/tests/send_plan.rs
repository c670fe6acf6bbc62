//! The simulated air carries what the daemons' send planner makes of a
//! batch: TCP super-packets from the TUN cut into segments (TSO), small
//! messages for one next hop aggregated into one frame, and the same when
//! sealed.

use common::counters::Counters;
use common::wire::{Messages, ETH_HEADER_LEN};
use protocol::params::SecurityMode;
use sim::{addr, tcp_super_packet, Sim};
use std::time::Duration;

fn seq_of(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[24], p[25], p[26], p[27]])
}

#[test]
fn a_tso_super_packet_is_cut_and_its_small_segments_share_a_frame() {
    for mode in [None, Some(SecurityMode::Encrypted)] {
        let mut s = Sim::attached_pair(mode);
        // 5 segments of 100 bytes: small enough to share one frame.
        let p = tcp_super_packet(addr(1), addr(0), 1000, 500);
        let before = s.nodes[1].frames_sent;
        let delivered = s.nodes[0].tun_out.len();
        s.send_ip_tso(1, &p, 100);
        // What the OBU put on the air for this packet: one frame, five
        // data messages.
        let frames: Vec<Vec<u8>> = s
            .in_flight()
            .filter(|(from, _)| *from == 1)
            .map(|(_, f)| f.to_vec())
            .collect();
        assert_eq!(s.nodes[1].frames_sent - before, 1, "{mode:?}: one frame");
        let messages = Messages::new(&frames[0][ETH_HEADER_LEN..]).count();
        assert_eq!(messages, 5, "{mode:?}: five segments aggregated");
        s.run_for(Duration::from_millis(5));
        let got = &s.nodes[0].tun_out[delivered..];
        assert_eq!(got.len(), 5, "{mode:?}: five segments delivered");
        let seqs: Vec<u32> = got.iter().map(|p| seq_of(p)).collect();
        assert_eq!(seqs, vec![1000, 1100, 1200, 1300, 1400], "{mode:?}");
        assert!(got.iter().all(|p| p.len() == 140), "{mode:?}");
        let c = &s.nodes[1].counters;
        assert_eq!(Counters::get(&c.tso_packets), 1, "{mode:?}");
        assert_eq!(Counters::get(&c.tso_segments), 5, "{mode:?}");
        // Full-size segments do not fit two to a frame: one frame each.
        let before = s.nodes[1].frames_sent;
        let big = tcp_super_packet(addr(1), addr(0), 5000, 4 * 1400);
        s.send_ip_tso(1, &big, 1400);
        assert_eq!(
            s.nodes[1].frames_sent - before,
            4,
            "{mode:?}: four full frames"
        );
        s.run_for(Duration::from_millis(5));
        let last: Vec<u32> = s.nodes[0]
            .tun_out
            .iter()
            .rev()
            .take(4)
            .map(|p| seq_of(p))
            .collect();
        assert_eq!(last, vec![9200, 7800, 6400, 5000], "{mode:?}");
    }
}
