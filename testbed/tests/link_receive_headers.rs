//! The batched receive path reuses its recvmmsg headers between calls; they
//! must follow the receive batch they are used with. One scratch, three
//! batches in turn on a real veth pair: every frame lands whole in the batch
//! it was read into, and a batch with slots too small for a frame gets the
//! frame counted as too big, not written past its slots.
//! Needs root (a network namespace and raw sockets).

use common::batch::RecvBatch;
use common::counters::{Counters, DropReason};
use common::wire::{MessageType, DEFAULT_ETHERTYPE};
use common::NodeId;
use node_lib::link::{LinkScratch, RawLink};

/// Reads until `want` frames have arrived into `batch`, in as many calls as
/// it takes; returns the frames read.
fn read_all(
    rx: &RawLink,
    batch: &mut RecvBatch,
    scratch: &mut LinkScratch,
    want: usize,
    counters: &Counters,
    check: &mut dyn FnMut(&RecvBatch, usize),
) -> usize {
    let mut got = 0;
    for _ in 0..1000 {
        let n = rx.recv(batch, 64, scratch, true, counters).expect("recv");
        check(batch, n);
        got += n;
        if got >= want {
            break;
        }
    }
    got
}

#[test]
fn reused_receive_headers_follow_the_batch_they_read_into() {
    let Some(ns) = testbed::ScratchNetns::with_veth("v2xrh", "ha", "hb") else {
        return;
    };
    ns.enter();
    let tx = RawLink::open("ha", DEFAULT_ETHERTYPE).expect("open ha");
    let rx = RawLink::open("hb", DEFAULT_ETHERTYPE).expect("open hb");
    let dst = NodeId(rx.mac());
    let mut frames = node_lib::mtu_frames::MtuFrames::new(&tx, dst, MessageType::DataUp, dst, 8);
    let frame_len = 14 + frames.frame_payload();
    let counters = Counters::default();
    let mut scratch = LinkScratch::new(64);
    let mut a = RecvBatch::new(16, rx.frame_capacity());
    let mut b = RecvBatch::new(16, rx.frame_capacity() + 64);
    let mut small = RecvBatch::new(16, 100);

    let mut whole = |batch: &RecvBatch, n: usize| {
        for i in 0..n {
            let f = batch.get(i);
            assert_eq!(f.len(), frame_len, "frame {i} read whole");
            assert_eq!(&f[..6], &dst.0, "frame {i} starts with its destination");
        }
    };
    for round in 0..3 {
        for (name, batch) in [("a", &mut a), ("b", &mut b)] {
            assert_eq!(frames.send(&tx, true), 8);
            let got = read_all(&rx, batch, &mut scratch, 8, &counters, &mut whole);
            assert_eq!(got, 8, "round {round}, batch {name}: all frames read");
        }
    }

    assert_eq!(frames.send(&tx, true), 8);
    let mut truncated = |batch: &RecvBatch, n: usize| {
        for i in 0..n {
            assert!(
                batch.get(i).is_empty(),
                "a frame larger than the slot is refused"
            );
        }
    };
    let got = read_all(&rx, &mut small, &mut scratch, 8, &counters, &mut truncated);
    assert_eq!(got, 8);
    assert_eq!(
        counters.drops(DropReason::TooBig),
        8,
        "each counted as too big"
    );

    // And back to a batch that fits: whole frames again.
    assert_eq!(frames.send(&tx, true), 8);
    assert_eq!(
        read_all(&rx, &mut a, &mut scratch, 8, &counters, &mut whole),
        8
    );
}
