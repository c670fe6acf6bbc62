//! `/metrics`: Prometheus/OpenMetrics text built with prometheus-client.
//!
//! The data plane counts in plain atomics (no lock per packet); this
//! collector reads them at scrape time and encodes them as const metrics.

use crate::config::RoleKind;
use crate::shared::Shared;
use common::counters::{Counters, Dir, DropReason, Exported, Syscall, BATCH_BUCKETS, TABLE};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::fmt::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Reads the node's counters on every scrape.
pub struct NodeCollector {
    shared: Arc<Shared>,
    role: RoleKind,
    tun_name: String,
}

impl std::fmt::Debug for NodeCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCollector")
            .field("role", &self.role)
            .finish()
    }
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> Result<(), Error> {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> Result<(), Error> {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// Packets the kernel dropped because the TUN queue toward us was full.
fn tun_queue_drops(tun: &str) -> u64 {
    std::fs::read_to_string(format!("/sys/class/net/{tun}/statistics/tx_dropped"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

impl Collector for NodeCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), Error> {
        self.encode_counters(&mut e)?;
        self.encode_families(&mut e)?;
        self.encode_classes(&mut e)?;
        self.encode_gauges(&mut e)
    }
}

impl NodeCollector {
    /// Per priority class: packets sent and dropped (counters), waiting
    /// (a gauge), labelled `class`.
    fn encode_classes(&self, e: &mut DescriptorEncoder) -> Result<(), Error> {
        let c: &Counters = &self.shared.counters;
        for (name, help, values, kind) in [
            (
                "v2x_class_sent_packets",
                "Packets planned onto the link, by priority class (a TCP super-packet counts once).",
                &c.class_tx_packets,
                MetricType::Counter,
            ),
            (
                "v2x_class_dropped_packets",
                "Packets dropped on the way to the link, by priority class.",
                &c.class_dropped,
                MetricType::Counter,
            ),
            (
                "v2x_class_queued_packets",
                "Packets waiting in the TUN backlog, by priority class.",
                &c.class_queued,
                MetricType::Gauge,
            ),
        ] {
            let mut m = e.encode_descriptor(name, help, None, kind)?;
            for class in common::priority::Class::ALL {
                let labels = [("class", class.as_str())];
                let v = get(&values[class.index()]);
                match kind {
                    MetricType::Gauge => ConstGauge::new(v as f64).encode(m.encode_family(&labels)?)?,
                    _ => ConstCounter::new(v).encode(m.encode_family(&labels)?)?,
                }
            }
        }
        Ok(())
    }

    /// The counter table's exported counters, and the TUN queue's drops
    /// the kernel counts.
    fn encode_counters(&self, e: &mut DescriptorEncoder) -> Result<(), Error> {
        let c: &Counters = &self.shared.counters;
        for d in TABLE {
            let exported = match d.exported {
                Exported::Both => true,
                Exported::ObuOnly => self.role == RoleKind::Obu,
                Exported::No => false,
            };
            if exported {
                counter(e, d.metric, d.help, (d.read)(c))?;
            }
        }
        counter(
            e,
            "v2x_tun_queue_dropped",
            "Packets the kernel dropped because the TUN queue toward the daemon was full.",
            tun_queue_drops(&self.tun_name),
        )
    }

    /// Labelled families: drops by reason, airtime by kind, syscalls by
    /// operation, batch sizes by direction.
    fn encode_families(&self, e: &mut DescriptorEncoder) -> Result<(), Error> {
        let c: &Counters = &self.shared.counters;
        {
            let mut m = e.encode_descriptor(
                "v2x_dropped",
                "Packets, frames or messages dropped, by reason.",
                None,
                MetricType::Counter,
            )?;
            for r in DropReason::ALL {
                let labels = [("reason", r.as_str())];
                ConstCounter::new(c.drops(r)).encode(m.encode_family(&labels)?)?;
            }
        }
        {
            let mut m = e.encode_descriptor(
                "v2x_airtime_seconds",
                "Estimated airtime of the frames this node sent, by kind (802.11p model, [link] phy_rate_mbps).",
                None,
                MetricType::Counter,
            )?;
            for k in common::airtime::FrameKind::ALL {
                let labels = [("kind", k.as_str())];
                let secs = get(&c.airtime_tx_us[k as usize]) as f64 / 1e6;
                ConstCounter::new(secs).encode(m.encode_family(&labels)?)?;
            }
        }
        {
            let c = ConstCounter::new(get(&c.airtime_rx_us) as f64 / 1e6);
            c.encode(e.encode_descriptor(
                "v2x_airtime_heard_seconds",
                "Estimated airtime of the frames this node heard (802.11p model).",
                None,
                c.metric_type(),
            )?)?;
        }
        {
            let g = ConstGauge::new(
                self.shared.channel_busy_permille.load(Ordering::Relaxed) as f64 / 1000.0,
            );
            g.encode(e.encode_descriptor(
                "v2x_channel_busy_ratio",
                "Estimated share of the last second the channel was busy with frames sent or heard.",
                None,
                g.metric_type(),
            )?)?;
        }
        {
            let mut m = e.encode_descriptor(
                "v2x_syscalls",
                "Data-path system calls, by operation.",
                None,
                MetricType::Counter,
            )?;
            for s in Syscall::ALL {
                let labels = [("op", s.as_str())];
                ConstCounter::new(c.syscalls(s)).encode(m.encode_family(&labels)?)?;
            }
        }
        {
            let mut m = e.encode_descriptor(
                "v2x_batch_size",
                "Packets per batch: frames per link syscall, packets per TUN drain or delivery.",
                None,
                MetricType::Histogram,
            )?;
            for d in Dir::ALL {
                let h = c.histogram(d);
                let buckets: Vec<(f64, u64)> = h
                    .buckets
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (BATCH_BUCKETS.get(i).map_or(f64::MAX, |v| *v as f64), get(b)))
                    .collect();
                let labels = [("direction", d.as_str())];
                m.encode_family(&labels)?
                    .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                        get(&h.sum) as f64,
                        get(&h.count),
                        &buckets,
                        None,
                    )?;
            }
        }
        Ok(())
    }

    /// Gauges: the role's tables, readiness, kernel routes, the link, the
    /// data plane's scheduling, uptime.
    fn encode_gauges(&self, e: &mut DescriptorEncoder) -> Result<(), Error> {
        let snap = self.shared.snapshot();
        gauge(
            e,
            "v2x_neighbors",
            "Neighbours currently heard on the link.",
            snap.neighbor_count as i64,
        )?;
        gauge(
            e,
            "v2x_routes",
            "Routes held (RSU: OBUs; OBU: upstream plus downstream).",
            snap.route_count as i64,
        )?;
        gauge(
            e,
            "v2x_ready",
            "1 when ready (link up and, for an OBU, an upstream chosen).",
            i64::from(snap.ready && self.shared.link_up.load(Ordering::Relaxed)),
        )?;
        let (routes, uplink) = {
            let b = self
                .shared
                .backbone
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let b = b.as_ref();
            (b.map_or(0, |b| b.routes.len()), b.and_then(|b| b.uplink))
        };
        gauge(
            e,
            "v2x_backbone_routes",
            "Kernel routes installed via the TUN now (RSU: one per address of each attached OBU; OBU: tun.routes).",
            routes as i64,
        )?;
        if let Some(up) = uplink {
            gauge(
                e,
                "v2x_backbone_uplink_up",
                "RSU: 1 while the [backbone] uplink_check prefix is in the kernel table.",
                i64::from(up),
            )?;
        }
        gauge(
            e,
            "v2x_link_up",
            "1 while the radio interface is up.",
            i64::from(self.shared.link_up.load(Ordering::Relaxed)),
        )?;
        gauge(
            e,
            "v2x_dataplane_realtime",
            "1 while the data-plane thread runs under realtime scheduling.",
            i64::from(self.shared.realtime.load(Ordering::Relaxed)),
        )?;
        counter(
            e,
            "v2x_dataplane_realtime_switches",
            "Times [dataplane] realtime = \"auto\" switched realtime scheduling on or off.",
            get(&self.shared.realtime_switches),
        )?;
        gauge(
            e,
            "v2x_uptime_seconds",
            "Seconds since the daemon started.",
            self.shared.uptime().as_secs() as i64,
        )?;
        Ok(())
    }
}

/// The registry served at `/metrics`.
pub fn registry(shared: Arc<Shared>, role: RoleKind, tun_name: String) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(NodeCollector {
        shared,
        role,
        tun_name,
    }));
    r
}

/// Encodes the registry as OpenMetrics text.
pub fn render(r: &Registry) -> String {
    let mut s = String::new();
    if prometheus_client::encoding::text::encode(&mut s, r).is_err() {
        s.clear();
    }
    s
}
