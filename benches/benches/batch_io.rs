//! Batch send/receive on a real veth pair: frames per second through the
//! raw link socket at batch sizes 1, 8, 32 and 64, batched (sendmmsg /
//! recvmmsg) against unbatched (sendmsg / recv per frame). Needs root.

use benches::{data_action, VethPair};
use common::action::{Payload, Source};
use common::batch::{RecvBatch, SendBatch};
use common::counters::{Counters, Dir};
use common::wire::DEFAULT_ETHERTYPE;
use common::NodeId;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use node_lib::link::{LinkScratch, RawLink};
use std::sync::atomic::Ordering;

const PAYLOAD: usize = 64;

fn io(c: &mut Criterion) {
    let Some(_veth) = VethPair::new() else { return };
    let tx = RawLink::open("bva", DEFAULT_ETHERTYPE).expect("open bva");
    let rx = RawLink::open("bvb", DEFAULT_ETHERTYPE).expect("open bvb");
    let dst = NodeId(rx.mac());
    let ip = [0x45u8; PAYLOAD];
    let mut g = c.benchmark_group("link_send_recv");
    for batched in [true, false] {
        for n in [1usize, 8, 32, 64] {
            let mut send = SendBatch::new(NodeId(tx.mac()), DEFAULT_ETHERTYPE, tx.mtu(), false, n);
            for _ in 0..n {
                let mut a = data_action(PAYLOAD as u16);
                if let common::action::Action::SendData {
                    next_hop, payload, ..
                } = &mut a
                {
                    *next_hop = dst;
                    *payload = Payload {
                        source: Source::Tun,
                        slot: 0,
                        offset: 0,
                        len: PAYLOAD as u16,
                    };
                }
                assert!(send.push_action(&a));
            }
            assert_eq!(send.frames().len(), n);
            let mut recv = RecvBatch::new(64, rx.frame_capacity());
            let mut tx_scratch = LinkScratch::new(64);
            let mut rx_scratch = LinkScratch::new(64);
            let counters = Counters::default();
            let mode = if batched { "batched" } else { "unbatched" };
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(BenchmarkId::new(mode, n), &n, |b, &n| {
                b.iter(|| {
                    let sent = tx.send(
                        &send,
                        |_| Some(&ip[..]),
                        &mut tx_scratch,
                        (batched, common::priority::Lane::Priority),
                        &counters,
                    );
                    assert_eq!(sent, n);
                    let mut got = 0;
                    let mut spins = 0;
                    while got < n {
                        got += rx
                            .recv(&mut recv, n - got, &mut rx_scratch, batched, &counters)
                            .expect("recv");
                        spins += 1;
                        assert!(spins < 1_000_000, "frames lost: {got}/{n}");
                    }
                })
            });
            // The batch size asked for is the size used: every send syscall
            // carried n frames when batched, one when not.
            let h = counters.histogram(Dir::LinkTx);
            let (calls, frames) = (
                h.count.load(Ordering::Relaxed),
                h.sum.load(Ordering::Relaxed),
            );
            let per_call = if batched { n as u64 } else { 1 };
            assert_eq!(
                frames,
                calls * per_call,
                "{mode} {n}: {frames} frames in {calls} send calls"
            );
            let r = counters.histogram(Dir::LinkRx);
            let (rcalls, rframes) = (
                r.count.load(Ordering::Relaxed),
                r.sum.load(Ordering::Relaxed),
            );
            eprintln!(
                "{mode} batch {n}: send {:.1} frames/syscall, recv {:.1} frames/syscall",
                frames as f64 / calls.max(1) as f64,
                rframes as f64 / rcalls.max(1) as f64
            );
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = io
}
criterion_main!(benches);
