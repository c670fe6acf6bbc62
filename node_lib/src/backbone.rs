//! Keeps the kernel's routes equal to what the node wants via its TUN:
//! an RSU's host routes for its attached OBUs (`[backbone] export_routes`,
//! from the role), an OBU's `[tun] routes` (fixed). Also watches an RSU's
//! uplink (`[backbone] uplink_check`).
//!
//! 1. `start`      open rtnetlink, remove our protocol's leftovers
//! 2. `reconcile`  add what is wanted and missing, remove what is not
//!    wanted; a failure is counted, logged and retried a second later
//! 3. `resync`     every few seconds, re-read our routes from the kernel
//!    (someone removed one: it comes back)
//! 4. `check_uplink` every half second, whether the uplink prefix exists
//! 5. `stop`       remove every route we installed
//!
//! It runs on the control side's runtime, never on the data plane: a slow
//! netlink call delays a route, never a packet.

use crate::config::BackboneConfig;
use crate::kernel_routes::{KernelRoute, KernelRoutes};
use crate::shared::{Shared, UPLINK_DOWN, UPLINK_UP};
use common::counters::Counters;
use common::ip::IpPrefix;
use protocol::export::ExportedRoute;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Failed operations are retried this often.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Our routes are re-read from the kernel this often.
const RESYNC_EVERY: Duration = Duration::from_secs(5);
/// The uplink prefix is looked for this often.
const UPLINK_EVERY: Duration = Duration::from_millis(500);
/// At most one warning about failing route operations this often.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// What the API shows (`/api/v1/routes`, `backbone`).
pub use api::{BackboneStatus, InstalledRoute};

/// What routes are wanted: the role's exports (RSU) or fixed (OBU).
pub enum Wanted {
    Exports {
        rx: watch::Receiver<Arc<Vec<ExportedRoute>>>,
        /// `None`: the attachment sequence is the metric.
        metric: Option<u32>,
    },
    Fixed(Vec<IpPrefix>),
}

pub struct Backbone {
    pub tun: String,
    pub table: u32,
    pub protocol: u8,
    pub wanted: Wanted,
    pub uplink_check: Option<IpPrefix>,
    pub shared: Arc<Shared>,
}

impl Backbone {
    /// For an RSU's `[backbone]`; `None` when it has nothing to do.
    pub fn for_rsu(cfg: &BackboneConfig, tun: &str, shared: &Arc<Shared>) -> Option<Backbone> {
        if !cfg.export_routes && cfg.uplink_check.is_none() {
            return None;
        }
        let rx = shared.exports.subscribe();
        Some(Backbone {
            tun: tun.to_string(),
            table: cfg.table,
            protocol: cfg.protocol,
            wanted: if cfg.export_routes {
                Wanted::Exports {
                    rx,
                    metric: cfg.metric,
                }
            } else {
                Wanted::Fixed(Vec::new())
            },
            uplink_check: cfg.uplink_check,
            shared: shared.clone(),
        })
    }

    /// For an OBU's `[tun] routes`; `None` when there are none.
    pub fn for_tun_routes(
        routes: &[IpPrefix],
        tun: &str,
        shared: &Arc<Shared>,
    ) -> Option<Backbone> {
        if routes.is_empty() {
            return None;
        }
        Some(Backbone {
            tun: tun.to_string(),
            table: 254,
            protocol: crate::config::DEFAULT_ROUTE_PROTOCOL,
            wanted: Wanted::Fixed(routes.to_vec()),
            uplink_check: None,
            shared: shared.clone(),
        })
    }

    /// Whether it installs routes at all (an RSU with only an
    /// `uplink_check` must leave the kernel's routes alone).
    fn manages_routes(&self) -> bool {
        match &self.wanted {
            Wanted::Exports { .. } => true,
            Wanted::Fixed(v) => !v.is_empty(),
        }
    }

