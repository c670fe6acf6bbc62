//! Daemon start-up and lifetime shared by `obu` and `rsu`: config, devices,
//! data-plane thread, API, signals, clean shutdown.

use crate::api::{self, ApiState, NodeInfo};
use crate::backbone::Backbone;
use crate::config::{Config, ConfigError, RoleKind, EX_CONFIG};
use crate::dataplane::Dataplane;
use crate::link::RawLink;
use crate::logging;
use crate::shared::{Command, Shared};
use crate::tun::Tun;
use common::counters::Counters;
use common::NodeId;
use protocol::role::Role;
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

/// Runs a daemon to completion and returns its exit code:
///
/// ```text
///  1. `load`            the configuration and the key (--check-config ends here)
///  2. `open_devices`    the radio link and the TUN device
///  3. `build_role`      the role's state machine and what the threads share
///  4. `spawn_dataplane` the data-plane thread
///  5. `control`         the API, the kernel-route tasks, signals and reloads,
///                       until SIGTERM/SIGINT or the data plane stops
///  6. `shut_down`       kernel routes removed, the data plane stopped (bounded)
/// ```
pub fn run<R: Role>(
    kind: RoleKind,
    config_path: &Path,
    check_only: bool,
    make_role: impl FnOnce(RoleParams) -> R,
) -> i32 {
    let (cfg, identity) = match load(kind, config_path) {
        Ok(l) => l,
        Err(code) => return code,
    };
    if check_only {
        println!("{}: configuration OK", config_path.display());
        return check_radio(&cfg.fixed.link_interface);
    }
    let log = logging::init(&cfg.live.log_level, cfg.fixed.log_format);
    let devices = match open_devices(&cfg, config_path) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let (role, shared, info) = match build_role(kind, &cfg, &devices, identity, make_role) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let done_rx = match spawn_dataplane(&cfg, devices, role, &shared) {
        Ok(rx) => rx,
        Err(code) => return code,
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
    let api_state = ApiState {
        shared: shared.clone(),
        metrics: Arc::new(crate::metrics::registry(
            shared.clone(),
            kind,
            cfg.fixed.tun_name.clone(),
        )),
        info: Arc::new(info),
        config: Arc::new(Mutex::new(cfg.clone())),
    };
    // Kernel routes: an RSU's backbone export and uplink check, an OBU's
    // `[tun] routes`. Removed again when we stop.
    let (stop_routes, stop_rx) = tokio::sync::watch::channel(false);
    let route_keepers = match kind {
        RoleKind::Rsu => Backbone::for_rsu(&cfg.fixed.backbone, &cfg.fixed.tun_name, &shared),
        RoleKind::Obu => None,
    }
    .into_iter()
    .chain(Backbone::for_tun_routes(
        &cfg.fixed.tun_routes,
        &cfg.fixed.tun_name,
        &shared,
    ))
    .map(|b| rt.spawn(b.run(stop_rx.clone())))
    .collect::<Vec<_>>();
    let path: PathBuf = config_path.to_path_buf();
    let code = rt.block_on(control(kind, path, cfg, api_state, log, shared.clone()));
    shut_down(&rt, code, stop_routes, route_keepers, &shared, done_rx)
}

/// Step 1: the configuration and, in the secure modes, the key (loaded
/// here so that --check-config catches a bad key file too).
fn load(kind: RoleKind, path: &Path) -> Result<(Config, Option<Arc<secure::Identity>>), i32> {
    let cfg = Config::load(path, kind).map_err(|e| config_error(path, &e))?;
    let identity = match &cfg.fixed.identity {
        (mode, Some(key)) if *mode != crate::config::SecurityMode::Off => {
            match crate::key_file::load(&crate::config::key_file_path(key)) {
                Ok(i) => Some(Arc::new(i)),
                Err(e) => {
                    eprintln!("error: config {}: `security.key_file`: {e}", path.display());
                    return Err(EX_CONFIG);
                }
            }
        }
        _ => None,
    };
    Ok((cfg, identity))
}

/// The devices a data plane moves packets between.
struct Devices {
    link: RawLink,
    tun: Tun,
    tun_mtu: usize,
}

/// Step 2: the radio link and the TUN device (EX_UNAVAILABLE when either
/// cannot be had).
fn open_devices(cfg: &Config, path: &Path) -> Result<Devices, i32> {
    let f = &cfg.fixed;
    let mut link = RawLink::open(&f.link_interface, f.ethertype).map_err(|e| {
        tracing::error!("link.interface `{}`: {e}", f.link_interface);
        eprintln!("error: link.interface `{}`: {e}", f.link_interface);
        EX_UNAVAILABLE
    })?;
    if let Err(e) = link.set_bulk_lane(f.bulk_queue_bytes) {
        // Bulk then shares the one socket: it works, without the bound.
        tracing::warn!(error = %e, "link.bulk_queue_bytes: no bulk lane; bulk is not held back");
    }
    let tun_mtu = cfg
        .effective_tun_mtu(link.mtu())
        .map_err(|e| config_error(path, &e))?;
    let tun = Tun::create(&f.tun_name, tun_mtu, &f.tun_addresses, f.tun_offload).map_err(|e| {
        tracing::error!("tun.name `{}`: {e}", f.tun_name);
        eprintln!("error: tun `{}`: {e}", f.tun_name);
        EX_UNAVAILABLE
    })?;
    Ok(Devices { link, tun, tun_mtu })
}

/// Random per process (it also makes an RSU's beacon epoch, which tells
/// OBUs of a restart); without OS randomness, the MAC, PID and start time.
fn process_seed(mac: NodeId) -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        u64::from_be_bytes([
            0, 0, mac.0[0], mac.0[1], mac.0[2], mac.0[3], mac.0[4], mac.0[5],
        ]) ^ std::process::id() as u64
            ^ wall
    })
}

