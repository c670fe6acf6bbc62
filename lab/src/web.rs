//! The web view's server: one page (`lab/web/index.html`, compiled in: no
//! CDN, no file outside the binary, the machines are offline) and its API,
//! for a live run (`run --web`) and for a recorded one (`view DIR`).
//!
//! | path | answer |
//! |---|---|
//! | `/` | the page |
//! | `/api/network` | the network now (live) or at `?t=` (replay) |
//! | `/api/events` | server-sent events: the network 5 times a second (live) |
//! | `/api/layout` | names, roles, flows, bounds |
//! | `/api/series` | plot points, one a second |
//! | `/api/frames` | replay: how many frames and their times |
//! | `/api/frame/{i}` | replay: frame `i` as `/api/network` |
//! | `/api/node/{name}` | live: the node's routes, counters and drops from its daemon |
//!
//! The server runs on its own thread with a small tokio runtime and never
//! blocks the run: it reads the shared view under a short lock.

use crate::live::SharedView;
use crate::view::{Frame, Layout, NetworkView, Point};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const PAGE: &str = include_str!("../web/index.html");
/// Pushes per second to each page.
pub const PUSH_HZ: u32 = 5;

/// Where the data comes from.
#[derive(Clone)]
enum Source {
    Live {
        view: SharedView,
        /// Node name → its namespace (for `/api/node`).
        namespaces: Arc<HashMap<String, String>>,
    },
    Replay {
        layout: Arc<Layout>,
        frames: Arc<Vec<Frame>>,
        series: Arc<Vec<Point>>,
        /// `results.json`, if the run finished.
        results: Arc<Option<serde_json::Value>>,
    },
}

