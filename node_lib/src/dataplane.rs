//! The data-plane loop: one thread that waits on the link socket, the TUN
//! device and a wake-up eventfd, and moves batches between them through the
//! role's state machine. No timers on the forwarding path: whatever is
//! queued when the loop wakes is one batch, so a lone packet leaves at once.

use crate::config::{BatchingConfig, DataplaneConfig, RealtimeMode, RoutingConfig, SecurityConfig};
use crate::dispatch::Dispatcher;
use crate::link::{LinkScratch, RawLink};
use crate::realtime::{AutoRealtime, Sample, Thresholds};
use crate::role::{Role, RoleSnapshot};
use crate::sys;
use crate::tun::Tun;
use crate::tun_backlog::TunBacklog;
use common::action::Action;
use common::batch::RecvBatch;
use common::counters::{Counters, DropReason, Syscall};
use common::offload::VnetHdr;
use common::Time;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Batches handled from one source before the loop looks at the other, so
/// a flood on one side cannot starve the other.
const BATCHES_PER_TURN: usize = 4;
/// A link whose receive queue has been empty this long is read one frame
/// at a time first: a plain `recv` of a lone frame is cheaper than a
/// `recvmmsg` that then tries the empty queue again (paired idle pings).
/// A queue that has not been seen empty is always read in batches.
const LINK_QUIET: Duration = Duration::from_millis(1);
/// How often the API snapshot and the link state are refreshed.
const SNAPSHOT_EVERY: Duration = Duration::from_millis(100);
const LINK_CHECK_EVERY: Duration = Duration::from_millis(500);
/// Window of the auto-realtime decision: long enough for steady shares,
/// short enough to follow a load that starts.
const REALTIME_SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Applies `[dataplane] realtime_priority` and `realtime` to the calling
/// (data-plane) thread: once at start for "always", per sampling window
/// for "auto".
struct RealtimeControl {
    priority: u8,
    /// `[dataplane] slice_us`, applied whenever the thread is under normal
    /// scheduling.
    slice: Option<Duration>,
    auto: Option<(AutoRealtime, sys::CpuPressure)>,
    last_sample: Time,
}

impl RealtimeControl {
    fn start(cfg: &DataplaneConfig, shared: &Shared) -> RealtimeControl {
        let mut rc = RealtimeControl {
            priority: cfg.realtime_priority,
            slice: (cfg.slice_us > 0).then(|| Duration::from_micros(cfg.slice_us.into())),
            auto: None,
            last_sample: Time::ZERO,
        };
        if let Some(cpu) = cfg.cpu {
            match sys::pin_to_cpu(cpu.into()) {
                Ok(()) => tracing::info!(cpu, "data plane bound to its CPU"),
                Err(e) => tracing::warn!(
                    cpu,
                    error = %e,
                    "cannot bind the data plane to this CPU (offline, absent or not allowed); it runs on any"
                ),
            }
        }
        if let Some(slice) = rc.slice {
            match sys::set_fair_scheduling(slice) {
                Ok(()) => tracing::info!(
                    slice_us = cfg.slice_us,
                    kernel_slice_us = sys::current_slice().map(|d| d.as_micros() as u64),
                    "data plane asks the scheduler for a short time slice"
                ),
                Err(e) => {
                    tracing::warn!(slice_us = cfg.slice_us, error = %e, "cannot set the data-plane time slice; the kernel's default applies");
                    rc.slice = None;
                }
            }
        }
        if cfg.realtime_priority == 0 {
            return rc;
        }
        match cfg.realtime {
            RealtimeMode::Always => match sys::set_realtime(rc.priority) {
                Ok(()) => {
                    shared.realtime.store(true, Ordering::Relaxed);
                    tracing::info!(
                        priority = rc.priority,
                        "data plane runs with realtime priority (SCHED_FIFO)"
                    );
                }
                Err(e) => tracing::warn!(
                    priority = rc.priority,
                    error = %e,
                    "cannot set realtime priority (needs CAP_SYS_NICE or LimitRTPRIO=); normal scheduling"
                ),
            },
            RealtimeMode::Auto => {
                // Try once up front, so a missing permission is reported at
                // start and not at the first busy moment.
                let permitted = sys::set_realtime(rc.priority).and_then(|()| rc.normal());
                match (permitted, sys::CpuPressure::open()) {
                    (Ok(()), Ok(psi)) => {
                        tracing::info!(
                            priority = rc.priority,
                            "data plane takes realtime priority (SCHED_FIFO) while the CPUs are contended"
                        );
                        rc.auto = Some((AutoRealtime::new(Thresholds::default()), psi));
                    }
                    (Err(e), _) => tracing::warn!(
                        priority = rc.priority,
                        error = %e,
                        "cannot set realtime priority (needs CAP_SYS_NICE or LimitRTPRIO=); normal scheduling"
                    ),
                    (_, Err(e)) => tracing::warn!(
                        path = sys::CpuPressure::PATH,
                        error = %e,
                        "no CPU pressure information (kernel without PSI, or psi=0); realtime = \"auto\" keeps normal scheduling"
                    ),
                }
            }
        }
        rc
    }

