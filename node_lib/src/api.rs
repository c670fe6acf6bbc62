//! HTTP API (axum): health, readiness, status, stats, neighbours, routes.

use crate::config::Config;
use crate::shared::Shared;
use api::paths;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::NodeId;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Facts fixed at start, shown by `/api/v1/status`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NodeInfo {
    pub role: &'static str,
    pub id: NodeId,
    pub mac: NodeId,
    pub version: &'static str,
    pub link_interface: String,
    pub link_mtu: usize,
    pub ethertype: u16,
    pub tun_name: String,
    pub tun_mtu: usize,
    /// Whether TUN offload is actually on (it falls back when refused).
    pub tun_offload: bool,
    /// Whether UDP datagrams are coalesced on TUN writes (kernel USO).
    pub tun_udp_offload: bool,
}

#[derive(Clone)]
pub struct ApiState {
    pub shared: Arc<Shared>,
    pub info: Arc<NodeInfo>,
    pub config: Arc<std::sync::Mutex<Config>>,
    pub metrics: Arc<prometheus_client::registry::Registry>,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(paths::HEALTHZ, get(|| async { "ok\n" }))
        .route(paths::READYZ, get(readyz))
        .route(paths::STATUS, get(status))
        .route(paths::STATS, get(stats))
        .route(paths::NEIGHBORS, get(neighbors))
        .route(paths::ROUTES, get(routes))
        .route(paths::TOPOLOGY, get(topology))
        .route(paths::PROBE, post(probe))
        .route(paths::METRICS, get(metrics))
        .with_state(state)
}

async fn readyz(State(s): State<ApiState>) -> Response {
    let snap = s.shared.snapshot();
    let link_up = s.shared.link_up.load(Ordering::Relaxed);
    let body = api::Readiness {
        ready: snap.ready && link_up,
        link_up,
        role_ready: snap.ready,
    };
    let code = if body.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// A section of the configuration as its TOML table.
fn table(v: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

async fn status(State(s): State<ApiState>) -> Json<api::Status> {
    let cfg = s.config.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let i = &s.info;
    Json(api::Status {
        role: i.role.into(),
        id: i.id,
        mac: i.mac,
        version: i.version.into(),
        uptime_seconds: s.shared.uptime().as_secs_f64(),
        link: api::LinkStatus {
            interface: i.link_interface.clone(),
            mtu: i.link_mtu,
            ethertype: format!("0x{:04x}", i.ethertype),
            up: s.shared.link_up.load(Ordering::Relaxed),
        },
        tun: api::TunStatus {
            name: i.tun_name.clone(),
            mtu: i.tun_mtu,
            addresses: cfg.fixed.tun_addresses.clone(),
            offload: i.tun_offload,
            udp_offload: i.tun_udp_offload,
        },
        dataplane: api::DataplaneStatus {
            realtime: s.shared.realtime.load(Ordering::Relaxed),
            realtime_switches: s.shared.realtime_switches.load(Ordering::Relaxed),
        },
        config: api::StatusConfig {
            routing: table(&cfg.live.routing),
            batching: table(&cfg.fixed.batching),
            dataplane: table(&cfg.fixed.dataplane),
            log_level: cfg.live.log_level.clone(),
        },
    })
}

async fn stats(State(s): State<ApiState>) -> Json<api::Stats> {
    let b = s
        .config
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .fixed
        .batching
        .clone();
    let mut v = crate::stats_json::stats(&s.shared.counters, b.enabled, b.max_batch, b.aggregate);
    let busy = s.shared.channel_busy_permille.load(Ordering::Relaxed);
    v.airtime.channel_busy_ratio = busy as f64 / 1000.0;
    Json(v)
}

async fn neighbors(State(s): State<ApiState>) -> Json<Vec<api::Neighbor>> {
    Json(crate::api_view::neighbors(&s.shared.snapshot()))
}

async fn routes(State(s): State<ApiState>) -> Json<api::Routes> {
    let mut routes = crate::api_view::routes(&s.shared.snapshot());
    if let api::Routes::Rsu(r) = &mut routes {
        r.backbone = s
            .shared
            .backbone
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
    }
    Json(routes)
}

/// The cell as a tree (an RSU's; an OBU shows its own descendants).
async fn topology(State(s): State<ApiState>) -> Json<api::TopologyNode> {
    let routes = crate::api_view::routes(&s.shared.snapshot());
    Json(crate::topology::tree(s.info.id, routes.downstream()))
}

/// Longest a probe may wait for its answer.
const PROBE_TIMEOUT_MAX_MS: u64 = 10_000;

/// Sends one overlay probe and waits for its answer: the target's reply,
/// a relay's "TTL exceeded", the reason it could not go, or a timeout.
async fn probe(State(s): State<ApiState>, Json(b): Json<api::ProbeRequest>) -> Response {
    let target = match parse_target(&b.target) {
        Ok(t) => t,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response(),
    };
    let ttl = b.ttl.unwrap_or(16).max(1);
    let timeout = std::time::Duration::from_millis(
        b.timeout_ms.unwrap_or(1000).clamp(1, PROBE_TIMEOUT_MAX_MS),
    );
    let id = s.shared.send_probe(target, ttl);
    let started = std::time::Instant::now();
    loop {
        if let Some(r) = s.shared.take_probe_result(id) {
            return Json(api::ProbeAnswer {
                target: b.target,
                ttl,
                answered: r.kind == "reply" || r.kind == "ttl_exceeded",
                kind: r.kind.into(),
                from: Some(r.from),
                hops: Some(r.hops),
                rtt_ms: Some(r.rtt_us as f64 / 1000.0),
            })
            .into_response();
        }
        if started.elapsed() >= timeout {
            return Json(api::ProbeAnswer {
                target: b.target,
                ttl,
                answered: false,
                kind: "timeout".into(),
                from: None,
                hops: None,
                rtt_ms: None,
            })
            .into_response();
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// A probe target: a node id or an IP address.
pub fn parse_target(t: &str) -> Result<common::wire::ProbeTarget, String> {
    use common::wire::ProbeTarget;
    if let Ok(a) = t.parse::<std::net::IpAddr>() {
        return Ok(ProbeTarget::Addr(a));
    }
    match t.parse::<NodeId>() {
        Ok(n) if !n.is_group() => Ok(ProbeTarget::Node(n)),
        _ => Err(format!(
            "target `{t}` is neither a node id (aa:bb:cc:dd:ee:ff) nor an IP address"
        )),
    }
}

async fn metrics(State(s): State<ApiState>) -> Response {
    let body = crate::metrics::render(&s.metrics);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