fn unix_now() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// Step 3: the role's state machine, the state the threads share (its
/// first snapshot included, so the API answers from its first request),
/// and the facts `/api/v1/status` shows.
fn build_role<R: Role>(
    kind: RoleKind,
    cfg: &Config,
    devices: &Devices,
    identity: Option<Arc<secure::Identity>>,
    make_role: impl FnOnce(RoleParams) -> R,
) -> Result<(R, Arc<Shared>, NodeInfo), i32> {
    let f = &cfg.fixed;
    let mac = NodeId(devices.link.mac());
    let id = f.node_id.unwrap_or(mac);
    let counters = Arc::new(Counters::default());
    // The role's `Time` starts now; signed messages carry wall-clock time.
    let wall_at_zero_us = unix_now().as_micros() as u64;
    let security = identity.map(|ident| {
        protocol::security::Security::new(&cfg.live.security, id, ident, wall_at_zero_us)
    });
    match &security {
        Some(s) => {
            tracing::info!(mode = ?s.mode, key = %s.identity.public(), "security on");
            prefer_aead_library();
        }
        None => tracing::warn!(
            "security mode off: anyone in radio range can pose as a node or read traffic"
        ),
    }
    let role = make_role(RoleParams {
        id,
        mac,
        addresses: f.tun_addresses.clone(),
        routing: cfg.live.routing.clone(),
        seed: process_seed(mac),
        counters: counters.clone(),
        security,
        preference: f.backbone.preference,
        attach_seq_start: protocol::params::attach_seq_start(unix_now().as_secs()),
    });
    // The API answers from its first request: its tables start as the
    // role's empty ones (an RSU with no OBU, an OBU with no upstream), never
    // as `null`, before the data plane has taken its first snapshot.
    // Not ready until the data plane has gone round once (an RSU's
    // snapshot says ready from the start).
    let mut first = role.snapshot(common::Time::ZERO);
    first.ready = false;
    let shared = Shared::new(counters, first).map_err(|e| {
        eprintln!("error: {e}");
        1
    })?;
    let info = NodeInfo {
        role: kind.as_str(),
        id,
        mac,
        version: env!("CARGO_PKG_VERSION"),
        link_interface: f.link_interface.clone(),
        link_mtu: devices.link.mtu(),
        ethertype: f.ethertype,
        tun_name: f.tun_name.clone(),
        tun_mtu: devices.tun_mtu,
        tun_offload: devices.tun.offload(),
        tun_udp_offload: devices.tun.udp_offload(),
    };
    tracing::info!(
        role = kind.as_str(),
        %id,
        link = %f.link_interface,
        link_mtu = devices.link.mtu(),
        tun = %f.tun_name,
        tun_mtu = devices.tun_mtu,
        batching = f.batching.enabled,
        max_batch = f.batching.max_batch,
        aggregate = f.batching.aggregate,
        realtime_priority = f.dataplane.realtime_priority,
        "starting"
    );
    Ok((role, Arc::new(shared), info))
}

/// How the data plane ended.
type DataplaneDone = std::sync::mpsc::Receiver<std::io::Result<()>>;

/// Step 4: the data-plane thread. Whatever ends its loop ends the daemon.
fn spawn_dataplane<R: Role>(
    cfg: &Config,
    devices: Devices,
    role: R,
    shared: &Arc<Shared>,
) -> Result<DataplaneDone, i32> {
    let dp = Dataplane {
        link: devices.link,
        tun: devices.tun,
        role,
        batching: cfg.fixed.batching.clone(),
        dataplane: cfg.fixed.dataplane.clone(),
        shared: shared.clone(),
        phy_rate_kbps: cfg.fixed.phy_rate_kbps,
        classes: cfg.fixed.priority.clone(),
    };
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("dataplane".into())
        .spawn(move || {
            let shared = dp.shared.clone();
            let r = run_to_end(|| dp.run(), || shared.request_shutdown());
            let _ = done_tx.send(r);
        })
        .map_err(|e| {
            eprintln!("error: cannot start data-plane thread: {e}");
            1
        })?;
    Ok(done_rx)
}