    /// Normal scheduling, with the configured slice if there is one.
    fn normal(&self) -> io::Result<()> {
        match self.slice {
            Some(slice) => sys::set_fair_scheduling(slice),
            None => sys::set_normal_scheduling(),
        }
    }

    /// Takes a sample when a window has passed and switches if the policy
    /// says so.
    fn on_loop(&mut self, now: Time, shared: &Shared) {
        let Some((policy, psi)) = &mut self.auto else {
            return;
        };
        if now.since(self.last_sample) < REALTIME_SAMPLE_EVERY {
            return;
        }
        self.last_sample = now;
        let Ok(cpu_pressure_us) = psi.some_total_us() else {
            return;
        };
        let sample = Sample {
            at_us: now.0,
            cpu_pressure_us,
        };
        let Some(realtime) = policy.on_sample(sample) else {
            return;
        };
        let r = if realtime {
            sys::set_realtime(self.priority)
        } else {
            self.normal()
        };
        match r {
            Ok(()) => {
                shared.realtime.store(realtime, Ordering::Relaxed);
                shared.realtime_switches.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(realtime, "data-plane scheduling switched");
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot switch data-plane scheduling; normal scheduling from now on");
                let _ = self.normal();
                shared.realtime.store(false, Ordering::Relaxed);
                self.auto = None;
            }
        }
    }
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
    routing_update: Mutex<Option<RoutingConfig>>,
    security_update: Mutex<Option<SecurityConfig>>,
}

impl Shared {
    pub fn new(counters: Arc<Counters>) -> io::Result<Shared> {
        Ok(Shared {
            counters,
            started: Instant::now(),
            shutdown: AtomicBool::new(false),
            wake: sys::eventfd()?,
            heartbeat_us: AtomicU64::new(0),
            link_up: AtomicBool::new(true),
            realtime: AtomicBool::new(false),
            realtime_switches: AtomicU64::new(0),
            snapshot: Mutex::new(RoleSnapshot::default()),
            routing_update: Mutex::new(None),
            security_update: Mutex::new(None),
        })
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

    /// Hands new routing settings to the loop (SIGHUP).
    pub fn update_routing(&self, r: RoutingConfig) {
        *self
            .routing_update
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(r);
        sys::eventfd_signal(self.wake.as_raw_fd());
    }

    /// Hands new trust lists and session limits to the loop (SIGHUP).
    pub fn update_security(&self, c: SecurityConfig) {
        *self
            .security_update
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(c);
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

/// The devices and role a data plane runs.
pub struct Dataplane<R: Role> {
    pub link: RawLink,
    pub tun: Tun,
    pub role: R,
    pub batching: BatchingConfig,
    pub dataplane: DataplaneConfig,
    pub shared: Arc<Shared>,
}

fn is_link_down(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENETDOWN) | Some(libc::ENXIO) | Some(libc::ENODEV)
    )
}

impl<R: Role> Dataplane<R> {
    /// Sends what the TUN backlog has for this turn: the small packets
    /// just read, then a turn's share of the queued bulk.
    fn send_backlog_turn(
        &mut self,
        backlog: &mut TunBacklog,
        dispatch: &mut Dispatcher,
        empty: &RecvBatch,
        c: &Counters,
    ) {
        backlog.take_bulk();
        let (out, pool, meta) = backlog.to_send();
        dispatch.handle_messages_batched(
            out,
            empty,
            pool,
            meta,
            &self.link,
            &self.tun,
            c,
            self.role.sealer(),
        );
        backlog.sent();
    }

