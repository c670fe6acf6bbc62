//! The typed results of a run: one struct per kind of measurement, all
//! kinds in [`Measurement`], and the JSON document of a run
//! ([`Results`], written by `--out` and read back by `--report`). A figure
//! a mode did not measure is `None` and left out of the JSON; every field
//! has a default, so files written before a field was added still load.
//! The JSON keys are the field names (a few groups of them are flattened
//! into their result, as `tcp_mbps` beside `path`).

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// The `path` of the comparisons in turns: the price of encryption, this
/// build against another, and the paths of `--probe turns`.
pub const SECURITY_TURNS: &str = "security_turns";
pub const OLD_NEW_TURNS: &str = "old_new_turns";
pub const PROBE_TURNS: &str = "probe_turns";
/// The `path` of the other kinds that are not one path's run.
pub const UDP64_PAIRED: &str = "udp64_paired";
pub const PING_IDLE_TURNS: &str = "ping_idle_turns";
pub const LINK_CEILING: &str = "link_ceiling";
pub const FLOOR: &str = "floor";
pub const PEER: &str = "peer";

/// The JSON document of a run.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(default)]
pub struct Results {
    /// Seconds per measurement.
    pub duration_s: Option<u64>,
    /// Whether the data planes were bound to a CPU each (`--pin`).
    pub pinned: bool,
    /// The `[dataplane]` lines every daemon ran with.
    pub dataplane: String,
    pub results: Vec<Measurement>,
    /// The report printed at the end of the run.
    pub markdown: String,
}

/// One entry of a run's results. In the JSON each is an object whose
/// `path` says its kind: a path's name for [`PathRun`], the label of a
/// comparison in turns for [`Turns`], a fixed name for the others.
#[derive(Serialize, Debug, Clone)]
#[serde(untagged)]
pub enum Measurement {
    Path(PathRun),
    Udp64Paired(Udp64Paired),
    PingTurns(PingTurns),
    LinkCeiling(LinkCeilingRun),
    Floor(FloorRun),
    Turns(Turns),
    Peer(PeerRow),
}

impl<'de> Deserialize<'de> for Measurement {
    /// The kind from the entry's `path`, then the entry as that kind.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(d)?;
        let path = v.get("path").and_then(|p| p.as_str()).unwrap_or_default();
        let m = match path {
            UDP64_PAIRED => serde_json::from_value(v).map(Measurement::Udp64Paired),
            PING_IDLE_TURNS => serde_json::from_value(v).map(Measurement::PingTurns),
            LINK_CEILING => serde_json::from_value(v).map(Measurement::LinkCeiling),
            // A probe on the floor path is a path's run (it has no `cpus`).
            FLOOR if v.get("cpus").is_some() => serde_json::from_value(v).map(Measurement::Floor),
            SECURITY_TURNS | OLD_NEW_TURNS | PROBE_TURNS => {
                serde_json::from_value(v).map(Measurement::Turns)
            }
            PEER => serde_json::from_value(v).map(Measurement::Peer),
            _ => serde_json::from_value(v).map(Measurement::Path),
        };
        m.map_err(D::Error::custom)
    }
}

/// TCP bulk through a path (one iperf3 run).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Tcp {
    /// Received by the server.
    pub tcp_mbps: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_retransmits: Option<u64>,
    /// Payload bytes the server received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_bytes: Option<u64>,
    /// The whole machine's busy CPU per 1430 bytes of payload, in µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_machine_us_per_segment: Option<f64>,
    /// The machine's busy share over the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_machine_busy_share: Option<f64>,
}

/// UDP with 64-byte payloads at full offered load: packets/s read by
/// iperf3, the share lost, packets/s reaching the receiving host and sent.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Udp64 {
    pub udp64_pps: f64,
    pub udp64_loss: f64,
    pub udp64_arrived_pps: f64,
    pub udp64_sent_pps: f64,
}

/// UDP with 1400-byte payloads, as [`Udp64`].
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Udp1400 {
    pub udp1400_pps: f64,
    pub udp1400_loss: f64,
    pub udp1400_arrived_pps: f64,
    pub udp1400_sent_pps: f64,
}

/// Idle ping (300 pings 10 ms apart).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(default)]
pub struct PingIdle {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_idle_median_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_idle_p99_ms: Option<f64>,
}

