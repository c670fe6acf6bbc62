//! Frame parse and emit: the per-packet wire work.

use benches::{beacon_action, data_action, reply_action};
use common::batch::SendBatch;
use common::wire::{Messages, DEFAULT_ETHERTYPE};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

fn frame_of(actions: &[common::action::Action], payload: &[u8]) -> Vec<u8> {
    let mut b = SendBatch::new(benches::A, DEFAULT_ETHERTYPE, 1500, true, 4);
    for a in actions {
        assert!(b.push_action(a));
    }
    assert_eq!(b.frames().len(), 1, "all in one frame");
    b.frame_bytes(0, |_| Some(payload)).unwrap()
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    let ip = vec![0x45u8; 1400];
    let cases = [
        ("data_1400", frame_of(&[data_action(1400)], &ip)),
        ("beacon", frame_of(&[beacon_action()], &ip)),
        ("reply_2addr", frame_of(&[reply_action()], &ip)),
        (
            "aggregated_16x64",
            frame_of(&vec![data_action(64); 16], &ip[..64]),
        ),
    ];
    for (name, frame) in &cases {
        let n = Messages::new(&frame[14..]).count() as u64;
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::from_parameter(name), frame, |b, f| {
            b.iter(|| {
                let mut count = 0;
                for m in Messages::new(black_box(&f[14..])) {
                    if m.is_ok() {
                        count += 1;
                    }
                }
                assert_eq!(count, n);
                count
            })
        });
    }
    g.finish();
}

fn emit(c: &mut Criterion) {
    let mut g = c.benchmark_group("emit");
    for n in [1usize, 64] {
        let actions = vec![data_action(1400); n];
        let mut batch = SendBatch::new(benches::A, DEFAULT_ETHERTYPE, 1500, true, n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(
            BenchmarkId::new("data_1400_batch", n),
            &actions,
            |b, acts| {
                b.iter(|| {
                    batch.clear();
                    for a in acts {
                        batch.push_action(black_box(a));
                    }
                    assert_eq!(batch.frames().len(), acts.len());
                })
            },
        );
    }
    let small = vec![data_action(64); 64];
    let mut batch = SendBatch::new(benches::A, DEFAULT_ETHERTYPE, 1500, true, 64);
    g.throughput(Throughput::Elements(64));
    g.bench_function("data_64_aggregated_batch_64", |b| {
        b.iter(|| {
            batch.clear();
            for a in &small {
                batch.push_action(black_box(a));
            }
            // 64 x (18 + 64) bytes fit in ceil(5248 / 1500) frames.
            assert_eq!(batch.frames().len(), 4);
        })
    });
    g.finish();
}

criterion_group!(benches, parse, emit);
criterion_main!(benches);
