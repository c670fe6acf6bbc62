//! `/metrics`: Prometheus/OpenMetrics text built with prometheus-client.
//!
//! The data plane counts in plain atomics (no lock per packet); this
//! collector reads them at scrape time and encodes them as const metrics.

use crate::config::RoleKind;
use crate::dataplane::Shared;
use common::counters::{Counters, Dir, DropReason, Syscall, BATCH_BUCKETS};
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
        let c: &Counters = &self.shared.counters;
        for (name, help, v) in [
            (
                "v2x_link_rx_frames",
                "Frames received on the radio link.",
                &c.link_rx_frames,
            ),
            (
                "v2x_link_tx_frames",
                "Frames sent on the radio link.",
                &c.link_tx_frames,
            ),
            (
                "v2x_link_rx_bytes",
                "Bytes received on the radio link (Ethernet frames).",
                &c.link_rx_bytes,
            ),
            (
                "v2x_link_tx_bytes",
                "Bytes sent on the radio link (Ethernet frames).",
                &c.link_tx_bytes,
            ),
            (
                "v2x_link_rx_messages",
                "Protocol messages received (several per aggregated frame).",
                &c.link_rx_messages,
            ),
            (
                "v2x_link_tx_messages",
                "Protocol messages sent.",
                &c.link_tx_messages,
            ),
            (
                "v2x_tun_rx_packets",
                "IP packets read from the TUN device.",
                &c.tun_rx_packets,
            ),
            (
                "v2x_tun_tx_packets",
                "IP packets written to the TUN device.",
                &c.tun_tx_packets,
            ),
            (
                "v2x_tun_rx_bytes",
                "Bytes read from the TUN device.",
                &c.tun_rx_bytes,
            ),
            (
                "v2x_tun_tx_bytes",
                "Bytes written to the TUN device.",
                &c.tun_tx_bytes,
            ),
            (
                "v2x_aggregated_frames",
                "Frames that carried more than one message.",
                &c.aggregated_frames,
            ),
            (
                "v2x_aggregated_messages",
                "Messages that shared a frame with an earlier one.",
                &c.aggregated_messages,
            ),
            (
                "v2x_partial_sends",
                "sendmmsg calls that sent fewer frames than asked.",
                &c.partial_sends,
            ),
            (
                "v2x_send_retries",
                "Sends retried after a full socket queue.",
                &c.send_retries,
            ),
            (
                "v2x_link_errors",
                "Errors from the link socket.",
                &c.link_errors,
            ),
            (
                "v2x_tun_errors",
                "Errors from the TUN device.",
                &c.tun_errors,
            ),
            (
                "v2x_relayed",
                "Data messages forwarded for other nodes.",
                &c.relayed,
            ),
            (
                "v2x_v2v_turnaround",
                "Upstream data turned around toward another OBU (RSU).",
                &c.v2v_turnaround,
            ),
        ] {
            counter(&mut e, name, help, get(v))?;
        }
        counter(
            &mut e,
            "v2x_security_handshakes",
            "Security handshakes completed (sessions established or renewed).",
            get(&c.handshakes),
        )?;
        counter(
            &mut e,
            "v2x_restarts_seen",
            "Peer restarts noticed (an RSU beacon with a new epoch); encrypted, each renews the session at once.",
            get(&c.restarts_seen),
        )?;
        counter(
            &mut e,
            "v2x_seq_resyncs",
            "Sequence windows re-synchronised after a source's numbers jumped out of them.",
            get(&c.seq_resyncs),
        )?;
        counter(
            &mut e,
            "v2x_handovers",
            "OBU: changes of RSU made before breaking (attached to the new RSU, then left the old one).",
            get(&c.handovers),
        )?;
        counter(
            &mut e,
            "v2x_obus_left",
            "RSU: OBUs that left for another RSU; their routes were withdrawn at once.",
            get(&c.obus_left),
        )?;
        counter(
            &mut e,
            "v2x_certs_issued",
            "RSU: certificates sent to attached OBUs (secure modes).",
            get(&c.certs_issued),
        )?;
        counter(
            &mut e,
            "v2x_certs_accepted",
            "OBU: certificates for our own key accepted from a trusted RSU.",
            get(&c.certs_accepted),
        )?;
        counter(
            &mut e,
            "v2x_revoked",
            "After a trust-list reload: OBUs cut (RSU), RSUs left (OBU).",
            get(&c.obus_revoked),
        )?;
        counter(
            &mut e,
            "v2x_broadcasts_verified",
            "Signed broadcasts whose certificate and signature checked out.",
            get(&c.broadcasts_verified),
        )?;
        counter(
            &mut e,
            "v2x_backbone_route_installs",
            "RSU: kernel routes for attached OBUs added or replaced ([backbone] export_routes).",
            get(&c.backbone_installs),
        )?;
        counter(
            &mut e,
            "v2x_backbone_route_removals",
            "RSU: kernel routes for OBUs removed (left, expired, or the daemon stopping).",
            get(&c.backbone_removals),
        )?;
        counter(
            &mut e,
            "v2x_backbone_route_failures",
            "RSU: kernel route operations that failed (each is retried within a second).",
            get(&c.backbone_failures),
        )?;
        if self.role == RoleKind::Obu {
            counter(
                &mut e,
                "v2x_upstream_changes",
                "Times the OBU changed its upstream.",
                get(&c.upstream_changes),
            )?;
        }
        counter(
            &mut e,
            "v2x_tun_queue_dropped",
            "Packets the kernel dropped because the TUN queue toward the daemon was full.",
            tun_queue_drops(&self.tun_name),
        )?;
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
        let snap = self.shared.snapshot();
        gauge(
            &mut e,
            "v2x_neighbors",
            "Neighbours currently heard on the link.",
            snap.neighbor_count as i64,
        )?;
        gauge(
            &mut e,
            "v2x_routes",
            "Routes held (RSU: OBUs; OBU: upstream plus downstream).",
            snap.route_count as i64,
        )?;
        gauge(
            &mut e,
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
            &mut e,
            "v2x_backbone_routes",
            "Kernel routes installed via the TUN now (RSU: one per address of each attached OBU; OBU: tun.routes).",
            routes as i64,
        )?;
        if let Some(up) = uplink {
            gauge(
                &mut e,
                "v2x_backbone_uplink_up",
                "RSU: 1 while the [backbone] uplink_check prefix is in the kernel table.",
                i64::from(up),
            )?;
        }
        gauge(
            &mut e,
            "v2x_link_up",
            "1 while the radio interface is up.",
            i64::from(self.shared.link_up.load(Ordering::Relaxed)),
        )?;
        gauge(
            &mut e,
            "v2x_dataplane_realtime",
            "1 while the data-plane thread runs under realtime scheduling.",
            i64::from(self.shared.realtime.load(Ordering::Relaxed)),
        )?;
        counter(
            &mut e,
            "v2x_dataplane_realtime_switches",
            "Times [dataplane] realtime = \"auto\" switched realtime scheduling on or off.",
            get(&self.shared.realtime_switches),
        )?;
        gauge(
            &mut e,
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
