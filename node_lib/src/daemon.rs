//! Daemon start-up and lifetime shared by `obu` and `rsu`: config, devices,
//! data-plane thread, API, signals, clean shutdown.

use crate::api::{self, ApiState, NodeInfo};
use crate::backbone::Backbone;
use crate::config::{Config, ConfigError, RoleKind, EX_CONFIG};
use crate::dataplane::Dataplane;
use crate::link::RawLink;
use crate::logging;
use crate::role::Role;
use crate::shared::{Command, Shared};
use crate::tun::Tun;
use common::counters::Counters;
use common::NodeId;
pub use protocol::role_params::RoleParams;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// sysexits.h EX_UNAVAILABLE: a device or interface is missing or unusable.
pub const EX_UNAVAILABLE: i32 = 69;
/// How long shutdown waits for our kernel routes to be removed.
const ROUTES_STOP_WAIT: Duration = Duration::from_secs(2);
/// How long shutdown waits for the data plane to stop.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

fn config_error(path: &Path, e: &ConfigError) -> i32 {
    eprintln!("error: config {}: {e}", path.display());
    EX_CONFIG
}

/// Runs a daemon to completion and returns its exit code.
pub fn run<R: Role>(
    kind: RoleKind,
    config_path: &Path,
    check_only: bool,
    make_role: impl FnOnce(RoleParams) -> R,
) -> i32 {
    let cfg = match Config::load(config_path, kind) {
        Ok(c) => c,
        Err(e) => return config_error(config_path, &e),
    };
    // Load the key now so that --check-config catches a bad key file too.
    let identity = match &cfg.security.key_file {
        Some(path) if cfg.security.mode != crate::config::SecurityMode::Off => {
            match secure::Identity::load(&crate::config::key_file_path(path)) {
                Ok(i) => Some(Arc::new(i)),
                Err(e) => {
                    eprintln!(
                        "error: config {}: `security.key_file`: {e}",
                        config_path.display()
                    );
                    return EX_CONFIG;
                }
            }
        }
        _ => None,
    };
    if check_only {
        println!("{}: configuration OK", config_path.display());
        return 0;
    }
    let log = logging::init(&cfg.log_level, cfg.log_format);
    let link = match RawLink::open(&cfg.link_interface, cfg.ethertype) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("link.interface `{}`: {e}", cfg.link_interface);
            eprintln!("error: link.interface `{}`: {e}", cfg.link_interface);
            return EX_UNAVAILABLE;
        }
    };
    let tun_mtu = match cfg.effective_tun_mtu(link.mtu()) {
        Ok(m) => m,
        Err(e) => return config_error(config_path, &e),
    };
    let tun = match Tun::create(&cfg.tun_name, tun_mtu, &cfg.tun_addresses, cfg.tun_offload) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("tun.name `{}`: {e}", cfg.tun_name);
            eprintln!("error: tun `{}`: {e}", cfg.tun_name);
            return EX_UNAVAILABLE;
        }
    };
    let mac = NodeId(link.mac());
    let id = cfg.node_id.unwrap_or(mac);
    // Random per process (it also makes an RSU's beacon epoch, which tells
    // OBUs of a restart); without OS randomness, the MAC, PID and start time.
    let seed = getrandom::u64().unwrap_or_else(|_| {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        u64::from_be_bytes([
            0, 0, mac.0[0], mac.0[1], mac.0[2], mac.0[3], mac.0[4], mac.0[5],
        ]) ^ std::process::id() as u64
            ^ wall
    });
    let counters = Arc::new(Counters::default());
    let security = identity.map(|ident| {
        // The role's `Time` starts now; signed messages carry wall-clock time.
        let wall_at_zero_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        crate::security::Security::new(&cfg.security, id, ident, wall_at_zero_us)
    });
    match &security {
        Some(s) => tracing::info!(mode = ?s.mode, key = %s.identity.public(), "security on"),
        None => tracing::warn!(
            "security mode off: anyone in radio range can pose as a node or read traffic"
        ),
    }
    let role = make_role(RoleParams {
        id,
        mac,
        addresses: cfg.tun_addresses.clone(),
        routing: cfg.routing.clone(),
        seed,
        counters: counters.clone(),
        security,
        preference: cfg.backbone.preference,
        attach_seq_start: protocol::params::attach_seq_start(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        ),
    });
    // The API answers from its first request: its tables start as the
    // role's empty ones (an RSU with no OBU, an OBU with no upstream), never
    // as `null`, before the data plane has taken its first snapshot.
    let first = role.snapshot(common::Time::ZERO);
    let shared = match Shared::new(counters, first) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let info = NodeInfo {
        role: kind.as_str(),
        id,
        mac,
        version: env!("CARGO_PKG_VERSION"),
        link_interface: cfg.link_interface.clone(),
        link_mtu: link.mtu(),
        ethertype: cfg.ethertype,
        tun_name: cfg.tun_name.clone(),
        tun_mtu,
        tun_offload: tun.offload(),
        tun_udp_offload: tun.udp_offload(),
    };
    tracing::info!(
        role = kind.as_str(),
        %id,
        link = %cfg.link_interface,
        link_mtu = link.mtu(),
        tun = %cfg.tun_name,
        tun_mtu,
        batching = cfg.batching.enabled,
        max_batch = cfg.batching.max_batch,
        aggregate = cfg.batching.aggregate,
        realtime_priority = cfg.dataplane.realtime_priority,
        "starting"
    );
    let dp = Dataplane {
        link,
        tun,
        role,
        batching: cfg.batching.clone(),
        dataplane: cfg.dataplane.clone(),
        shared: shared.clone(),
        phy_rate_kbps: cfg.phy_rate_kbps,
    };
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let dp_thread = std::thread::Builder::new()
        .name("dataplane".into())
        .spawn(move || {
            let shared = dp.shared.clone();
            let r = dp.run();
            if let Err(e) = &r {
                tracing::error!(error = %e, "data plane stopped");
            }
            // Whatever ended the loop ends the daemon.
            shared.request_shutdown();
            let _ = done_tx.send(r);
        });
    if let Err(e) = dp_thread {
        eprintln!("error: cannot start data-plane thread: {e}");
        return 1;
    }
    let api_state = ApiState {
        shared: shared.clone(),
        metrics: Arc::new(crate::metrics::registry(
            shared.clone(),
            kind,
            cfg.tun_name.clone(),
        )),
        info: Arc::new(info),
        config: Arc::new(Mutex::new(cfg.clone())),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start runtime: {e}");
            shared.request_shutdown();
            return 1;
        }
    };
    // Kernel routes: an RSU's backbone export and uplink check, an OBU's
    // `[tun] routes`. Removed again when we stop.
    let (stop_routes, stop_rx) = tokio::sync::watch::channel(false);
    let route_keeper = match kind {
        RoleKind::Rsu => Backbone::for_rsu(&cfg.backbone, &cfg.tun_name, &shared),
        RoleKind::Obu => None,
    }
    .into_iter()
    .chain(Backbone::for_tun_routes(
        &cfg.tun_routes,
        &cfg.tun_name,
        &shared,
    ))
    .map(|b| rt.spawn(b.run(stop_rx.clone())))
    .collect::<Vec<_>>();
    let path: PathBuf = config_path.to_path_buf();
    let code = rt.block_on(control(kind, path, cfg, api_state, log, shared.clone()));
    crate::notify::stopping();
    let _ = stop_routes.send(true);
    rt.block_on(async {
        for task in route_keeper {
            if tokio::time::timeout(ROUTES_STOP_WAIT, task).await.is_err() {
                tracing::warn!("kernel routes not all removed within {ROUTES_STOP_WAIT:?}; the next start removes them");
            }
        }
    });
    shared.request_shutdown();
    match done_rx.recv_timeout(SHUTDOWN_WAIT) {
        Ok(Ok(())) => {
            tracing::info!("stopped");
            code
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "data plane failed");
            1
        }
        Err(_) => {
            tracing::error!("data plane did not stop within {SHUTDOWN_WAIT:?}");
            1
        }
    }
}

