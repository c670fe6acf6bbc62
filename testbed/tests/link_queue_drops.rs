//! Frames the kernel drops because the link socket's receive queue is full
//! are reported by `RawLink::take_queue_drops`, on a real veth pair: every
//! frame sent is either read or counted, and reading the count resets it.
//! Needs root (a network namespace and raw sockets).

use common::batch::RecvBatch;
use common::counters::Counters;
use common::wire::{MessageType, DEFAULT_ETHERTYPE};
use common::NodeId;
use node_lib::link::{LinkScratch, RawLink};

#[test]
fn frames_dropped_by_a_full_receive_queue_are_counted() {
    let Some(ns) = testbed::ScratchNetns::with_veth("v2xqd", "qa", "qb") else {
        return;
    };
    ns.enter();
    let tx = RawLink::open("qa", DEFAULT_ETHERTYPE).expect("open qa");
    let rx = RawLink::open("qb", DEFAULT_ETHERTYPE).expect("open qb");
    assert_eq!(
        rx.take_queue_drops().expect("stats"),
        0,
        "nothing dropped yet"
    );

    // Full-MTU frames, far more than the receive queue (4 MiB) holds, sent
    // without reading any: the veth delivers synchronously, so the queue
    // overflows while we send.
    let dst = NodeId(rx.mac());
    let mut frames = node_lib::mtu_frames::MtuFrames::new(&tx, dst, MessageType::DataUp, dst, 64);
    let sent: u64 = (0..100).map(|_| frames.send(&tx, true) as u64).sum();
    assert_eq!(sent, 6400);
    let counters = Counters::default();

    let mut recv = RecvBatch::new(64, rx.frame_capacity());
    let mut rx_scratch = LinkScratch::new(64);
    let mut read = 0u64;
    loop {
        let n = rx
            .recv(&mut recv, 64, &mut rx_scratch, true, &counters)
            .expect("recv");
        if n == 0 {
            break;
        }
        read += n as u64;
    }
    let dropped = u64::from(rx.take_queue_drops().expect("stats"));
    assert!(read > 0, "the queue held some frames");
    assert!(dropped > 0, "the queue overflowed ({read} of {sent} read)");
    assert_eq!(read + dropped, sent, "every frame read or counted");
    assert_eq!(rx.take_queue_drops().expect("stats"), 0, "reading resets");
}