/// Runs the data plane's loop to its end, whatever the end: an error, a
/// clean stop, or a panic (a bug; the panic hook has logged where). Each
/// ends the daemon, so that the service manager restarts it instead of
/// its control side staying up, beaconing, with no data plane behind it.
fn run_to_end(
    run: impl FnOnce() -> std::io::Result<()>,
    request_shutdown: impl FnOnce(),
) -> std::io::Result<()> {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|p| {
        let why = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(std::io::Error::other(format!("data plane panicked: {why}")))
    });
    if let Err(e) = &r {
        tracing::error!(error = %e, "data plane stopped");
    }
    request_shutdown();
    r
}

/// Step 6: kernel routes removed (bounded wait), then the data plane
/// stopped (bounded wait). The exit code: `code`, or 1 when the data plane
/// failed or did not stop.
fn shut_down(
    rt: &tokio::runtime::Runtime,
    code: i32,
    stop_routes: tokio::sync::watch::Sender<bool>,
    route_keepers: Vec<tokio::task::JoinHandle<()>>,
    shared: &Shared,
    done_rx: DataplaneDone,
) -> i32 {
    crate::notify::stopping();
    let _ = stop_routes.send(true);
    rt.block_on(async {
        for task in route_keepers {
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
    if let Some(addr) = cfg.fixed.api_listen {
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
    crate::notify::ready(&format!(
        "{} on {}",
        kind.as_str(),
        cfg.fixed.link_interface
    ));
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
    if new.live.log_level != cur.live.log_level {
        match log.set_level(&new.live.log_level) {
            Ok(()) => tracing::info!(level = %new.live.log_level, "log filter reloaded"),
            Err(e) => tracing::error!("log.level: {e}"),
        }
    }
    if new.live.routing != cur.live.routing {
        shared.command(Command::Routing(new.live.routing.clone()));
    }
    // Trust lists and session limits reload; the mode and the key are the
    // node's identity, which needs a restart.
    let same_identity = new.fixed.identity == cur.fixed.identity;
    if same_identity && new.live.security != cur.live.security {
        shared.command(Command::Security(new.live.security.clone()));
    }
    let restart_for = cur.fixed.differences(&new.fixed);
    if !restart_for.is_empty() {
        tracing::warn!(
            "SIGHUP: changes to {} take effect after a restart",
            restart_for.join(", ")
        );
    }
    cur.live.log_level = new.live.log_level;
    cur.live.routing = new.live.routing;
    if same_identity {
        cur.live.security = new.live.security;
    }
    tracing::info!("SIGHUP: configuration reloaded");
}

/// `V2XD_AEAD_LIBRARY=aws-lc|ring`: every session of this process uses
/// that library's AEAD code, whatever the CPU (comparisons, and a way
/// round a library problem without a rebuild). Anything else is ignored
/// with a warning.
fn prefer_aead_library() {
    let Ok(v) = std::env::var("V2XD_AEAD_LIBRARY") else {
        return;
    };
    match secure::AeadBackend::from_name(&v) {
        Some(b) => {
            secure::aead::prefer_library(b);
        }
        None if v.is_empty() => {}
        None => tracing::warn!(
            "V2XD_AEAD_LIBRARY={v:?} names no AEAD library (\"aws-lc\" or \"ring\"); ignored, the faster one on this CPU is used"
        ),
    }
}

/// `--check-config`'s look at the radio (`radio_check`): a note or a
/// warning on stdout and exit 0, an error on stderr and exit 78 (a
/// wireless interface in a mode that cannot reach the other nodes).
fn check_radio(iface: &str) -> i32 {
    use crate::radio_check::{inspect, verdict, Level};
    match verdict(iface, &inspect(iface)) {
        (Level::Note, m) => {
            println!("{m}");
            0
        }
        (Level::Warning, m) => {
            println!("warning: {m}");
            0
        }
        (Level::Error, m) => {
            eprintln!("error: {m}");
            EX_CONFIG
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_data_plane_ends_the_daemon_with_an_error() {
        let mut asked = false;
        let r = run_to_end(|| panic!("index out of range"), || asked = true);
        let e = r.expect_err("a panic is a failure");
        assert!(e.to_string().contains("index out of range"), "{e}");
        assert!(asked, "shutdown requested");
        // A clean stop also asks the daemon to stop, and is no failure.
        let mut asked = false;
        assert!(run_to_end(|| Ok(()), || asked = true).is_ok());
        assert!(asked);
    }
}