/// The control side: API server, signals, reload. Returns the exit code.
async fn control(
    kind: RoleKind,
    path: PathBuf,
    cfg: Config,
    api_state: ApiState,
    log: logging::LogReload,
    shared: Arc<Shared>,
) -> i32 {
    use tokio::signal::unix::{signal, SignalKind};
    if let Some(addr) = cfg.api_listen {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => {
                tracing::info!(%addr, "API listening");
                let app = api::router(api_state.clone());
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(l, app).await {
                        tracing::error!(error = %e, "API server failed");
                    }
                });
            }
            Err(e) => {
                tracing::error!("api.listen {addr}: {e}");
                eprintln!("error: api.listen {addr}: {e}");
                return EX_UNAVAILABLE;
            }
        }
    }
    let (mut term, mut int, mut hup) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        _ => {
            eprintln!("error: cannot install signal handlers");
            return 1;
        }
    };
    // Link and TUN are up and the data plane runs: tell systemd.
    crate::notify::ready(&format!("{} on {}", kind.as_str(), cfg.link_interface));
    let watchdog = crate::notify::watchdog_interval();
    if let Some(w) = watchdog {
        tracing::info!(interval = ?w, "systemd watchdog enabled");
    }
    let tick = watchdog.map_or(Duration::from_millis(200), |w| {
        (w / 4).min(Duration::from_millis(200))
    });
    let mut dp_check = tokio::time::interval(tick);
    let mut stuck_logged = false;
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); return 0; }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); return 0; }
            _ = hup.recv() => {
                crate::notify::reloading();
                reload(kind, &path, &api_state, &log, &shared);
                crate::notify::ready("reloaded");
            }
            _ = dp_check.tick() => {
                if shared.is_shutting_down() {
                    return 1;
                }
                if let Some(w) = watchdog {
                    if crate::notify::should_feed(shared.heartbeat_age(), w) {
                        crate::notify::watchdog();
                        stuck_logged = false;
                    } else if !stuck_logged {
                        tracing::error!(age = ?shared.heartbeat_age(), "data plane is not going round; not feeding the watchdog");
                        stuck_logged = true;
                    }
                }
            }
        }
    }
}

