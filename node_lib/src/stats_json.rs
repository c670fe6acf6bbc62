//! The `/api/v1/stats` answer, built from the counters.

use api::stats::ClassStats;
use api::{BatchHistogram, Stats};
use common::counters::{Counters, Dir, DropReason, Syscall, BATCH_BUCKETS, TABLE};
use common::priority::Class;
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

/// The counters, plus the batching settings in force. The channel's busy
/// ratio is the caller's (the data plane estimates it).
pub fn stats(c: &Counters, batching_enabled: bool, max_batch: usize, aggregate: bool) -> Stats {
    let mut sections: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
    for d in TABLE {
        sections
            .entry(d.section)
            .or_default()
            .insert(d.key.to_string(), (d.read)(c));
    }
    let mut take = |name: &str| sections.remove(name).unwrap_or_default();
    let drops = DropReason::ALL
        .iter()
        .map(|&r| (r.as_str().to_string(), c.drops(r)))
        .collect();
    let syscalls = Syscall::ALL
        .iter()
        .map(|&s| (s.as_str().to_string(), c.syscalls(s)))
        .collect();
    let batches = Dir::ALL
        .iter()
        .map(|&d| (d.as_str().to_string(), histogram(c, d)))
        .collect();
    Stats {
        link: take("link"),
        tun: take("tun"),
        batching: api::stats::Batching {
            enabled: batching_enabled,
            max_batch,
            aggregate,
            batches,
            syscalls,
            counters: take("batching"),
        },
        offload: take("offload"),
        routing: take("routing"),
        security: take("security"),
        airtime: api::stats::Airtime {
            channel_busy_ratio: 0.0,
            counters: take("airtime"),
        },
        backbone: take("backbone"),
        drops,
        classes: classes(c),
    }
}

/// Each priority class's counters, by its name.
fn classes(c: &Counters) -> BTreeMap<String, ClassStats> {
    Class::ALL
        .iter()
        .map(|&k| {
            let i = k.index();
            let s = ClassStats {
                sent: Counters::get(&c.class_tx_packets[i]),
                dropped: Counters::get(&c.class_dropped[i]),
                queued: Counters::get(&c.class_queued[i]),
            };
            (k.as_str().to_string(), s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every counter of the table reaches the answer, under its own name.
    #[test]
    fn every_table_counter_is_in_the_answer() {
        let c = Counters::default();
        Counters::inc(&c.relayed, 7);
        Counters::inc(&c.tso_segments, 3);
        let s = stats(&c, true, 64, true);
        for d in TABLE {
            assert!(s.get(d.section, d.key).is_some(), "{} missing", d.name());
        }
        assert_eq!(s.get("routing", "relayed"), Some(7));
        assert_eq!(s.get("offload", "tso_segments"), Some(3));
        let json = serde_json::to_value(&s).unwrap();
        let counted: usize = ["link", "tun", "offload", "routing", "security", "backbone"]
            .iter()
            .map(|k| json[k].as_object().unwrap().len())
            .sum();
        let plain = TABLE
            .iter()
            .filter(|d| d.section != "batching" && d.section != "airtime")
            .count();
        assert_eq!(
            counted, plain,
            "a section holds a counter the table has not"
        );
    }
}
