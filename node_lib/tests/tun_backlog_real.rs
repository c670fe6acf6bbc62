//! The TUN backlog on a real TUN device (root; in a network namespace of
//! the test thread's own): packets the kernel queued behind bulk are read
//! in one go, and a small packet of another flow leaves before the bulk.

use common::action::{Action, Payload};
use common::counters::Counters;
use common::ip::IpPrefix;
use common::wire::MessageType;
use common::NodeId;
use datapath::tun_backlog::TunBacklog;
use node_lib::tun::Tun;
use std::net::UdpSocket;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Destination UDP port of the test's own IPv4 packets (no options) in
/// `p`; `None` for anything else the kernel sends (IPv6 MLD and the like).
fn dport(p: &[u8]) -> Option<u16> {
    let ours = p.len() >= 24 && p[0] == 0x45 && p[9] == 17 && p[16..19] == [10, 77, 0];
    ours.then(|| u16::from_be_bytes([p[22], p[23]]))
}

#[test]
fn a_small_packet_queued_behind_bulk_in_the_kernel_leaves_first() {
    if !is_root() {
        eprintln!("SKIPPED: needs root (a TUN device in a network namespace)");
        return;
    }
    let order = std::thread::spawn(|| -> Result<Vec<u16>, String> {
        // SAFETY: moves only this thread into a new, empty network namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(format!("unshare: {}", std::io::Error::last_os_error()));
        }
        let prefix: IpPrefix = "10.77.0.1/24".parse().map_err(|e: String| e)?;
        let tun = Tun::create("bl0", 1500, &[prefix], true).map_err(|e| e.to_string())?;
        let s = UdpSocket::bind("10.77.0.1:0").map_err(|e| e.to_string())?;
        // Bulk of one flow, then a small packet of another, all queued in
        // the kernel before the daemon side reads anything.
        for _ in 0..20 {
            s.send_to(&[0xb0; 1_400], "10.77.0.2:1000")
                .map_err(|e| e.to_string())?;
        }
        // Another host: another flow (flows are address pairs).
        s.send_to(&[0x5a; 20], "10.77.0.3:2000")
            .map_err(|e| e.to_string())?;
        let counters = Counters::default();
        let mut b = TunBacklog::new(64, tun.read_capacity(), 2 * 1_500);
        let mut tun = node_lib::tun::TunPort::new(tun);
        let mut fresh: Vec<u16> = Vec::new();
        for _ in 0..100 {
            b.read(&mut tun, &counters, false)
                .map_err(|e| e.to_string())?;
            fresh.extend_from_slice(b.fresh());
            if fresh.iter().any(|&s| dport(b.packet(s)) == Some(2000)) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let mut actions = Vec::new();
        for slot in fresh {
            let len = b.packet(slot).len() as u16;
            let (hop, me) = (NodeId([2, 0, 0, 0, 0, 1]), NodeId([2, 0, 0, 0, 0, 2]));
            let payload = Payload::tun(slot, len);
            actions.push(Action::data(hop, MessageType::DataUp, 8, me, hop, payload));
            b.file(slot, &mut actions);
        }
        // The first turn: the small packet, then the turn's share of bulk.
        // (Best effort: the small packet in the priority lane, bulk in the
        // bulk lane after it.)
        b.take_bulk(usize::MAX);
        let (out, pool, _) = b.to_send();
        let (bulk, _, _) = b.to_send_bulk();
        let ports = out
            .iter()
            .chain(bulk)
            .filter_map(|a| match a {
                Action::SendData { payload, .. } => dport(pool.get(payload.slot.into())),
                _ => None,
            })
            .collect();
        b.sent();
        Ok(ports)
    })
    .join()
    .expect("test thread");
    let order = order.expect("TUN set-up");
    assert_eq!(
        order.first(),
        Some(&2000),
        "the small packet first: {order:?}"
    );
    assert!(
        order.len() >= 2 && order[1..].iter().all(|&p| p == 1000),
        "then bulk only: {order:?}"
    );
    assert!(
        order.len() < 21,
        "bulk is sent over several turns: {order:?}"
    );
}
