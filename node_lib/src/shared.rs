//! What the data-plane thread and the control side (API, signals,
//! watchdog, the kernel-route task) share: counters and flags read without
//! a lock, the role's snapshot for the API, and a typed queue of commands
//! for the loop (reloads, probes), which wakes it.

use crate::config::{RoutingConfig, SecurityConfig};
use crate::sys;
use common::counters::Counters;
use common::Time;
use protocol::export::ExportedRoute;
use protocol::probe::{ProbeRequest, ProbeResult};
use protocol::role::RoleSnapshot;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `Shared::uplink`: no check configured, up, down (written by the
/// kernel-route task, read by the loop).
pub const UPLINK_UNCHECKED: u8 = 0;
pub const UPLINK_UP: u8 = 1;
pub const UPLINK_DOWN: u8 = 2;

/// What the control side asks the data-plane loop to do.
#[derive(Debug)]
pub enum Command {
    /// New routing timers and limits (SIGHUP).
    Routing(RoutingConfig),
    /// New trust lists and session limits (SIGHUP).
    Security(SecurityConfig),
    /// A probe the API asked for (`obu ping` / `traceroute`).
    Probe(ProbeRequest),
}

/// State shared between the data-plane thread and the control side
/// (API, signals, watchdog).
pub struct Shared {
    pub counters: Arc<Counters>,
    started: Instant,
    shutdown: AtomicBool,
    wake: OwnedFd,
    /// Last loop iteration, microseconds since start (watchdog feed).
    pub heartbeat_us: AtomicU64,
    pub link_up: AtomicBool,
    /// Whether the data-plane thread runs under realtime scheduling now.
    pub realtime: AtomicBool,
    /// Times `[dataplane] realtime = "auto"` switched it in or out.
    pub realtime_switches: AtomicU64,
    pub snapshot: Mutex<RoleSnapshot>,
    /// What the control side asked the loop to do, in order.
    commands: Mutex<Vec<Command>>,
    /// The kernel routes the role wants (RSU exports), for `backbone.rs`.
    pub exports: tokio::sync::watch::Sender<Arc<Vec<ExportedRoute>>>,
    /// `[backbone] uplink_check`'s last result (`UPLINK_*`).
    pub uplink: AtomicU8,
    /// What `backbone.rs` installed, for the API (`None`: no `[backbone]`
    /// export or uplink check, no `[tun] routes`).
    pub backbone: Mutex<Option<api::BackboneStatus>>,
    /// Estimated channel busy ratio over the last second, per mille.
    pub channel_busy_permille: AtomicU64,
    /// Answers to the probes the API asked for (and probes that could not go), for the API.
    probe_results: Mutex<Vec<ProbeResult>>,
    next_probe_id: std::sync::atomic::AtomicU16,
}

/// Answers kept for the API at most (older ones, whose callers gave up,
/// are dropped first).
const MAX_PROBE_RESULTS: usize = 1024;

impl Shared {
    /// `first`: the role's snapshot before the data plane runs (the API
    /// answers from it until the loop's first one).
    pub fn new(counters: Arc<Counters>, first: RoleSnapshot) -> io::Result<Shared> {
        Ok(Shared {
            counters,
            started: Instant::now(),
            shutdown: AtomicBool::new(false),
            wake: sys::eventfd()?,
            heartbeat_us: AtomicU64::new(0),
            link_up: AtomicBool::new(true),
            realtime: AtomicBool::new(false),
            realtime_switches: AtomicU64::new(0),
            snapshot: Mutex::new(first),
            commands: Mutex::new(Vec::new()),
            exports: tokio::sync::watch::Sender::new(Arc::new(Vec::new())),
            uplink: AtomicU8::new(UPLINK_UNCHECKED),
            backbone: Mutex::new(None),
            channel_busy_permille: AtomicU64::new(0),
            probe_results: Mutex::new(Vec::new()),
            next_probe_id: std::sync::atomic::AtomicU16::new(1),
        })
    }

    /// Hands a probe to the loop; returns its id (the API then waits for
    /// the answer with [`Shared::take_probe_result`]).
    pub fn send_probe(&self, target: common::wire::ProbeTarget, ttl: u8) -> u16 {
        let id = self.next_probe_id.fetch_add(1, Ordering::Relaxed);
        self.command(Command::Probe(ProbeRequest {
            id,
            seq: 0,
            target,
            ttl,
        }));
        id
    }

    /// The answer to probe `id`, once it is there.
    pub fn take_probe_result(&self, id: u16) -> Option<ProbeResult> {
        let mut r = self.probe_results.lock().unwrap_or_else(|e| e.into_inner());
        let i = r.iter().position(|x| x.id == id)?;
        Some(r.remove(i))
    }

    pub(crate) fn push_probe_results(&self, new: &mut Vec<ProbeResult>) {
        let mut r = self.probe_results.lock().unwrap_or_else(|e| e.into_inner());
        r.append(new);
        if r.len() > MAX_PROBE_RESULTS {
            let excess = r.len() - MAX_PROBE_RESULTS;
            r.drain(..excess);
        }
    }

    /// Monotonic time since the node started.
    pub fn now(&self) -> Time {
        Time(self.started.elapsed().as_micros() as u64)
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        sys::eventfd_signal(self.wake.as_raw_fd());
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Queues `c` for the loop and wakes it.
    pub fn command(&self, c: Command) {
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(c);
        sys::eventfd_signal(self.wake.as_raw_fd());
    }

    /// The loop's side: everything queued since the last call, in order.
    pub(crate) fn take_commands(&self) -> Vec<Command> {
        std::mem::take(&mut *self.commands.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The loop's side: clears the wake-up it was woken by.
    pub(crate) fn drain_wake(&self) {
        sys::eventfd_drain(self.wake.as_raw_fd());
    }

    /// The eventfd the loop polls to be woken.
    pub(crate) fn wake_fd(&self) -> std::os::fd::RawFd {
        self.wake.as_raw_fd()
    }

    /// Wakes the loop (it then looks at the uplink state at once).
    pub fn wake(&self) {
        sys::eventfd_signal(self.wake.as_raw_fd());
    }

    pub fn snapshot(&self) -> RoleSnapshot {
        self.snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Time since the loop last went round.
    pub fn heartbeat_age(&self) -> Duration {
        let hb = Time(self.heartbeat_us.load(Ordering::Relaxed));
        self.now().since(hb)
    }
}
