//! The data-plane loop: one thread that waits on the link socket, the TUN
//! device and a wake-up eventfd, and moves batches between them through the
//! role's state machine. No timers on the forwarding path: whatever is
//! queued when the loop wakes is one batch, so a lone packet leaves at once.

use crate::config::{BatchingConfig, DataplaneConfig, RealtimeMode};
use crate::link::{LinkPort, RawLink};
use crate::realtime::{AutoRealtime, Sample, Thresholds};
use crate::shared::{Command, Shared};
use crate::sys;
use crate::tun::{Tun, TunPort};
use common::counters::{Counters, DropReason, Syscall};
use common::Time;
use datapath::{Backlog, Engine, EngineConfig};
use protocol::export::ExportedRoute;
use protocol::probe::ProbeResult;
use protocol::role::Role;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Least time between two exports of the kernel routes the role wants.
const EXPORT_MIN_GAP: Duration = Duration::from_millis(5);
/// Least time between two snapshots taken because something changed.
const SNAPSHOT_MIN_GAP: Duration = Duration::from_millis(50);
/// How often the channel load is worked out.
const CHANNEL_LOAD_EVERY: Duration = Duration::from_secs(1);
/// How often the API snapshot is refreshed without a change (ages and
/// counts; a change refreshes it within `SNAPSHOT_MIN_GAP`). Building it
/// is the costliest thing an idle daemon does.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);
/// The longest the loop sleeps (the link state is checked every
/// `LINK_CHECK_EVERY`).
const POLL_MAX: Duration = Duration::from_millis(100);
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
        Self::pin(cfg);
        rc.apply_slice(cfg);
        if cfg.realtime_priority > 0 {
            rc.apply_priority(cfg, shared);
        }
        rc
    }

    /// `[dataplane] cpu`: binds the thread to its CPU.
    fn pin(cfg: &DataplaneConfig) {
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
    }

    /// `[dataplane] slice_us`: asks the fair scheduler for a short slice.
    fn apply_slice(&mut self, cfg: &DataplaneConfig) {
        if let Some(slice) = self.slice {
            match sys::set_fair_scheduling(slice) {
                Ok(()) => tracing::info!(
                    slice_us = cfg.slice_us,
                    kernel_slice_us = sys::current_slice().map(|d| d.as_micros() as u64),
                    "data plane asks the scheduler for a short time slice"
                ),
                Err(e) => {
                    tracing::warn!(slice_us = cfg.slice_us, error = %e, "cannot set the data-plane time slice; the kernel's default applies");
                    self.slice = None;
                }
            }
        }
    }

    /// `[dataplane] realtime_priority` with `realtime`: always, or (auto)
    /// once up front to report a missing permission, then by the sampler.
    fn apply_priority(&mut self, cfg: &DataplaneConfig, shared: &Shared) {
        match cfg.realtime {
            RealtimeMode::Always => match sys::set_realtime(self.priority) {
                Ok(()) => {
                    shared.realtime.store(true, Ordering::Relaxed);
                    tracing::info!(
                        priority = self.priority,
                        "data plane runs with realtime priority (SCHED_FIFO)"
                    );
                }
                Err(e) => tracing::warn!(
                    priority = self.priority,
                    error = %e,
                    "cannot set realtime priority (needs CAP_SYS_NICE or LimitRTPRIO=); normal scheduling"
                ),
            },
            RealtimeMode::Auto => {
                // Try once up front, so a missing permission is reported at
                // start and not at the first busy moment.
                let permitted = sys::set_realtime(self.priority).and_then(|()| self.normal());
                match (permitted, sys::CpuPressure::open()) {
                    (Ok(()), Ok(psi)) => {
                        tracing::info!(
                            priority = self.priority,
                            "data plane takes realtime priority (SCHED_FIFO) while the CPUs are contended"
                        );
                        self.auto = Some((AutoRealtime::new(Thresholds::default()), psi));
                    }
                    (Err(e), _) => tracing::warn!(
                        priority = self.priority,
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

/// The devices and role a data plane runs.
pub struct Dataplane<R: Role> {
    pub link: RawLink,
    pub tun: Tun,
    pub role: R,
    pub batching: BatchingConfig,
    pub dataplane: DataplaneConfig,
    pub shared: Arc<Shared>,
    /// `[link] phy_rate_mbps` in kbit/s, for the airtime estimates.
    pub phy_rate_kbps: u64,
    /// `[priority]`: the class of each DSCP, of control and broadcast.
    pub classes: common::priority::ClassMap,
}

fn is_link_down(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENETDOWN) | Some(libc::ENXIO) | Some(libc::ENODEV)
    )
}

impl<R: Role> Dataplane<R> {
    /// Runs until shutdown is requested. Never returns early on bad input or
    /// a link that goes down; only a failing poll or a TUN that is gone
    /// ends it with an error.
    pub fn run(self) -> io::Result<()> {
        Pipeline::new(self).run()
    }
}

/// What poll found ready.
struct Ready {
    link: bool,
    tun: bool,
    wake: bool,
}

/// The loop's state: the devices and the role, the reused buffers, and
/// what the loop remembers from one turn to the next.
///
/// One turn of the loop:
///
/// ```text
///  1. `tick`          heartbeat, realtime switch; when a timer is due,
///                     the frames that reached the host first, then the
///                     role's timers (beacons, expiry, handshakes)
///  2. `watch_link`    every 500 ms: frames the kernel dropped, an
///                     interface re-created, the link up or down
///  3. `report`        the rate-limited TUN error warning, the API snapshot
///  4. `wait`          poll the link, the TUN and the wake-up eventfd, up to
///                     the role's next timer (at once while bulk waits)
///  5. shutdown        send what the TUN backlog holds, then return
///  6. `commands`      what the control side queued (`shared::Command`):
///                     reloaded settings (SIGHUP), probes (the API)
///  7. `receive_link`  up to 4 receive batches (after a quiet spell, a lone
///                     frame by plain recv): each frame to the role, the
///                     role's actions planned and flushed
///  8. `receive_tun`   batched: read into the backlog, each packet to the
///                     role, small packets now and a turn's share of bulk;
///                     unbatched: one packet at a time, as the link
/// ```
///
/// Batched and unbatched differ in batch sizes and syscalls (recvmmsg or
/// recvmsg, sendmmsg or sendmsg, the backlog or one read per packet).
struct Pipeline<R: Role> {
    /// The devices and the data path between them (`datapath::Engine`).
    engine: Engine<LinkPort, TunPort>,
    role: R,
    shared: Arc<Shared>,
    realtime: RealtimeControl,
    last_snapshot: Time,
    /// The role reported a change not yet in the snapshot.
    dirty: bool,
    /// Routes in the last snapshot (its cost).
    snapshot_routes: usize,
    /// A change not yet exported, and when the last export was.
    export_pending: bool,
    last_export: Time,
    /// The last uplink state handed to the role, and the exports buffer.
    uplink_seen: u8,
    /// Channel load: when it was last worked out and the airtime (µs)
    /// counted by then.
    busy_at: Time,
    busy_us: u64,
    exports: Vec<ExportedRoute>,
    last_link_check: Time,
    link_was_up: bool,
    link_error_logged: bool,
    tun_errors_seen: u64,
    /// When each rate-limited warning was last logged (none yet: the
    /// first one is logged at once, even in the first seconds).
    last_tun_warning: Option<Time>,
    last_queue_warning: Option<Time>,
    /// Probe answers on their way to the API (reused).
    probe_answers: Vec<ProbeResult>,
}

fn warn_again(last: Option<Time>, now: Time) -> bool {
    last.is_none_or(|t| now.since(t) >= Duration::from_secs(10))
}

impl<R: Role> Pipeline<R> {
    fn new(dp: Dataplane<R>) -> Pipeline<R> {
        let batched = dp.batching.enabled;
        let max_batch = if batched { dp.batching.max_batch } else { 1 };
        let config = EngineConfig {
            mac: common::NodeId(dp.link.mac()),
            ethertype: dp.link.ethertype(),
            link_mtu: dp.link.mtu(),
            frame_capacity: dp.link.frame_capacity(),
            tun_read_capacity: dp.tun.read_capacity(),
            batched,
            aggregate: dp.batching.aggregate,
            max_batch,
            phy_rate_kbps: dp.phy_rate_kbps,
        };
        // The link's arrays serve a receive batch and a flush's frames.
        let frames = max_batch.max(datapath::dispatch::frames_for(max_batch));
        let link = LinkPort::new(dp.link, frames, dp.phy_rate_kbps);
        let counters = dp.shared.counters.clone();
        let mut engine = Engine::new(config, link, TunPort::new(dp.tun), counters);
        engine.set_classes(dp.classes);
        Pipeline {
            engine,
            realtime: RealtimeControl::start(&dp.dataplane, &dp.shared),
            last_snapshot: Time::ZERO,
            // The first snapshot at once (an RSU is ready from it).
            dirty: true,
            snapshot_routes: 0,
            export_pending: false,
            last_export: Time::ZERO,
            uplink_seen: crate::shared::UPLINK_UNCHECKED,
            busy_at: Time::ZERO,
            busy_us: 0,
            exports: Vec::new(),
            last_link_check: Time::ZERO,
            link_was_up: true,
            link_error_logged: false,
            tun_errors_seen: 0,
            last_tun_warning: None,
            last_queue_warning: None,
            probe_answers: Vec::new(),
            role: dp.role,
            shared: dp.shared,
        }
    }

    fn run(mut self) -> io::Result<()> {
        loop {
            let now = self.shared.now();
            self.tick(now);
            self.watch_link(now);
            self.report(now);
            let ready = self.wait()?;
            if self.shared.is_shutting_down() {
                self.drain();
                return Ok(());
            }
            self.commands(&ready);
            self.receive_link(&ready);
            self.receive_tun(&ready)?;
        }
    }

    /// Step 1: Heartbeat for the watchdog, the realtime decision, the role's
    /// timers.
    fn tick(&mut self, now: Time) {
        self.shared.heartbeat_us.store(now.0, Ordering::Relaxed);
        self.realtime.on_loop(now, &self.shared);
        if now < self.role.next_tick() {
            return;
        }
        // A timeout judges a neighbour by when its frames reached this
        // host, not by when a busy daemon got round to them: all that waits
        // on the link is read before the timers run (one receive that finds
        // nothing when all was read).
        if self.link_was_up {
            let shared = &self.shared;
            let clock = || shared.now();
            if let Err(e) = self.engine.drain_link(&mut self.role, &clock) {
                self.link_receive_failed(e);
            }
        }
        let now = self.shared.now();
        self.engine.tick(&mut self.role, now);
    }

    /// Step 2: Every `LINK_CHECK_EVERY`: count what the kernel dropped, reopen a
    /// re-created interface, follow the link's state.
    fn watch_link(&mut self, now: Time) {
        if now.since(self.last_link_check) < LINK_CHECK_EVERY {
            return;
        }
        self.last_link_check = now;
        self.count_queue_drops(now);
        self.reopen_if_recreated();
        let up = sys::if_running(self.engine.link.raw.ifname()).unwrap_or(false);
        if up != self.link_was_up {
            if up {
                tracing::info!(
                    interface = self.engine.link.raw.ifname(),
                    "link is up again"
                );
            } else {
                tracing::warn!(
                    interface = self.engine.link.raw.ifname(),
                    "link is down; waiting for it"
                );
            }
            self.link_was_up = up;
            self.link_error_logged = false;
        }
        self.shared.link_up.store(up, Ordering::Relaxed);
    }

    /// Frames the kernel dropped because we did not read them in time are
    /// lost before we accepted them: count them.
    fn count_queue_drops(&mut self, now: Time) {
        let Ok(n) = self.engine.link.raw.take_queue_drops() else {
            return;
        };
        if n == 0 {
            return;
        }
        let c = &self.shared.counters;
        c.count_drops(DropReason::LinkQueueFull, u64::from(n));
        if warn_again(self.last_queue_warning, now) {
            tracing::warn!(
                frames = n,
                "link receive queue overflowed; frames dropped by the kernel and counted (link_queue_full)"
            );
            self.last_queue_warning = Some(now);
        }
    }

    /// An interface deleted and created again: the socket is bound to the
    /// old index, so open it anew (bounded by the check period).
    fn reopen_if_recreated(&mut self) {
        let raw = &self.engine.link.raw;
        if !sys::if_index(raw.ifname()).is_ok_and(|i| i != raw.ifindex()) {
            return;
        }
        let bulk_limit = raw.bulk_limit();
        let reopened = RawLink::open(raw.ifname(), raw.ethertype()).and_then(|mut l| {
            l.set_bulk_lane(bulk_limit)?;
            Ok(l)
        });
        match reopened {
            Ok(l) => {
                tracing::warn!(
                    interface = l.ifname(),
                    "interface was re-created; link socket reopened"
                );
                self.engine
                    .relink(common::NodeId(l.mac()), l.ethertype(), l.mtu());
                self.engine.link.raw = l;
            }
            Err(e) => tracing::debug!(error = %e, "cannot reopen the link yet"),
        }
    }

    /// Step 3: The TUN error warning (at most every 10 s) and the API snapshot
    /// (on a change, or every `SNAPSHOT_EVERY`).
    fn report(&mut self, now: Time) {
        let tun_errors = Counters::get(&self.shared.counters.tun_errors);
        if tun_errors > self.tun_errors_seen && warn_again(self.last_tun_warning, now) {
            tracing::warn!(
                errors = tun_errors - self.tun_errors_seen,
                "TUN writes failing (queue full or device error); packets dropped and counted"
            );
            self.tun_errors_seen = tun_errors;
            self.last_tun_warning = Some(now);
        }
        self.channel_load(now);
        self.role.take_probe_results(&mut self.probe_answers);
        if !self.probe_answers.is_empty() {
            self.shared.push_probe_results(&mut self.probe_answers);
        }
        let uplink = self.shared.uplink.load(Ordering::Relaxed);
        if uplink != self.uplink_seen {
            self.uplink_seen = uplink;
            self.role.set_uplink(uplink != crate::shared::UPLINK_DOWN);
        }
        // A change is shown at once, but at most every SNAPSHOT_MIN_GAP: a
        // flood of new routes (forged replies in mode off) must not make
        // the loop rebuild a large snapshot per frame.
        let changed = self.role.take_changed();
        self.dirty |= changed;
        // Kernel routes follow at once (the backbone's handover time), but
        // a burst of changes (a flood of
        // new ids in mode off) is exported once per EXPORT_MIN_GAP: each
        // export lists every route.
        self.export_pending |= changed;
        if self.export_pending && now.since(self.last_export) >= EXPORT_MIN_GAP {
            self.export_routes(now);
        }
        let since = now.since(self.last_snapshot);
        // Building the snapshot is linear in the tables: with thousands of
        // routes it is refreshed less often (a large cell, or a flood of
        // made-up ids in mode off, must not take the loop's time).
        let scale = 1 + self.snapshot_routes as u32 / 1000;
        let (min_gap, every) = (SNAPSHOT_MIN_GAP * scale, SNAPSHOT_EVERY * scale);
        if (self.dirty && since >= min_gap) || since >= every {
            self.dirty = false;
            self.last_snapshot = now;
            let snap = self.role.snapshot(now);
            self.snapshot_routes = snap.route_count;
            *self
                .shared
                .snapshot
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = snap;
            self.export_routes(now);
        }
    }

    /// The share of the last second the channel was busy by the airtime
    /// estimates (ours and what we heard), for the API.
    fn channel_load(&mut self, now: Time) {
        let elapsed = now.since(self.busy_at);
        if elapsed < CHANNEL_LOAD_EVERY {
            return;
        }
        let c = &self.shared.counters;
        let total = Counters::get(&c.airtime_rx_us)
            + c.airtime_tx_us.iter().map(Counters::get).sum::<u64>();
        let busy = total.saturating_sub(self.busy_us);
        let permille = (busy * 1000 / (elapsed.as_micros() as u64).max(1)).min(1000);
        self.shared
            .channel_busy_permille
            .store(permille, Ordering::Relaxed);
        self.busy_at = now;
        self.busy_us = total;
    }

    /// The kernel routes the role wants, handed to `backbone.rs` when they
    /// changed.
    fn export_routes(&mut self, now: Time) {
        self.export_pending = false;
        self.last_export = now;
        if self.shared.exports.receiver_count() == 0 {
            return;
        }
        self.role.exported_routes(&mut self.exports);
        if self.exports[..] != self.shared.exports.borrow()[..] {
            self.shared
                .exports
                .send_replace(Arc::new(self.exports.clone()));
        }
    }

    /// Step 4: Blocks until the link, the TUN or the eventfd is readable, or the
    /// role's next timer (not at all while bulk waits in the backlog).
    fn wait(&mut self) -> io::Result<Ready> {
        let now = self.shared.now();
        let wait = self.role.next_tick().0.saturating_sub(now.0);
        let backlog = self.engine.backlog();
        let timeout_ms = if backlog == Backlog::Ready {
            0
        } else if backlog == Backlog::WaitsForRoom {
            // Bulk waits for the radio's bulk lane: look again in 1 ms.
            1
        } else if self.export_pending {
            EXPORT_MIN_GAP.as_millis() as i32
        } else {
            wait.div_ceil(1000).min(POLL_MAX.as_millis() as u64) as i32
        };
        let fd = |fd: i32| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let mut fds = [
            fd(self.engine.link.raw.as_raw_fd()),
            fd(self.engine.tun.tun.as_raw_fd()),
            fd(self.shared.wake_fd()),
        ];
        self.shared.counters.syscall(Syscall::Poll);
        sys::poll(&mut fds, timeout_ms)?;
        Ok(Ready {
            link: fds[0].revents != 0,
            tun: fds[1].revents != 0,
            wake: fds[2].revents != 0,
        })
    }

    /// Step 5: Shutdown: what was read from the TUN is accepted, so send it all.
    fn drain(&mut self) {
        self.engine.drain(&mut self.role);
    }

    /// Step 6: What the control side asked for: new routing or security
    /// settings (SIGHUP), probes (the API). Sent now; a probe that cannot
    /// go is answered at once with the reason.
    fn commands(&mut self, ready: &Ready) {
        if !ready.wake {
            return;
        }
        self.shared.drain_wake();
        let now = self.shared.now();
        let mut failed = Vec::new();
        for command in self.shared.take_commands() {
            match command {
                Command::Routing(r) => {
                    self.role.set_routing(&r);
                    tracing::info!(?r, "routing settings reloaded");
                }
                Command::Security(c) => {
                    self.role.set_security(&c);
                    tracing::info!("security trust lists and limits reloaded");
                }
                Command::Probe(req) => {
                    if let Err(reason) = self.role.probe(now, req, self.engine.actions()) {
                        failed.push(ProbeResult {
                            id: req.id,
                            seq: req.seq,
                            kind: reason.as_str(),
                            from: common::NodeId::default(),
                            hops: 0,
                            rtt_us: 0,
                        });
                    }
                }
            }
        }
        self.engine.flush_actions(&mut self.role);
        if !failed.is_empty() {
            self.shared.push_probe_results(&mut failed);
        }
    }

    /// Step 7: Receive batches from the link, each through the role and out.
    fn receive_link(&mut self, ready: &Ready) {
        let shared = &self.shared;
        let clock = || shared.now();
        if let Err(e) = self.engine.receive_link(&mut self.role, &clock, ready.link) {
            self.link_receive_failed(e);
        }
    }

    /// A failed link receive: counted, logged once per outage; a link that
    /// went down is marked so (the next check sees it come back).
    fn link_receive_failed(&mut self, e: io::Error) {
        Counters::inc(&self.shared.counters.link_errors, 1);
        if is_link_down(&e) {
            self.shared.link_up.store(false, Ordering::Relaxed);
            self.link_was_up = false;
            tracing::warn!(
                interface = self.engine.link.raw.ifname(),
                "link is down; waiting for it"
            );
        }
        if !self.link_error_logged {
            tracing::warn!(error = %e, down = is_link_down(&e), "link receive failed");
            self.link_error_logged = true;
        }
    }

    /// Step 8: Packets from the TUN through the role and out.
    fn receive_tun(&mut self, ready: &Ready) -> io::Result<()> {
        let shared = &self.shared;
        let clock = || shared.now();
        let r = self.engine.receive_tun(&mut self.role, &clock, ready.tun);
        r.map_err(|e| self.tun_failed(e))
    }

    /// The TUN is ours: a read error other than EAGAIN means it is gone
    /// (deleted, fd broken). Polling on would spin; the loop stops and the
    /// service manager restarts the daemon.
    fn tun_failed(&self, e: io::Error) -> io::Error {
        Counters::inc(&self.shared.counters.tun_errors, 1);
        let name = self.engine.tun.tun.name();
        tracing::error!(error = %e, tun = name, "TUN device failed; stopping");
        io::Error::new(e.kind(), format!("TUN `{name}`: {e}"))
    }
}
