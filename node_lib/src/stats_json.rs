//! The `/api/v1/stats` document, built from the counters.

use common::counters::{Counters, Dir, DropReason, Syscall, BATCH_BUCKETS};
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;

fn histogram(c: &Counters, d: Dir) -> Value {
    let h = c.histogram(d);
    let mut buckets = Map::new();
    for (i, b) in h.buckets.iter().enumerate() {
        let le = BATCH_BUCKETS
            .get(i)
            .map_or("+Inf".to_string(), |v| v.to_string());
        buckets.insert(le, b.load(Ordering::Relaxed).into());
    }
    json!({
        "batches": h.count.load(Ordering::Relaxed),
        "packets": h.sum.load(Ordering::Relaxed),
        "size_histogram": buckets,
    })
}

/// Counters as JSON, plus the batching settings in force.
pub fn stats(c: &Counters, batching_enabled: bool, max_batch: usize, aggregate: bool) -> Value {
    let g = Counters::get;
    let mut drops = Map::new();
    for r in DropReason::ALL {
        drops.insert(r.as_str().into(), c.drops(r).into());
    }
    let mut syscalls = Map::new();
    let mut total_syscalls = 0;
    for s in Syscall::ALL {
        total_syscalls += c.syscalls(s);
        syscalls.insert(s.as_str().into(), c.syscalls(s).into());
    }
    let mut batches = Map::new();
    for d in Dir::ALL {
        batches.insert(d.as_str().into(), histogram(c, d));
    }
    let moved =
        g(&c.link_rx_frames) + g(&c.link_tx_frames) + g(&c.tun_rx_packets) + g(&c.tun_tx_packets);
    json!({
        "link": {
            "rx_frames": g(&c.link_rx_frames),
            "rx_bytes": g(&c.link_rx_bytes),
            "rx_messages": g(&c.link_rx_messages),
            "tx_frames": g(&c.link_tx_frames),
            "tx_bytes": g(&c.link_tx_bytes),
            "tx_messages": g(&c.link_tx_messages),
            "errors": g(&c.link_errors),
        },
        "tun": {
            "rx_packets": g(&c.tun_rx_packets),
            "rx_bytes": g(&c.tun_rx_bytes),
            "tx_packets": g(&c.tun_tx_packets),
            "tx_bytes": g(&c.tun_tx_bytes),
            "errors": g(&c.tun_errors),
        },
        "batching": {
            "enabled": batching_enabled,
            "max_batch": max_batch,
            "aggregate": aggregate,
            "batches": batches,
            "syscalls": syscalls,
            "syscalls_total": total_syscalls,
            "packets_moved": moved,
            "aggregated_frames": g(&c.aggregated_frames),
            "aggregated_messages": g(&c.aggregated_messages),
            "partial_sends": g(&c.partial_sends),
            "send_retries": g(&c.send_retries),
        },
        "offload": {
            "tso_packets": g(&c.tso_packets),
            "tso_segments": g(&c.tso_segments),
            "gro_writes": g(&c.gro_writes),
            "gro_segments": g(&c.gro_segments),
        },
        "routing": {
            "relayed": g(&c.relayed),
            "v2v_turnaround": g(&c.v2v_turnaround),
            "upstream_changes": g(&c.upstream_changes),
            "handshakes": g(&c.handshakes),
            "restarts_seen": g(&c.restarts_seen),
            "seq_resyncs": g(&c.seq_resyncs),
            "handovers": g(&c.handovers),
            "obus_left": g(&c.obus_left),
        },
        "security": {
            "certs_issued": g(&c.certs_issued),
            "certs_accepted": g(&c.certs_accepted),
            "revoked": g(&c.obus_revoked),
            "broadcasts_verified": g(&c.broadcasts_verified),
        },
        "airtime": {
            "tx_control_us": g(&c.airtime_tx_us[0]),
            "tx_data_us": g(&c.airtime_tx_us[1]),
            "rx_us": g(&c.airtime_rx_us),
        },
        "backbone": {
            "installs": g(&c.backbone_installs),
            "removals": g(&c.backbone_removals),
            "failures": g(&c.backbone_failures),
        },
        "drops": drops,
    })
}