    /// Runs until `stop` turns true, then removes its routes.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let Some(kr) = self.start(&mut stop).await else {
            return;
        };
        let mut state = State::default();
        let mut retry = tokio::time::interval(RETRY_EVERY);
        let mut resync = tokio::time::interval(RESYNC_EVERY);
        let mut uplink = tokio::time::interval(UPLINK_EVERY);
        for t in [&mut retry, &mut resync, &mut uplink] {
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        loop {
            let wanted = self.wanted_now();
            self.reconcile(&kr, &wanted, &mut state).await;
            self.publish(&state, &wanted);
            let exports_changed = async {
                match &mut self.wanted {
                    Wanted::Exports { rx, .. } => rx.changed().await.is_ok(),
                    Wanted::Fixed(_) => std::future::pending().await,
                }
            };
            tokio::select! {
                ok = exports_changed => {
                    if !ok {
                        break;
                    }
                }
                _ = retry.tick(), if state.pending > 0 => {}
                _ = resync.tick() => self.resync(&kr, &mut state).await,
                _ = uplink.tick(), if self.uplink_check.is_some() => {
                    self.check_uplink(&kr, &mut state).await;
                }
                _ = stop.changed() => break,
            }
        }
        self.stop(&kr, &mut state).await;
    }

    /// Step 1: rtnetlink and the TUN (retried until it works or we stop),
    /// then our protocol's leftovers removed.
    async fn start(&self, stop: &mut watch::Receiver<bool>) -> Option<KernelRoutes> {
        let mut warned = false;
        let kr = loop {
            match KernelRoutes::open(&self.tun, self.table, self.protocol).await {
                Ok(k) => break k,
                Err(e) => {
                    Counters::inc(&self.shared.counters.backbone_failures, 1);
                    if !warned {
                        tracing::error!(error = %e, "kernel routes: cannot start; retrying every second");
                        warned = true;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY_EVERY) => {}
                        _ = stop.changed() => return None,
                    }
                }
            }
        };
        if !self.manages_routes() {
            return Some(kr);
        }
        match kr.flush().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                removed = n,
                protocol = self.protocol,
                table = self.table,
                "removed routes left by an earlier run"
            ),
            Err(e) => {
                Counters::inc(&self.shared.counters.backbone_failures, 1);
                tracing::warn!(error = %e, "cannot remove routes left by an earlier run");
            }
        }
        Some(kr)
    }

    fn wanted_now(&mut self) -> BTreeMap<IpPrefix, Want> {
        match &mut self.wanted {
            Wanted::Exports { rx, metric } => rx
                .borrow_and_update()
                .iter()
                .map(|e| {
                    (
                        e.prefix,
                        Want {
                            metric: metric.unwrap_or(e.attach_seq),
                            obu: Some(*e),
                        },
                    )
                })
                .collect(),
            Wanted::Fixed(v) => v
                .iter()
                .map(|p| {
                    (
                        *p,
                        Want {
                            metric: 0,
                            obu: None,
                        },
                    )
                })
                .collect(),
        }
    }

    /// Step 2: add what is wanted and missing (a new metric: the new route
    /// first, then the old one removed), remove what is no longer wanted.
    async fn reconcile(
        &self,
        kr: &KernelRoutes,
        wanted: &BTreeMap<IpPrefix, Want>,
        st: &mut State,
    ) {
        let c = &self.shared.counters;
        st.pending = 0;
        for (prefix, w) in wanted {
            let have = st.installed.get(prefix).copied();
            let metric = crate::kernel_routes::kernel_metric(prefix, w.metric);
            if have == Some(metric) {
                continue;
            }
            let new = KernelRoute {
                prefix: *prefix,
                metric,
            };
            match kr.add(&new).await {
                Ok(()) => {
                    Counters::inc(&c.backbone_installs, 1);
                    st.installed.insert(*prefix, metric);
                    tracing::debug!(route = %prefix, metric, "route added");
                }
                Err(e) => {
                    st.pending += 1;
                    self.failed(st, e.to_string());
                    continue;
                }
            }
            if let Some(old) = have {
                self.remove(
                    kr,
                    st,
                    KernelRoute {
                        prefix: *prefix,
                        metric: old,
                    },
                    false,
                )
                .await;
            }
        }
        let gone: Vec<(IpPrefix, u32)> = st
            .installed
            .iter()
            .filter(|(p, _)| !wanted.contains_key(p))
            .map(|(p, m)| (*p, *m))
            .collect();
        for (prefix, metric) in gone {
            self.remove(kr, st, KernelRoute { prefix, metric }, true)
                .await;
        }
    }

    async fn remove(&self, kr: &KernelRoutes, st: &mut State, r: KernelRoute, forget: bool) {
        match kr.remove(&r).await {
            Ok(()) => {
                Counters::inc(&self.shared.counters.backbone_removals, 1);
                if forget {
                    st.installed.remove(&r.prefix);
                }
                tracing::debug!(route = %r.prefix, metric = r.metric, "route removed");
            }
            Err(e) => {
                st.pending += 1;
                self.failed(st, e.to_string());
            }
        }
    }

    fn failed(&self, st: &mut State, e: String) {
        Counters::inc(&self.shared.counters.backbone_failures, 1);
        if st.warned.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            tracing::warn!(error = %e, "kernel route operation failed; retrying every second (further failures for 10 s only counted)");
            st.warned = Some(Instant::now());
        }
        st.last_error = Some(e);
    }

    /// Step 3: what the kernel holds of ours is the truth (a route removed
    /// by hand is added again at the next reconcile).
    async fn resync(&self, kr: &KernelRoutes, st: &mut State) {
        if !self.manages_routes() {
            return;
        }
        if let Ok(ours) = kr.ours().await {
            st.installed = ours.iter().map(|(r, _)| (r.prefix, r.metric)).collect();
        }
    }

    /// Step 4: the uplink is up while its prefix is in the table.
    async fn check_uplink(&self, kr: &KernelRoutes, st: &mut State) {
        let Some(p) = self.uplink_check else { return };
        let up = match kr.has(&p).await {
            Ok(up) => up,
            Err(e) => {
                self.failed(st, e.to_string());
                return;
            }
        };
        let v = if up { UPLINK_UP } else { UPLINK_DOWN };
        let old = self.shared.uplink.swap(v, Ordering::Relaxed);
        if old != v {
            tracing::info!(uplink_check = %p, up, "uplink state");
            self.shared.wake();
        }
    }

    fn publish(&self, st: &State, wanted: &BTreeMap<IpPrefix, Want>) {
        let (export_routes, uplink_check) = (
            matches!(self.wanted, Wanted::Exports { .. }),
            self.uplink_check,
        );
        let routes = st
            .installed
            .iter()
            .map(|(p, m)| {
                let w = wanted.get(p).and_then(|w| w.obu);
                InstalledRoute {
                    prefix: *p,
                    metric: *m,
                    obu: w.map(|e| e.obu),
                    attach_seq: w.map(|e| e.attach_seq),
                }
            })
            .collect();
        let uplink = match self.shared.uplink.load(Ordering::Relaxed) {
            UPLINK_UP => Some(true),
            UPLINK_DOWN => Some(false),
            _ => None,
        };
        *self
            .shared
            .backbone
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(BackboneStatus {
            export_routes,
            table: self.table,
            protocol: self.protocol,
            uplink,
            uplink_check,
            routes,
            pending: st.pending,
            last_error: st.last_error.clone(),
        });
    }

    /// Step 5: our routes go with us.
    async fn stop(&self, kr: &KernelRoutes, st: &mut State) {
        let all: Vec<(IpPrefix, u32)> = st.installed.iter().map(|(p, m)| (*p, *m)).collect();
        for (prefix, metric) in all {
            self.remove(kr, st, KernelRoute { prefix, metric }, true)
                .await;
        }
        if !st.installed.is_empty() {
            tracing::warn!(
                left = st.installed.len(),
                "some routes could not be removed; the next start removes them"
            );
        }
        self.publish(st, &BTreeMap::new());
    }
}

#[derive(Clone, Copy)]
struct Want {
    metric: u32,
    obu: Option<ExportedRoute>,
}

#[derive(Default)]
struct State {
    /// Prefix → metric of our routes in the kernel.
    installed: BTreeMap<IpPrefix, u32>,
    pending: usize,
    last_error: Option<String>,
    warned: Option<Instant>,
}