/// Ping at 50 % of the TCP rate, and the scheduler's tail beside it (a
/// loopback echo with ordinary and with realtime threads).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(default)]
pub struct Load {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_load50_median_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_load50_p99_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wake_load50_median_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wake_load50_p99_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wake_rt_load50_median_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wake_rt_load50_p99_us: Option<f64>,
}

/// The wake-up cost: median UDP round trip answered by the far kernel
/// and by an echo thread there.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(default)]
pub struct WakeCost {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp_kernel_median_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp_echo_median_us: Option<f64>,
}

/// One daemon's CPU over a path's UDP and TCP runs.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(default)]
pub struct NodeCpu {
    pub node: String,
    pub cpu_s: f64,
    /// Packets it forwarded.
    pub packets: u64,
    pub us_per_packet: f64,
}

/// One path's run (`path` its name): every figure its mode measured.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(default)]
pub struct PathRun {
    pub path: String,
    pub hops: usize,
    #[serde(flatten)]
    pub udp64: Option<Udp64>,
    /// Link frames per packet the client's daemon sent (aggregation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp64_frames_per_packet: Option<f64>,
    #[serde(flatten)]
    pub udp1400: Option<Udp1400>,
    #[serde(flatten)]
    pub tcp: Option<Tcp>,
    /// The sending daemon's CPU seconds over the TCP run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_sender_cpu_s: Option<f64>,
    /// Each daemon's CPU per packet (paths with daemons).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Vec<NodeCpu>>,
    #[serde(flatten)]
    pub ping_idle: PingIdle,
    #[serde(flatten)]
    pub wake: WakeCost,
    #[serde(flatten)]
    pub load: Load,
    /// `--probe ceiling`: the link ceiling on this path's namespaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<Ceilings>,
    /// `--probe` on the floor path: packets each relay moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor_moved: Option<Vec<u64>>,
    /// `--probe` with daemons: each daemon's CPU seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_s: Option<Vec<f64>>,
}

impl PathRun {
    /// An empty run of `path` over `hops`.
    pub fn new(path: &str, hops: usize) -> PathRun {
        PathRun {
            path: path.into(),
            hops,
            ..PathRun::default()
        }
    }

    pub fn tcp_mbps(&self) -> Option<f64> {
        self.tcp.as_ref().map(|t| t.tcp_mbps)
    }
}

/// UDP 64 B through the batched and the unbatched daemons in turns.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(default)]
pub struct Udp64Paired {
    pub path: String,
    pub hops: usize,
    /// Read by iperf3, each round.
    pub batched_pps: Vec<f64>,
    pub unbatched_pps: Vec<f64>,
    pub batched_median_pps: Option<f64>,
    pub unbatched_median_pps: Option<f64>,
    /// Reaching the receiving host, each round.
    pub batched_arrived_pps: Vec<f64>,
    pub unbatched_arrived_pps: Vec<f64>,
    pub batched_arrived_median_pps: Option<f64>,
    pub unbatched_arrived_median_pps: Option<f64>,
}

/// Idle ping through the kernel, batched and unbatched networks in turns:
/// pooled median and p99 of each and each round's median.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(default)]
pub struct PingTurns {
    pub path: String,
    pub hops: usize,
    pub rounds: usize,
    /// Pings per path and round.
    pub count: u32,
    pub kernel_median_ms: Option<f64>,
    pub kernel_p99_ms: Option<f64>,
    pub kernel_round_medians_ms: Vec<Option<f64>>,
    pub batched_median_ms: Option<f64>,
    pub batched_p99_ms: Option<f64>,
    pub batched_round_medians_ms: Vec<Option<f64>>,
    pub unbatched_median_ms: Option<f64>,
    pub unbatched_p99_ms: Option<f64>,
    pub unbatched_round_medians_ms: Vec<Option<f64>>,
}

/// The emulated radio's ceiling, batched and one frame per syscall: the
/// best of the rounds of each.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(default)]
pub struct Ceilings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batched_received_fps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batched_sent_fps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batched_tcp_mbps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unbatched_received_fps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unbatched_sent_fps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unbatched_tcp_mbps: Option<f64>,
    /// TCP payload one full-MTU frame carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_payload_per_frame: Option<usize>,
}

/// The link ceiling as a result of its own (1 hop, no daemons).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(default)]
pub struct LinkCeilingRun {
    pub path: String,
    pub hops: usize,
    #[serde(flatten)]
    pub ceiling: Ceilings,
}

