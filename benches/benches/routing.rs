//! The RSU at scale: beacon-reply processing and downstream lookup with
//! 1000 OBUs in its table; the OBU's upstream data path.

use common::action::{Action, Control};
use common::counters::Counters;
use common::ip::IpPrefix;
use common::wire::{AddrList, BeaconReplyRepr, DEFAULT_ETHERTYPE};
use common::{NodeId, Time};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use node_lib::config::RoutingConfig;
use node_lib::daemon::RoleParams;
use protocol::role::Role;
use rsu_lib::Rsu;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

const OBUS: usize = 1000;
const RSU: NodeId = NodeId([2, 0, 0, 0, 0xff, 0xff]);

fn obu(i: usize) -> NodeId {
    NodeId([2, 1, 0, 0, (i >> 8) as u8, i as u8])
}

fn obu_addr(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 42, (i >> 8) as u8, i as u8))
}

fn reply_frame(i: usize) -> Vec<u8> {
    let addrs = [IpPrefix::new(obu_addr(i), 16).unwrap()];
    let a = Action::SendControl {
        dst: RSU,
        ttl: 8,
        msg: Control::BeaconReply(Box::new(BeaconReplyRepr {
            obu: obu(i),
            rsu: RSU,
            seq: 1,
            timestamp_us: 1,
            hops: 1,
            addrs: AddrList::from_slice(&addrs).unwrap(),
            attach_seq: 0,
            leaving: false,
            cert: None,
            parent: NodeId::default(),
            quality_pct: 0,
        })),
    };
    let mut b = common::batch::SendBatch::new(obu(i), DEFAULT_ETHERTYPE, 1500, false, 1);
    assert!(b.push_action(&a));
    b.frame_bytes(0, |_| None).unwrap()
}

fn rsu_with_routes() -> (Rsu, Vec<Vec<u8>>) {
    let mut r = Rsu::new(RoleParams {
        id: RSU,
        mac: RSU,
        addresses: vec!["10.42.255.254/16".parse().unwrap()],
        routing: RoutingConfig::default(),
        seed: 1,
        counters: Arc::new(Counters::default()),
        security: None,
        preference: 0,
        attach_seq_start: 1,
    });
    let mut frames: Vec<Vec<u8>> = (0..OBUS).map(reply_frame).collect();
    let mut out = Vec::new();
    for f in &mut frames {
        r.on_frame(Time::from_millis(1), 0, f, &mut out);
    }
    assert_eq!(r.routes().len(), OBUS);
    (r, frames)
}

fn rsu_scale(c: &mut Criterion) {
    let (mut r, mut frames) = rsu_with_routes();
    let mut out = Vec::with_capacity(16);
    let mut g = c.benchmark_group("rsu_1000_obus");
    g.throughput(Throughput::Elements(OBUS as u64));
    g.bench_function("beacon_reply_x1000", |b| {
        b.iter(|| {
            for f in &mut frames {
                r.on_frame(Time::from_millis(2), 0, black_box(f), &mut out);
            }
            assert!(out.is_empty());
        })
    });
    let packets: Vec<Vec<u8>> = (0..OBUS)
        .map(|i| sim::ipv4_packet("192.0.2.1".parse().unwrap(), obu_addr(i), 1, 64))
        .collect();
    g.bench_function("downstream_lookup_x1000", |b| {
        b.iter(|| {
            for p in &packets {
                r.on_tun(Time::from_millis(2), 0, black_box(p), &mut out);
            }
            assert_eq!(out.len(), OBUS);
            out.clear();
        })
    });
    g.finish();
}

criterion_group!(benches, rsu_scale);
criterion_main!(benches);