/// A running server; stops when dropped.
pub struct WebServer {
    pub addr: std::net::SocketAddr,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How long the server lets open connections finish once asked to stop:
/// a page still open keeps its stream of pushes (`/api/events`) forever,
/// and must not keep the lab from ending.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

impl Drop for WebServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves a live run at `addr`.
pub fn serve_live(
    addr: &str,
    view: SharedView,
    namespaces: HashMap<String, String>,
) -> crate::Result<WebServer> {
    serve(
        addr,
        Source::Live {
            view,
            namespaces: Arc::new(namespaces),
        },
    )
}

/// Serves a recorded run (`layout.json`, `timeline.jsonl`, `results.json`
/// in `dir`) at `addr`.
pub fn serve_replay(addr: &str, dir: &std::path::Path) -> crate::Result<WebServer> {
    let (layout, frames) = crate::live::load_recording(dir)?;
    let series: Vec<Point> = {
        let mut last = -1.0;
        frames
            .iter()
            .filter(|f| {
                let new = f.point.t > last;
                last = last.max(f.point.t);
                new && f.point.t > 0.0
            })
            .map(|f| f.point)
            .collect()
    };
    let results = std::fs::read_to_string(dir.join("results.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    serve(
        addr,
        Source::Replay {
            layout: Arc::new(layout),
            frames: Arc::new(frames),
            series: Arc::new(series),
            results: Arc::new(results),
        },
    )
}

fn serve(addr: &str, source: Source) -> crate::Result<WebServer> {
    let io = |what: &str| crate::Error::io(format!("--web {addr}: {what}"));
    let listener = std::net::TcpListener::bind(addr).map_err(io("bind"))?;
    listener.set_nonblocking(true).map_err(io("O_NONBLOCK"))?;
    let bound = listener.local_addr().map_err(io("local address"))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let app = Router::new()
        .route("/", get(page))
        .route("/api/network", get(network))
        .route("/api/events", get(events))
        .route("/api/layout", get(layout))
        .route("/api/series", get(series))
        .route("/api/frames", get(frames))
        .route("/api/frame/{i}", get(frame))
        .route("/api/node/{name}", get(node))
        .with_state(source);
    let thread = std::thread::Builder::new()
        .name("web".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                eprintln!("lab: the web view could not start its runtime");
                return;
            };
            rt.block_on(async move {
                let Ok(l) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let (mut asked, mut grace) = (stop_rx.clone(), stop_rx);
                let serve = axum::serve(l, app).with_graceful_shutdown(async move {
                    let _ = asked.wait_for(|stop| *stop).await;
                });
                // Connections still open after the grace are dropped.
                tokio::select! {
                    _ = serve => {}
                    _ = async move {
                        let _ = grace.wait_for(|stop| *stop).await;
                        tokio::time::sleep(SHUTDOWN_GRACE).await;
                    } => {}
                }
            });
        })
        .map_err(crate::Error::io("web thread"))?;
    Ok(WebServer {
        addr: bound,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
        .into_response()
}

fn live_view(view: &SharedView) -> NetworkView {
    let s = view.lock().unwrap_or_else(|e| e.into_inner());
    NetworkView::new(&s.layout, &s.frame)
}

/// The recorded frame at or before `t` (the first if none).
fn frame_at(frames: &[Frame], t: f64) -> &Frame {
    let i = frames.partition_point(|f| f.t <= t).saturating_sub(1);
    &frames[i.min(frames.len() - 1)]
}

async fn network(State(src): State<Source>, Query(q): Query<HashMap<String, String>>) -> Response {
    match src {
        Source::Live { view, .. } => Json(live_view(&view)).into_response(),
        Source::Replay { layout, frames, .. } => {
            let t = q
                .get("t")
                .and_then(|t| t.parse::<f64>().ok())
                .unwrap_or(f64::INFINITY);
            Json(NetworkView::new(&layout, frame_at(&frames, t))).into_response()
        }
    }
}

async fn events(State(src): State<Source>) -> Response {
    let Source::Live { view, .. } = src else {
        return (
            StatusCode::NOT_FOUND,
            "a replay has no live events; see /api/frames",
        )
            .into_response();
    };
    let period = Duration::from_millis(1000 / u64::from(PUSH_HZ));
    let stream = futures_util::stream::unfold(
        (view, tokio::time::interval(period)),
        |(view, mut tick)| async move {
            tick.tick().await;
            let json = serde_json::to_string(&live_view(&view)).unwrap_or_default();
            Some((
                Ok::<Event, std::convert::Infallible>(Event::default().data(json)),
                (view, tick),
            ))
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn layout(State(src): State<Source>) -> Response {
    match src {
        Source::Live { view, .. } => {
            let s = view.lock().unwrap_or_else(|e| e.into_inner());
            Json(s.layout.clone()).into_response()
        }
        Source::Replay { layout, .. } => Json((*layout).clone()).into_response(),
    }
}

async fn series(State(src): State<Source>) -> Response {
    match src {
        Source::Live { view, .. } => {
            let s = view.lock().unwrap_or_else(|e| e.into_inner());
            Json(s.series.clone()).into_response()
        }
        Source::Replay { series, .. } => Json((*series).clone()).into_response(),
    }
}

async fn frames(State(src): State<Source>) -> Response {
    match src {
        Source::Live { .. } => Json(serde_json::json!({ "live": true })).into_response(),
        Source::Replay { frames, .. } => {
            let times: Vec<f64> = frames.iter().map(|f| f.t).collect();
            Json(serde_json::json!({ "live": false, "count": frames.len(), "times": times }))
                .into_response()
        }
    }
}

async fn frame(State(src): State<Source>, Path(i): Path<usize>) -> Response {
    match src {
        Source::Replay { layout, frames, .. } => match frames.get(i) {
            Some(f) => Json(NetworkView::new(&layout, f)).into_response(),
            None => (
                StatusCode::NOT_FOUND,
                format!("no frame {i} (there are {})", frames.len()),
            )
                .into_response(),
        },
        Source::Live { .. } => (
            StatusCode::NOT_FOUND,
            "a live run has no frames; see /api/events",
        )
            .into_response(),
    }
}

async fn node(State(src): State<Source>, Path(name): Path<String>) -> Response {
    match src {
        Source::Live { namespaces, .. } => {
            let Some(ns) = namespaces.get(&name).cloned() else {
                return (StatusCode::NOT_FOUND, format!("no node {name}")).into_response();
            };
            let answer = tokio::task::spawn_blocking(move || node_detail(&ns)).await;
            match answer {
                Ok(v) => Json(v).into_response(),
                Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "node query failed").into_response(),
            }
        }
        Source::Replay { results, .. } => {
            let entry = results.as_ref().as_ref().and_then(|r| {
                r["nodes"]
                    .as_array()?
                    .iter()
                    .find(|n| n["name"] == name.as_str())
                    .cloned()
            });
            Json(serde_json::json!({ "recorded": entry })).into_response()
        }
    }
}

/// A node's routes, counters and status from its daemon (a thread in the
/// node's namespace).
fn node_detail(ns: &str) -> serde_json::Value {
    let ns = ns.to_string();
    let got = std::thread::spawn(move || -> testbed::Result<serde_json::Value> {
        testbed::enter_netns(&ns)?;
        let c = api::Client::with_timeout(testbed::API_ADDR, Duration::from_secs(2));
        let get = |p: &str| -> serde_json::Value {
            c.get_raw(p)
                .ok()
                .and_then(|(_, b)| serde_json::from_str(&b).ok())
                .unwrap_or(serde_json::Value::Null)
        };
        Ok(serde_json::json!({
            "routes": get("/api/v1/routes"),
            "stats": get("/api/v1/stats"),
            "status": get("/api/v1/status"),
        }))
    })
    .join();
    match got {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => serde_json::json!({ "error": e.to_string() }),
        Err(_) => serde_json::json!({ "error": "query thread failed" }),
    }
}
