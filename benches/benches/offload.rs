//! TUN offload on the hot path: cutting a 64 KiB TCP super-packet into
//! link-MTU data messages (headers rewritten, checksums computed, payloads
//! referenced in place), and deciding/coalescing segments for one TUN write.

use common::action::{Action, Payload, Source};
use common::batch::SendBatch;
use common::offload::{coalesced_header, continues, segment_info, Segmenter};
use common::wire::{MessageType, DEFAULT_ETHERTYPE};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

const MSS: u16 = 1430;

/// A TCP/IPv4 super-packet of `payload` bytes (20 + 20 header bytes).
fn super_packet(payload: usize) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&((40 + payload) as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&[10, 42, 0, 2]);
    p[16..20].copy_from_slice(&[10, 42, 0, 1]);
    p[32] = 5 << 4;
    p[33] = 0x10;
    p.extend((0..payload).map(|i| i as u8));
    p
}

fn offload(c: &mut Criterion) {
    let sup = super_packet(64_000 - 40);
    let mut seg = Segmenter::new(&sup, MSS).unwrap();
    let n = seg.count();
    let mut g = c.benchmark_group("offload");
    g.throughput(Throughput::Bytes(sup.len() as u64));
    let action = Action::SendData {
        next_hop: benches::B,
        kind: MessageType::DataUp,
        ttl: 8,
        origin: benches::A,
        dest: benches::B,
        payload: Payload {
            source: Source::Tun,
            slot: 0,
            offset: 0,
            len: sup.len() as u16,
        },
        sealing: Default::default(),
    };
    let mut batch = SendBatch::new(benches::A, DEFAULT_ETHERTYPE, 1500, true, 64);
    g.bench_function("split_64k_into_mtu_messages", |b| {
        b.iter(|| {
            batch.clear();
            let k = batch
                .push_tcp_segments(black_box(&action), &sup, MSS, None)
                .unwrap();
            assert_eq!(k, n);
            assert_eq!(batch.frames().len(), n);
        })
    });
    // The segments as they arrive at the other end, then coalesced.
    let mut hdr = [0u8; 40];
    let segs: Vec<Vec<u8>> = {
        seg = Segmenter::new(&sup, MSS).unwrap();
        let mut v = Vec::new();
        while let Some(r) = seg.next_into(&mut hdr) {
            let mut s = hdr.to_vec();
            s.extend_from_slice(&sup[r]);
            v.push(s);
        }
        v
    };
    g.bench_function("coalesce_45_segments_header", |b| {
        b.iter(|| {
            let first = &segs[0];
            let fi = segment_info(first).unwrap();
            let mut bytes = fi.payload_len;
            for s in &segs[1..] {
                let ni = segment_info(black_box(s)).unwrap();
                assert!(continues(first, &fi, bytes, s, &ni));
                bytes += ni.payload_len;
            }
            let mut h = [0u8; 40];
            h.copy_from_slice(&first[..40]);
            coalesced_header(&mut h, &fi, bytes, false)
        })
    });
    g.finish();
}

criterion_group!(benches, offload);
criterion_main!(benches);
