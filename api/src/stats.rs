//! `/api/v1/stats`: the counters, by section.
//!
//! Counters are named `section.key` (`link.rx_frames`, `drops.too_big`);
//! the list is the counter table's (`common::counters`), so a section is a
//! map and a new counter needs no change here.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Counter values of one section, by name.
pub type Section = BTreeMap<String, u64>;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Stats {
    pub link: Section,
    pub tun: Section,
    pub batching: Batching,
    pub offload: Section,
    pub routing: Section,
    pub security: Section,
    pub airtime: Airtime,
    pub backbone: Section,
    /// Frames and packets dropped, by reason (every reason, zeros included).
    pub drops: Section,
    /// Per priority class (`voice`, `video`, `best-effort`,
    /// `background`): packets sent, dropped and waiting.
    #[serde(default)]
    pub classes: BTreeMap<String, ClassStats>,
}

/// One priority class's traffic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassStats {
    /// Packets planned onto the link (a TCP super-packet counts once).
    pub sent: u64,
    /// Packets dropped on the way to the link.
    pub dropped: u64,
    /// Packets waiting in the TUN backlog now.
    pub queued: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Batching {
    /// The settings in force.
    pub enabled: bool,
    pub max_batch: usize,
    pub aggregate: bool,
    /// Batch sizes by direction (`link_rx`, `link_tx`, `tun_rx`, `tun_tx`).
    pub batches: BTreeMap<String, BatchHistogram>,
    /// System calls by operation.
    pub syscalls: Section,
    /// The section's counters (`syscalls_total`, `packets_moved`, ...).
    #[serde(flatten)]
    pub counters: Section,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BatchHistogram {
    pub batches: u64,
    pub packets: u64,
    /// Batches by size, keyed by the bucket's upper bound (`"+Inf"` last).
    pub size_histogram: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Airtime {
    /// The estimated share of the last second the channel was busy, 0..1.
    pub channel_busy_ratio: f64,
    /// Time on air by this node and heard from others, microseconds.
    #[serde(flatten)]
    pub counters: Section,
}

impl Stats {
    /// A counter by section and name (`("routing", "relayed")`), for tools
    /// that take counter names from their user.
    pub fn get(&self, section: &str, key: &str) -> Option<u64> {
        let s = match section {
            "link" => &self.link,
            "tun" => &self.tun,
            "batching" => &self.batching.counters,
            "offload" => &self.offload,
            "routing" => &self.routing,
            "security" => &self.security,
            "airtime" => &self.airtime.counters,
            "backbone" => &self.backbone,
            "drops" => &self.drops,
            _ => return None,
        };
        s.get(key).copied()
    }
}
