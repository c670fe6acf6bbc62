//! The `/api/v1/stats` answer, built from the counters.

use api::{BatchHistogram, Stats};
use common::counters::{Counters, Dir, DropReason, Syscall, BATCH_BUCKETS};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

fn histogram(c: &Counters, d: Dir) -> BatchHistogram {
    let h = c.histogram(d);
    let size_histogram = h
        .buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let le = BATCH_BUCKETS
                .get(i)
                .map_or("+Inf".to_string(), |v| v.to_string());
            (le, b.load(Ordering::Relaxed))
        })
        .collect();
    BatchHistogram {
        batches: h.count.load(Ordering::Relaxed),
        packets: h.sum.load(Ordering::Relaxed),
        size_histogram,
    }
}

/// A section from (name, value) pairs.
fn section<const N: usize>(pairs: [(&str, u64); N]) -> BTreeMap<String, u64> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The counters, plus the batching settings in force. The channel's busy
/// ratio is the caller's (the data plane estimates it).
pub fn stats(c: &Counters, batching_enabled: bool, max_batch: usize, aggregate: bool) -> Stats {
    let g = Counters::get;
    let drops = DropReason::ALL
        .iter()
        .map(|&r| (r.as_str().to_string(), c.drops(r)))
        .collect();
    let syscalls: BTreeMap<String, u64> = Syscall::ALL
        .iter()
        .map(|&s| (s.as_str().to_string(), c.syscalls(s)))
        .collect();
    let total_syscalls = syscalls.values().sum();
    let batches = Dir::ALL
        .iter()
        .map(|&d| (d.as_str().to_string(), histogram(c, d)))
        .collect();
    let moved =
        g(&c.link_rx_frames) + g(&c.link_tx_frames) + g(&c.tun_rx_packets) + g(&c.tun_tx_packets);
    Stats {
        link: section([
            ("rx_frames", g(&c.link_rx_frames)),
            ("rx_bytes", g(&c.link_rx_bytes)),
            ("rx_messages", g(&c.link_rx_messages)),
            ("tx_frames", g(&c.link_tx_frames)),
            ("tx_bytes", g(&c.link_tx_bytes)),
            ("tx_messages", g(&c.link_tx_messages)),
            ("errors", g(&c.link_errors)),
        ]),
        tun: section([
            ("rx_packets", g(&c.tun_rx_packets)),
            ("rx_bytes", g(&c.tun_rx_bytes)),
            ("tx_packets", g(&c.tun_tx_packets)),
            ("tx_bytes", g(&c.tun_tx_bytes)),
            ("errors", g(&c.tun_errors)),
        ]),
        batching: api::stats::Batching {
            enabled: batching_enabled,
            max_batch,
            aggregate,
            batches,
            syscalls,
            counters: section([
                ("syscalls_total", total_syscalls),
                ("packets_moved", moved),
                ("aggregated_frames", g(&c.aggregated_frames)),
                ("aggregated_messages", g(&c.aggregated_messages)),
                ("partial_sends", g(&c.partial_sends)),
                ("send_retries", g(&c.send_retries)),
            ]),
        },
        offload: section([
            ("tso_packets", g(&c.tso_packets)),
            ("tso_segments", g(&c.tso_segments)),
            ("gro_writes", g(&c.gro_writes)),
            ("gro_segments", g(&c.gro_segments)),
        ]),
        routing: section([
            ("relayed", g(&c.relayed)),
            ("v2v_turnaround", g(&c.v2v_turnaround)),
            ("upstream_changes", g(&c.upstream_changes)),
            ("handshakes", g(&c.handshakes)),
            ("restarts_seen", g(&c.restarts_seen)),
            ("seq_resyncs", g(&c.seq_resyncs)),
            ("handovers", g(&c.handovers)),
            ("obus_left", g(&c.obus_left)),
        ]),
        security: section([
            ("certs_issued", g(&c.certs_issued)),
            ("certs_accepted", g(&c.certs_accepted)),
            ("revoked", g(&c.obus_revoked)),
            ("broadcasts_verified", g(&c.broadcasts_verified)),
        ]),
        airtime: api::stats::Airtime {
            channel_busy_ratio: 0.0,
            counters: section([
                ("tx_control_us", g(&c.airtime_tx_us[0])),
                ("tx_data_us", g(&c.airtime_tx_us[1])),
                ("rx_us", g(&c.airtime_rx_us)),
            ]),
        },
        backbone: section([
            ("installs", g(&c.backbone_installs)),
            ("removals", g(&c.backbone_removals)),
            ("failures", g(&c.backbone_failures)),
        ]),
        drops,
    }
}