    /// The TUN is ours: a read error other than EAGAIN means it is gone
    /// (deleted, fd broken). Polling on would spin; the loop stops and the
    /// service manager restarts the daemon.
    fn tun_failed(&self, e: io::Error, c: &Counters) -> io::Error {
        Counters::inc(&c.tun_errors, 1);
        tracing::error!(error = %e, tun = self.tun.name(), "TUN device failed; stopping");
        io::Error::new(e.kind(), format!("TUN `{}`: {e}", self.tun.name()))
    }

    /// Runs until shutdown is requested. Never returns early on bad input or
    /// a link that goes down; only a failing poll ends it with an error.
    pub fn run(mut self) -> io::Result<()> {
        let shared = self.shared.clone();
        let c: &Counters = &shared.counters;
        let max_batch = if self.batching.enabled {
            self.batching.max_batch
        } else {
            1
        };
        let batched = self.batching.enabled;
        let mut link_rx = RecvBatch::new(max_batch, self.link.frame_capacity());
        // Batched: the TUN is read through the backlog; unbatched: one
        // packet at a time through `tun_rx`.
        let unbatched_slots = if batched { 0 } else { max_batch };
        let mut tun_rx = RecvBatch::new(unbatched_slots, self.tun.read_capacity());
        let mut tun_meta = vec![VnetHdr::default(); unbatched_slots];
        let mut backlog = TunBacklog::new(
            if batched { max_batch } else { 0 },
            self.tun.read_capacity(),
            // Bulk per turn: about one sendmmsg of link frames, so the loop
            // is back at the link and the TUN within a fraction of a ms.
            max_batch * self.link.mtu(),
        );
        let empty = RecvBatch::new(0, 1);
        let mut scratch = LinkScratch::new(max_batch);
        let mut dispatch = Dispatcher::new(
            common::NodeId(self.link.mac()),
            self.link.ethertype(),
            self.link.mtu(),
            batched,
            self.batching.aggregate,
            max_batch,
        );
        let mut actions: Vec<Action> = Vec::with_capacity(max_batch * 4);
        let mut last_snapshot = Time::ZERO;
        let mut last_link_check = Time::ZERO;
        // Since when the link's receive queue is known to be empty (None:
        // frames may be waiting).
        let mut link_empty_since: Option<Time> = Some(Time::ZERO);
        let mut link_was_up = true;
        let mut link_error_logged = false;
        let mut tun_errors_seen = 0;
        // When each rate-limited warning was last logged (none yet: the
        // first one is logged at once, even in the first seconds).
        let mut last_tun_warning: Option<Time> = None;
        let mut last_queue_warning: Option<Time> = None;
        let warn_again = |last: Option<Time>, now: Time| {
            last.is_none_or(|t| now.since(t) >= Duration::from_secs(10))
        };
        let mut realtime = RealtimeControl::start(&self.dataplane, &shared);
        loop {
            let now = shared.now();
            shared.heartbeat_us.store(now.0, Ordering::Relaxed);
            realtime.on_loop(now, &shared);
            if now >= self.role.next_tick() {
                self.role.on_tick(now, &mut actions);
                dispatch.handle_messages_batched(
                    &actions,
                    &empty,
                    &empty,
                    &[],
                    &self.link,
                    &self.tun,
                    c,
                    self.role.sealer(),
                );
                actions.clear();
            }
            if now.since(last_link_check) >= LINK_CHECK_EVERY {
                last_link_check = now;
                // Frames the kernel dropped because we did not read them in
                // time are lost before we accepted them: count them.
                if let Ok(n) = self.link.take_queue_drops() {
                    if n > 0 {
                        c.count_drops(DropReason::LinkQueueFull, u64::from(n));
                        if warn_again(last_queue_warning, now) {
                            tracing::warn!(
                                frames = n,
                                "link receive queue overflowed; frames dropped by the kernel and counted (link_queue_full)"
                            );
                            last_queue_warning = Some(now);
                        }
                    }
                }
                // Interface deleted and created again: the socket is bound to
                // the old index, so open it anew (bounded by the check period).
                if sys::if_index(self.link.ifname()).is_ok_and(|i| i != self.link.ifindex()) {
                    match RawLink::open(self.link.ifname(), self.link.ethertype()) {
                        Ok(l) => {
                            tracing::warn!(
                                interface = l.ifname(),
                                "interface was re-created; link socket reopened"
                            );
                            backlog.set_budget(max_batch * l.mtu());
                            if l.mac() != self.link.mac() {
                                dispatch = Dispatcher::new(
                                    common::NodeId(l.mac()),
                                    l.ethertype(),
                                    l.mtu(),
                                    batched,
                                    self.batching.aggregate,
                                    max_batch,
                                );
                            }
                            self.link = l;
                        }
                        Err(e) => tracing::debug!(error = %e, "cannot reopen the link yet"),
                    }
                }
                let up = sys::if_running(self.link.ifname()).unwrap_or(false);
                if up != link_was_up {
                    if up {
                        tracing::info!(interface = self.link.ifname(), "link is up again");
                    } else {
                        tracing::warn!(
                            interface = self.link.ifname(),
                            "link is down; waiting for it"
                        );
                    }
                    link_was_up = up;
                    link_error_logged = false;
                }
                shared.link_up.store(up, Ordering::Relaxed);
            }
            let tun_errors = Counters::get(&c.tun_errors);
            if tun_errors > tun_errors_seen && warn_again(last_tun_warning, now) {
                tracing::warn!(
                    errors = tun_errors - tun_errors_seen,
                    "TUN writes failing (queue full or device error); packets dropped and counted"
                );
                tun_errors_seen = tun_errors;
                last_tun_warning = Some(now);
            }
            if self.role.take_changed() || now.since(last_snapshot) >= SNAPSHOT_EVERY {
                last_snapshot = now;
                let snap = self.role.snapshot(now);
                *shared.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = snap;
            }
            let wait = self.role.next_tick().0.saturating_sub(now.0);
            let timeout_ms = if backlog.has_bulk() {
                0
            } else {
                wait.div_ceil(1000).min(SNAPSHOT_EVERY.as_millis() as u64) as i32
            };
            let mut fds = [
                libc::pollfd {
                    fd: self.link.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.tun.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: shared.wake.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            c.syscall(Syscall::Poll);
            sys::poll(&mut fds, timeout_ms)?;
            if shared.is_shutting_down() {
                // What was read from the TUN is accepted: send it all.
                while backlog.has_bulk() {
                    self.send_backlog_turn(&mut backlog, &mut dispatch, &empty, c);
                }
                return Ok(());
            }
            if fds[2].revents != 0 {
                sys::eventfd_drain(shared.wake.as_raw_fd());
                let update = shared
                    .routing_update
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                if let Some(r) = update {
                    self.role.set_routing(&r);
                    tracing::info!(?r, "routing settings reloaded");
                }
                let update = shared
                    .security_update
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                if let Some(c) = update {
                    self.role.set_security(&c);
                    tracing::info!("security trust lists and limits reloaded");
                }
            }
            if fds[0].revents == 0 {
                // Poll says nothing is queued on the link.
                link_empty_since.get_or_insert_with(|| shared.now());
            } else {
                // After a quiet spell, one frame by plain recv; if more are
                // queued, poll returns at once and the next read is batched.
                let lone = batched
                    && link_empty_since.is_some_and(|t| shared.now().since(t) >= LINK_QUIET);
                for _ in 0..BATCHES_PER_TURN {
                    let n = match self.link.recv(
                        &mut link_rx,
                        max_batch,
                        &mut scratch,
                        batched && !lone,
                        c,
                    ) {
                        Ok(n) => n,
                        Err(e) => {
                            Counters::inc(&c.link_errors, 1);
                            if is_link_down(&e) {
                                shared.link_up.store(false, Ordering::Relaxed);
                                link_was_up = false;
                                tracing::warn!(
                                    interface = self.link.ifname(),
                                    "link is down; waiting for it"
                                );
                            }
                            if !link_error_logged {
                                tracing::warn!(error = %e, down = is_link_down(&e), "link receive failed");
                                link_error_logged = true;
                            }
                            break;
                        }
                    };
                    if n == 0 {
                        link_empty_since.get_or_insert_with(|| shared.now());
                        break;
                    }
                    let now = shared.now();
                    // A batched read that came back short emptied the queue;
                    // after a full batch or a lone read frames may wait.
                    link_empty_since = (!lone && n < max_batch).then_some(now);
                    for i in 0..n {
                        let frame = link_rx.get_mut(i);
                        if frame.is_empty() {
                            continue;
                        }
                        Counters::inc(&c.link_rx_frames, 1);
                        Counters::inc(&c.link_rx_bytes, frame.len() as u64);
                        self.role.on_frame(now, i as u16, frame, &mut actions);
                    }
                    dispatch.handle_messages_batched(
                        &actions,
                        &link_rx,
                        &empty,
                        &[],
                        &self.link,
                        &self.tun,
                        c,
                        self.role.sealer(),
                    );
                    actions.clear();
                    if n < max_batch {
                        break;
                    }
                }
            }
            if batched && (fds[1].revents != 0 || backlog.has_bulk()) {
                if fds[1].revents != 0 {
                    if let Err(e) = backlog.read(&self.tun, c) {
                        return Err(self.tun_failed(e, c));
                    }
                    let now = shared.now();
                    for k in 0..backlog.fresh().len() {
                        let slot = backlog.fresh()[k];
                        let pkt = backlog.packet(slot);
                        Counters::inc(&c.tun_rx_packets, 1);
                        Counters::inc(&c.tun_rx_bytes, pkt.len() as u64);
                        self.role.on_tun(now, slot, pkt, &mut actions);
                        backlog.file(slot, &mut actions);
                    }
                }
                self.send_backlog_turn(&mut backlog, &mut dispatch, &empty, c);
            } else if fds[1].revents != 0 {
                for _ in 0..BATCHES_PER_TURN {
                    let n = match self
                        .tun
                        .recv(&mut tun_rx, &mut tun_meta, max_batch, batched, c)
                    {
                        Ok(n) => n,
                        Err(e) => return Err(self.tun_failed(e, c)),
                    };
                    if n == 0 {
                        break;
                    }
                    let now = shared.now();
                    for i in 0..n {
                        let pkt = tun_rx.get(i);
                        Counters::inc(&c.tun_rx_packets, 1);
                        Counters::inc(&c.tun_rx_bytes, pkt.len() as u64);
                        self.role.on_tun(now, i as u16, pkt, &mut actions);
                    }
                    dispatch.handle_messages_batched(
                        &actions,
                        &empty,
                        &tun_rx,
                        &tun_meta,
                        &self.link,
                        &self.tun,
                        c,
                        self.role.sealer(),
                    );
                    actions.clear();
                    if n < max_batch {
                        break;
                    }
                }
            }
        }
    }
}