/// TCP bulk of one path in the floor's turns, each round.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(default)]
pub struct FloorTcp {
    pub tcp_mbps: Vec<f64>,
    /// None in a round without the machine's figure.
    pub tcp_machine_us_per_segment: Vec<Option<f64>>,
}

/// Idle ping in the floor's turns: the pooled median of each path.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(default)]
pub struct FloorIdle {
    pub kernel_median_ms: Option<f64>,
    pub floor_median_ms: Option<f64>,
    pub batched_median_ms: Option<f64>,
    pub unbatched_median_ms: Option<f64>,
}

/// Idle ping through a floor relay that never sleeps, in turns with the
/// kernel path.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(default)]
pub struct FloorSpin {
    pub kernel_median_ms: Option<f64>,
    pub floor_spin_median_ms: Option<f64>,
}

/// The design's floor beside the kernel path and the daemons (1 hop).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(default)]
pub struct FloorRun {
    pub path: String,
    pub hops: usize,
    /// CPUs online (the budgets assume every one busy).
    pub cpus: u64,
    pub rounds: usize,
    /// TCP in turns, by path name (kernel, floor, batched, unbatched).
    pub tcp: BTreeMap<String, FloorTcp>,
    /// Packets each floor relay moved.
    pub floor_moved: Vec<u64>,
    pub idle: FloorIdle,
    /// The floor path at 50 % load.
    pub load: Load,
    pub spin: FloorSpin,
}

/// One path's figures in a comparison in turns (medians of the rounds).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(default)]
pub struct TurnsFigures {
    pub tcp_mbps: Vec<f64>,
    pub tcp_median_mbps: Option<f64>,
    /// Over every round.
    pub tcp_retransmits: u64,
    /// The daemons' CPU per 1430 bytes of TCP payload, each round.
    pub daemons_us_per_segment: Vec<f64>,
    pub daemons_median_us_per_segment: Option<f64>,
    pub udp64_arrived_pps: Vec<f64>,
    pub udp64_arrived_median_pps: Option<f64>,
    pub ping_idle_median_ms: Option<f64>,
    pub ping_idle_p99_ms: Option<f64>,
}

/// Paths compared in turns (`path` the comparison's label): each path's
/// figures under its name, the first path the reference.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(default)]
pub struct Turns {
    pub path: String,
    pub hops: usize,
    pub rounds: usize,
    /// The names of the paths, in their order.
    pub paths: Vec<String>,
    #[serde(flatten)]
    pub figures: BTreeMap<String, TurnsFigures>,
}

impl Turns {
    /// The figures of the path named `name`.
    pub fn of(&self, name: &str) -> Option<&TurnsFigures> {
        self.figures.get(name)
    }
}

/// A peer's MTU check: full-size pings with DF set, then one byte more.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(default)]
pub struct MtuCheck {
    pub at_mtu_replies: u32,
    pub at_mtu_fragments: u64,
    pub above_mtu_replies: u32,
    pub above_mtu_fragments: u64,
    /// The MTU carried everything and is the largest.
    pub verified: bool,
}

/// One row of the peers table: the kernel path, the daemons or another
/// tunnel over the same 1-hop link, or one skipped or failed.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(default)]
pub struct PeerRow {
    pub path: String,
    pub name: String,
    /// The tunnel interface's MTU.
    pub mtu: Option<u64>,
    /// What it ran with.
    pub settings: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu_check: Option<MtuCheck>,
    #[serde(flatten)]
    pub tcp: Option<Tcp>,
    /// The tunnel processes' CPU over the TCP run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel_cpu_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel_us_per_segment: Option<f64>,
    #[serde(flatten)]
    pub udp64: Option<Udp64>,
    #[serde(flatten)]
    pub ping_idle: PingIdle,
    /// IPv4 fragments made during the measurements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub radio_fragments: Option<u64>,
}