/// SIGHUP: re-read the file; apply what can change at run time, keep the
/// old configuration if the new one is invalid.
fn reload(
    kind: RoleKind,
    path: &Path,
    api_state: &ApiState,
    log: &logging::LogReload,
    shared: &Shared,
) {
    let new = match Config::load(path, kind) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(
                "SIGHUP: config {} rejected, keeping the running one: {e}",
                path.display()
            );
            return;
        }
    };
    let mut cur = api_state.config.lock().unwrap_or_else(|e| e.into_inner());
    if new.log_level != cur.log_level {
        match log.set_level(&new.log_level) {
            Ok(()) => tracing::info!(level = %new.log_level, "log filter reloaded"),
            Err(e) => tracing::error!("log.level: {e}"),
        }
    }
    if new.routing != cur.routing {
        shared.command(Command::Routing(new.routing.clone()));
    }
    // Trust lists and session limits reload; the mode and the key need a
    // restart (a new identity is a new node).
    let security_restart =
        new.security.mode != cur.security.mode || new.security.key_file != cur.security.key_file;
    if new.security != cur.security && !security_restart {
        shared.command(Command::Security(new.security.clone()));
    }
    let restart_needed = new.link_interface != cur.link_interface
        || new.ethertype != cur.ethertype
        || new.phy_rate_kbps != cur.phy_rate_kbps
        || new.tun_name != cur.tun_name
        || new.tun_addresses != cur.tun_addresses
        || new.tun_mtu != cur.tun_mtu
        || new.batching != cur.batching
        || new.dataplane != cur.dataplane
        || new.api_listen != cur.api_listen
        || new.node_id != cur.node_id
        || new.log_format != cur.log_format
        || new.tun_routes != cur.tun_routes
        || new.backbone != cur.backbone
        || security_restart;
    if restart_needed {
        tracing::warn!("SIGHUP: link, tun, node, batching, dataplane, api, backbone, log.format, security.mode and security.key_file changes take effect after a restart");
    }
    cur.log_level = new.log_level;
    cur.routing = new.routing;
    if !security_restart {
        cur.security = new.security;
    }
    tracing::info!("SIGHUP: configuration reloaded");
}
