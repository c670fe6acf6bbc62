//! The cost the TUN backlog adds per packet (flow hash, the expedite
//! verdict, queueing and slot bookkeeping), against the flow hash alone: a
//! batch of 64 packets, 7 bulk to 1 small, filed, sent over turns, freed.

use benches::{A, B};
use common::action::{Action, Payload};
use common::offload::VnetHdr;
use common::wire::MessageType;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use datapath::tun_backlog::TunBacklog;
use sim::{addr, ipv4_packet};
use std::hint::black_box;

const BATCH: usize = 64;

fn action(slot: u16, len: usize) -> Action {
    let payload = Payload::tun(slot, len as u16);
    Action::data(B, MessageType::DataUp, 8, A, B, payload)
}

fn bench(c: &mut Criterion) {
    let bulk = ipv4_packet(addr(1), addr(2), 1, 1_380);
    let small = ipv4_packet(addr(1), addr(3), 2, 64);
    let mut g = c.benchmark_group("tun_backlog");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("flow_hash_64", |b| {
        b.iter(|| {
            for k in 0..BATCH {
                let p = if k % 8 == 7 { &small } else { &bulk };
                black_box(common::ip::flow_hash(black_box(p)));
            }
        })
    });
    let mut backlog = TunBacklog::new(BATCH, 2048, 16 * 1_400);
    let mut actions: Vec<Action> = Vec::with_capacity(4);
    // Copying the packets in stands for the TUN read, in both variants.
    g.bench_function("push_64", |b| {
        b.iter(|| {
            backlog.clear_fresh();
            for k in 0..BATCH {
                let p = if k % 8 == 7 { &small } else { &bulk };
                backlog.push_packet(p, VnetHdr::default());
            }
            for k in 0..BATCH {
                let slot = backlog.fresh()[k];
                actions.push(action(slot, backlog.packet(slot).len()));
                backlog.file(slot, &mut actions);
                actions.clear();
            }
            while backlog.has_bulk() {
                backlog.take_bulk(usize::MAX);
                backlog.sent();
            }
            backlog.take_bulk(usize::MAX);
            backlog.sent();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