impl PeerRow {
    /// A row named `name`, nothing measured yet.
    pub fn new(name: &str, mtu: Option<u64>, settings: &str) -> PeerRow {
        PeerRow {
            path: PEER.into(),
            name: name.into(),
            mtu,
            settings: settings.into(),
            ..PeerRow::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> PathRun {
        PathRun {
            udp64: Some(Udp64 {
                udp64_pps: 1.0,
                udp64_loss: 0.5,
                udp64_arrived_pps: 2.0,
                udp64_sent_pps: 3.0,
            }),
            tcp: Some(Tcp {
                tcp_mbps: 900.0,
                tcp_retransmits: Some(3),
                tcp_bytes: Some(600_000_000),
                ..Tcp::default()
            }),
            ping_idle: PingIdle {
                ping_idle_median_ms: Some(0.1),
                ping_idle_p99_ms: None,
            },
            cpu: Some(vec![NodeCpu {
                node: "obu1".into(),
                cpu_s: 1.5,
                packets: 10,
                us_per_packet: 2.0,
            }]),
            ..PathRun::new("batched", 2)
        }
    }

    /// The keys of the JSON file stay flat, as the old files had them.
    #[test]
    fn a_path_run_keeps_its_flat_keys() {
        let v = serde_json::to_value(Measurement::Path(run())).expect("json");
        assert_eq!(v["path"], "batched");
        assert_eq!(v["hops"], 2);
        assert_eq!(v["tcp_mbps"], 900.0);
        assert_eq!(v["tcp_retransmits"], 3);
        assert_eq!(v["udp64_arrived_pps"], 2.0);
        assert_eq!(v["ping_idle_median_ms"], 0.1);
        assert_eq!(v["cpu"][0]["node"], "obu1");
        // What was not measured is not written.
        for key in ["ping_idle_p99_ms", "udp1400_pps", "cpu_s", "ceiling"] {
            assert!(v.get(key).is_none(), "{key} in {v}");
        }
    }

    #[test]
    fn every_kind_reads_back_as_itself() {
        let mut turns = Turns {
            path: SECURITY_TURNS.into(),
            hops: 1,
            rounds: 3,
            paths: vec!["batched".into()],
            ..Turns::default()
        };
        turns.figures.insert(
            "batched".into(),
            TurnsFigures {
                tcp_median_mbps: Some(5.0),
                ..TurnsFigures::default()
            },
        );
        let floor = FloorRun {
            path: FLOOR.into(),
            cpus: 2,
            ..FloorRun::default()
        };
        let doc = Results {
            duration_s: Some(5),
            pinned: true,
            dataplane: "a = 1".into(),
            results: vec![
                Measurement::Path(run()),
                Measurement::Path(PathRun::new("kernel", 1)),
                Measurement::Turns(turns),
                Measurement::Floor(floor),
                Measurement::Peer(PeerRow::new("tinc none", Some(1454), "s")),
                Measurement::LinkCeiling(LinkCeilingRun {
                    path: LINK_CEILING.into(),
                    ..LinkCeilingRun::default()
                }),
            ],
            markdown: "md".into(),
        };
        let text = serde_json::to_string(&doc).expect("json");
        let back: Results = serde_json::from_str(&text).expect("read back");
        assert_eq!(back.duration_s, Some(5));
        assert_eq!(
            serde_json::to_string(&back).expect("json"),
            text,
            "the same document"
        );
        assert!(matches!(&back.results[0], Measurement::Path(r) if *r == run()));
        assert!(matches!(&back.results[2], Measurement::Turns(t)
            if t.of("batched").and_then(|f| f.tcp_median_mbps) == Some(5.0)));
        assert!(matches!(&back.results[3], Measurement::Floor(f) if f.cpus == 2));
        assert!(matches!(&back.results[4], Measurement::Peer(p) if p.mtu == Some(1454)));
        assert!(matches!(&back.results[5], Measurement::LinkCeiling(_)));
    }

    /// Nulls where a figure was not measured, as older files have them.
    #[test]
    fn nulls_read_as_not_measured() {
        let text = r#"{ "path": "kernel", "hops": 1, "tcp_mbps": 10.0, "tcp_retransmits": null,
            "ping_idle_median_ms": null, "udp64_pps": 1.0 }"#;
        let m: Measurement = serde_json::from_str(text).expect("read");
        let Measurement::Path(r) = m else {
            panic!("not a path's run: {m:?}")
        };
        assert_eq!(r.tcp_mbps(), Some(10.0));
        assert_eq!(r.tcp.and_then(|t| t.tcp_retransmits), None);
        assert_eq!(r.ping_idle.ping_idle_median_ms, None);
        assert!(r.udp64.is_none(), "a partial UDP group is none");
    }
}
