//! `v2xd-lab run`: builds the road, drives it, measures it, removes it.
//!
//! 1. Check: the plan (scenario, trace, flows) and the machine's tools.
//! 2. Build: a namespace per node on the air bridge (the testbed's
//!    machinery), the backbone with BIRD when asked, the radio table.
//! 3. Radio at time 0, bandwidth limits, then every daemon, started side
//!    by side; keys from keygen in the secure modes.
//! 4. Drive: every 1/update_hz, the scenario's events that are due,
//!    positions at the trace time → changed pairs → one nft transaction;
//!    tool flows started on time (and again after a failure); the host's
//!    CPU once a second; the UDP flows and the observer run in their own
//!    threads.
//! 5. Measure: flows, samples, events and their recovery, each daemon's
//!    CPU and peak memory, the lab's own CPU; results.json and summary.md.
//! 6. Remove everything (drop), also on Ctrl-C and on failure.

use crate::air::{self, AirRules, Radios};
use crate::channel_watch::ChannelWatch;
use crate::events::{Actions, Events, Signal};
use crate::flows::{self, Ends, FlowResult, UdpFlows};
use crate::host_cpu::HostSampler;
use crate::hosts::Hosts;
use crate::live::Live;
use crate::observe::{Observer, Target};
use crate::plan::{Endpoint, Plan, Role};
use crate::radio::Air;
use crate::results::{self, LabCost, NodeCost, Results, Spread};
use crate::scenario::{FlowKind, Security};
use crate::stability::{self, Inputs};
use crate::tools::ToolFlow;
use crate::web::WebServer;
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testbed::road::{self as tb_road, Road};
use testbed::{NodeOptions, Testbed, Topology};

/// Every lab namespace starts with this, then the lab's PID in hex and
/// `x` (testbed tags are hex only, so they never look like a lab's).
pub const NS_PREFIX: &str = "v2xl";

/// What `run` was asked.
pub struct RunOptions {
    pub out: PathBuf,
    /// Set from outside (Ctrl-C, SIGTERM): stop early, still measure and
    /// clean up.
    pub stop: Arc<AtomicBool>,
    /// Print progress lines.
    pub verbose: bool,
    /// Serve the live web view here (`127.0.0.1:8080`).
    pub web: Option<String>,
}

/// The lab's network: the nodes on the air, and the backbone if any.
enum Net {
    Plain(Testbed),
    Backbone(Road),
}

impl Net {
    fn tb(&self) -> &Testbed {
        match self {
            Net::Plain(t) => t,
            Net::Backbone(r) => &r.tb,
        }
    }
    fn tb_mut(&mut self) -> &mut Testbed {
        match self {
            Net::Plain(t) => t,
            Net::Backbone(r) => &mut r.tb,
        }
    }
}

/// Where each flow end lives, taken from the network once (the flows
/// start processes while the events act on the same network).
struct NetEnds {
    ns: Vec<String>,
    addr: Vec<String>,
    /// The core's namespace, with a backbone.
    server_ns: Option<String>,
}

impl NetEnds {
    fn of(net: &Net) -> NetEnds {
        let nodes = &net.tb().nodes;
        NetEnds {
            ns: nodes.iter().map(|n| n.ns.clone()).collect(),
            addr: nodes.iter().map(|n| n.addr4.clone()).collect(),
            server_ns: match net {
                Net::Backbone(r) => Some(r.core.clone()),
                Net::Plain(_) => None,
            },
        }
    }
}

impl Ends for NetEnds {
    fn ns(&self, e: Endpoint) -> String {
        match e {
            Endpoint::Node(i) => self.ns[i].clone(),
            Endpoint::Server => self
                .server_ns
                .clone()
                .expect("the plan has a server only with a backbone"),
        }
    }
    fn addr(&self, e: Endpoint) -> String {
        match e {
            Endpoint::Node(i) => self.addr[i].clone(),
            Endpoint::Server => tb_road::SERVER4.to_string(),
        }
    }
}

/// The CPU seconds of daemons that events ended (a daemon's counters go
/// with it; its successor starts from 0).
struct EndedCpu {
    /// Each node's daemon's CPU when last seen running.
    last: Vec<f64>,
    /// Each node's ended daemons' CPU.
    ended: Vec<f64>,
}

/// What the scenario's events do, on the lab's network.
struct NetActions<'a>(&'a mut Net, &'a mut EndedCpu);

impl Actions for NetActions<'_> {
    fn signal(&mut self, node: usize, sig: Signal) -> Result<()> {
        let sig = match sig {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
        };
        if let Some(pid) = self.0.tb().pid(node) {
            // SAFETY: kill(2) on the PID of a daemon this lab started and
            // has not reaped (the testbed holds its child handle).
            unsafe { libc::kill(pid as i32, sig) };
        }
        Ok(())
    }
    fn forget(&mut self, node: usize) {
        // The daemon has ended: the testbed reaps it without waiting.
        self.0.tb_mut().kill9(node);
        self.1.ended[node] += std::mem::take(&mut self.1.last[node]);
    }
    fn running(&mut self, node: usize) -> bool {
        // Read before the testbed reaps it (an ended daemon's counters
        // stay readable until then).
        if let Some(cpu) = self.0.tb().cpu_time(node) {
            self.1.last[node] = cpu.as_secs_f64();
        }
        self.0.tb_mut().nodes[node].is_running()
    }
    fn start(&mut self, node: usize) -> Result<()> {
        if self.running(node) {
            return Err(Error::Node {
                node: self.0.tb().nodes[node].name.clone(),
                reason: "its daemon runs already".into(),
            });
        }
        self.0.tb_mut().restart_nowait(node);
        Ok(())
    }
    fn backbone(&mut self, node: usize, up: bool) -> Result<()> {
        match self.0 {
            Net::Backbone(road) => Ok(road.set_backbone_link(node, up)?),
            Net::Plain(_) => Err(Error::Node {
                node: self.0.tb().nodes[node].name.clone(),
                reason: "the lab has no backbone".into(),
            }),
        }
    }
}

/// Whether this machine can run `plan`: root, the tools, the daemons.
pub fn preflight(plan: &Plan) -> Result<()> {
    testbed::available()?;
    if plan.scenario.backbone {
        tb_road::bird_available()?;
    }
    let tcp = plan.flows.iter().any(|f| f.kind == FlowKind::Tcp);
    if tcp && testbed::which("iperf3").is_none() {
        return Err(Error::Unavailable(
            "tcp flows need iperf3 (apt-get install iperf3)".into(),
        ));
    }
    if plan.scenario.radio.bandwidth_mbps.is_some() && testbed::which("tc").is_none() {
        return Err(Error::Unavailable(
            "radio.bandwidth_mbps needs tc (apt-get install iproute2)".into(),
        ));
    }
    for bin in ["obu", "rsu"] {
        let p = testbed::bin_dir().join(bin);
        if !p.exists() {
            return Err(Error::Unavailable(format!(
                "{} not found: build the daemons (cargo build --bins) or set V2XD_BIN_DIR",
                p.display()
            )));
        }
    }
    Ok(())
}

/// Removes what a lab killed without its clean-up left behind: namespaces
/// (and the processes in them) of lab PIDs that no longer run.
pub fn remove_stale() -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return removed;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let Some(pid) = rest
            .split('x')
            .next()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let pids = testbed::output(&["ip", "netns", "pids", &name]);
        for p in pids
            .stdout
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            // SAFETY: kill(2) on a PID listed in a stale lab namespace.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        let _ = testbed::output(&["ip", "netns", "del", &name]);
        removed.push(name);
    }
    removed
}

fn cpu_of(who: i32) -> Duration {
    // SAFETY: rusage is plain old data, filled in by getrusage.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into a valid rusage.
    unsafe { libc::getrusage(who, &mut u) };
    let tv =
        |t: libc::timeval| Duration::from_micros(t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// This thread's CPU time.
fn thread_cpu() -> Duration {
    // SAFETY: timespec is plain old data, filled in by clock_gettime.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: clock_gettime writes into a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn say(opts: &RunOptions, msg: &str) {
    if opts.verbose {
        eprintln!("lab: {msg}");
    }
}

/// Builds the namespaces (and the backbone).
fn build(plan: &Plan) -> Net {
    let mut topo = Topology::new();
    for n in &plan.nodes {
        let role = match n.role {
            Role::Rsu => testbed::Role::Rsu,
            Role::Obu => testbed::Role::Obu,
        };
        topo.node(&n.name, role);
    }
    let tag = format!("l{:x}x", std::process::id());
    let mut tb = Testbed::with_tag(&topo, &tag);
    tb.own_process_groups = true;
    if plan.scenario.backbone {
        Net::Backbone(Road::on(tb))
    } else {
        Net::Plain(tb)
    }
}

/// Every daemon's options.
/// The daemons' `[link]` beyond the testbed's: the channel's rate for
/// their airtime estimates (so their busy ratio is the lab's channel's),
/// the bulk lane's bound if the scenario sets one.
fn link_extra(s: &crate::scenario::Scenario) -> String {
    let mut keys = String::new();
    if let Some(mbps) = s.radio.bandwidth_mbps {
        keys += &format!("phy_rate_mbps = {:.3}\n", mbps.clamp(1.0, 10_000.0));
    }
    if let Some(b) = s.bulk_queue_bytes {
        keys += &format!("bulk_queue_bytes = {b}\n");
    }
    match keys.is_empty() {
        true => keys,
        false => format!("[link]\n{keys}"),
    }
}

fn daemon_options(plan: &Plan) -> Vec<(usize, NodeOptions)> {
    let s = &plan.scenario;
    let base = NodeOptions {
        beacon_interval_ms: s.beacon_interval_ms,
        log_level: s.log_level.clone(),
        security: (s.security != Security::Off).then_some(s.security),
        batching: s.batching,
        extra: link_extra(s),
        ..NodeOptions::default()
    };
    let (rsu, obu) = if s.backbone {
        (Road::rsu_options(&base), Road::obu_options(&base))
    } else {
        (base.clone(), base)
    };
    plan.nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                i,
                if n.role == Role::Rsu {
                    rsu.clone()
                } else {
                    obu.clone()
                },
            )
        })
        .collect()
}

/// The radio loop's bookkeeping.
#[derive(Default)]
struct Ticks {
    count: u64,
    cpu_ms: Vec<f64>,
    changes: Vec<f64>,
    /// (run time, ms late) of each update.
    drift: Vec<(f64, f64)>,
    nft_cpu: Duration,
}

/// Each host's radio table and who is who on it.
type HostRules = Vec<(AirRules, Radios)>;

/// One radio update for trace time `t`: the changed pairs, applied on
/// every host for the receivers it holds. A node whose radio an event
/// took off the air (`off`) is nowhere.
fn radio_tick(
    plan: &Plan,
    air: &mut Air,
    hosts: &HostRules,
    (t, off): (f64, &[bool]),
    epoch: Instant,
    ticks: &mut Ticks,
) -> Result<()> {
    let cpu0 = thread_cpu();
    let mut positions = plan.positions(t);
    for (p, &off) in positions.iter_mut().zip(off) {
        if off {
            *p = None;
        }
    }
    let changes = air.update(&plan.scenario.radio, &positions);
    let scripts: Vec<String> = hosts
        .iter()
        .map(|(_, radios)| air::change_script(&changes, radios))
        .collect();
    let own = thread_cpu() - cpu0;
    let mut nft = Duration::ZERO;
    for ((rules, _), script) in hosts.iter().zip(&scripts) {
        nft += rules.apply(script)?.child_cpu;
    }
    ticks.count += 1;
    ticks.nft_cpu += nft;
    ticks.cpu_ms.push((own + nft).as_secs_f64() * 1000.0);
    ticks.changes.push(changes.len() as f64);
    let now = epoch.elapsed().as_secs_f64();
    ticks.drift.push((t, (now - t) * 1000.0));
    Ok(())
}

/// How much more the lab's threads (and the `nft` runs they start) weigh
/// with the scheduler than the daemons: its clock must keep time when
/// hundreds of daemons keep the CPUs busy.
const LAB_NICE: i32 = -10;

/// Runs the scenario; returns its results (also written to `opts.out`).
/// Call it before starting threads of your own: the lab raises its
/// priority (every thread made after inherits it; the daemons are put
/// back to normal).
pub fn run(plan: &Plan, opts: &RunOptions) -> Result<Results> {
    // SAFETY: setpriority on the calling thread; failing leaves it as is.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, LAB_NICE) } != 0 {
        say(
            opts,
            "could not raise the lab's priority; its clock may lag on a busy machine",
        );
    }
    preflight(plan)?;
    for stale in remove_stale() {
        say(
            opts,
            &format!("removed {stale}, left by a lab that was killed"),
        );
    }
    std::fs::create_dir_all(&opts.out).map_err(Error::io(opts.out.display()))?;
    let t_build = Instant::now();
    say(opts, &format!("building {} nodes", plan.nodes.len()));
    let mut net = build(plan);
    let result = drive(plan, opts, &mut net, t_build);
    // The daemons' and BIRD's logs outlive the lab, whatever happened.
    let logs = opts.out.join("logs");
    let _ = std::fs::remove_dir_all(&logs);
    if std::fs::create_dir_all(&logs).is_ok() {
        if let Ok(dir) = std::fs::read_dir(&net.tb().dir) {
            for e in dir.flatten() {
                if e.path().extension().is_some_and(|x| x == "log") {
                    let _ = std::fs::copy(e.path(), logs.join(e.file_name()));
                }
            }
        }
        save_counters(net.tb(), &logs);
    }
    say(opts, "removing the lab");
    drop(net);
    result
}

/// The most the reading of every daemon's counters at the end may take
/// (hundreds of daemons on a saturated machine answer slowly).
const COUNTERS_LIMIT: Duration = Duration::from_secs(15);

/// Writes each running daemon's counters (`/api/v1/stats`) at the end as
/// `NAME.stats.json` beside its log: drops by reason and the rest, for
/// the question where a packet went. Best effort, within
/// [`COUNTERS_LIMIT`].
fn save_counters(tb: &Testbed, logs: &std::path::Path) {
    let until = Instant::now() + COUNTERS_LIMIT;
    for (i, n) in tb.nodes.iter().enumerate() {
        if Instant::now() > until {
            break;
        }
        if let Ok((200, body)) = tb.api(i, "/api/v1/stats") {
            let _ = std::fs::write(logs.join(format!("{}.stats.json", n.name)), body);
        }
    }
}

/// Steps 2 to 5 on the built namespaces.
fn drive(plan: &Plan, opts: &RunOptions, net: &mut Net, t_build: Instant) -> Result<Results> {
    let hosts = Hosts::split(net.tb(), plan.scenario.hosts);
    let rules = (0..hosts.air.len())
        .map(|k| Ok((AirRules::start(&hosts.air[k])?, hosts.radios(net.tb(), k))))
        .collect::<Result<HostRules>>()?;
    if hosts.air.len() > 1 {
        say(
            opts,
            &format!(
                "the air spans {} host namespaces over VXLAN",
                hosts.air.len()
            ),
        );
    }
    let startup_s = bring_up(plan, opts, net, t_build)?;
    if opts.stop.load(Ordering::SeqCst) {
        return Err(Error::Interrupted);
    }
    let mut d = start_driving(plan, opts, net, rules)?;
    // Only now: the threads started above (flows, observer, web) stay at
    // the lab's nice value; the radio loop and its nft runs go real-time.
    if !air::radio_realtime() {
        say(
            opts,
            "could not make the radio loop real-time; it may lag on a saturated machine",
        );
    }
    let stopped_early = drive_loop(plan, opts, net, &mut d)?;
    say(opts, "collecting results");
    let res = collect(plan, net, d, startup_s, stopped_early);
    write_results(&res, &opts.out)?;
    Ok(res)
}

/// Step 3 up to the radio: bandwidth limits, keys, the backbone, every
/// daemon. Returns the seconds since `t_build` that it all took.
fn bring_up(plan: &Plan, opts: &RunOptions, net: &mut Net, t_build: Instant) -> Result<f64> {
    let at = || t_build.elapsed().as_secs_f64();
    if let Some(mbps) = plan.scenario.radio.bandwidth_mbps {
        for n in &net.tb().nodes {
            air::limit_bandwidth(&n.ns, mbps, plan.scenario.radio.edca)?;
        }
    }
    say(
        opts,
        &format!("namespaces and radio ready at {:.1} s", at()),
    );
    if plan.scenario.security != Security::Off {
        net.tb_mut().ensure_keys();
        say(opts, &format!("keys made at {:.1} s", at()));
    }
    // The backbone first: its sessions come up on a quiet machine.
    if let Net::Backbone(road) = net {
        road.start_bird();
        if !road.wait_bgp(Duration::from_secs(30)) {
            return Err(Error::Backbone(format!(
                "its BGP sessions did not come up within 30 s; BIRD's logs: {}",
                road.tb.dir.display()
            )));
        }
        say(opts, &format!("backbone up at {:.1} s", at()));
    }
    net.tb_mut().start_many(&daemon_options(plan));
    let startup_s = at();
    say(
        opts,
        &format!(
            "{} daemons up at {startup_s:.1} s; driving for {} s",
            plan.nodes.len(),
            plan.scenario.duration_s
        ),
    );
    Ok(startup_s)
}

/// A run in progress.
struct Driving {
    epoch: Instant,
    /// The same instant in Unix time, s.
    wall_epoch: f64,
    rules: HostRules,
    air: Air,
    ticks: Ticks,
    observer: Observer,
    channel: ChannelWatch,
    udp: UdpFlows,
    tools: Vec<ToolFlow>,
    ends: NetEnds,
    events: Events,
    host: HostSampler,
    lab_cpu_start: Duration,
    node_cpu_start: Vec<f64>,
    ended_cpu: EndedCpu,
    live: Live,
    /// Keeps the web view up while the run lasts.
    _web: Option<WebServer>,
}

/// The radio on at time 0, the observer and the flows started.
fn start_driving(
    plan: &Plan,
    opts: &RunOptions,
    net: &mut Net,
    rules: HostRules,
) -> Result<Driving> {
    let live = Live::new(plan, Some(&opts.out))?;
    let web = match &opts.web {
        Some(addr) => {
            let namespaces = net
                .tb()
                .nodes
                .iter()
                .map(|n| (n.name.clone(), n.ns.clone()))
                .collect();
            let w = crate::web::serve_live(addr, live.shared(), namespaces)?;
            say(opts, &format!("web view: http://{}/", w.addr));
            Some(w)
        }
        None => None,
    };
    let node_cpu_start = node_cpu(net);
    let events = Events::new(&plan.events, plan.nodes.len(), opts.stop.clone());
    // The radio comes on once every daemon answers: no daemon has a head
    // start, and none is slowed in its start by a crowd it already hears.
    let epoch = Instant::now();
    let wall_epoch = testbed::epoch_now();
    let host = HostSampler::start();
    let mut air = Air::new();
    let mut ticks = Ticks::default();
    let off = events.radio_off();
    radio_tick(plan, &mut air, &rules, (0.0, off), epoch, &mut ticks)?;
    let lab_cpu_start = cpu_of(libc::RUSAGE_SELF);
    let macs = net
        .tb()
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.mac.clone(), i))
        .collect();
    let targets = plan
        .obus()
        .map(|i| Target {
            node: i,
            ns: net.tb().nodes[i].ns.clone(),
        })
        .collect();
    let poll = Duration::from_millis(plan.scenario.poll_interval_ms);
    let warm_after = Duration::from_secs_f64(results::warmup_s(plan.scenario.duration_s));
    let observer = Observer::start(targets, macs, poll, epoch, warm_after)?;
    let rsus: Vec<Target> = plan
        .rsus()
        .map(|i| Target {
            node: i,
            ns: net.tb().nodes[i].ns.clone(),
        })
        .collect();
    let names = plan.rsus().map(|i| plan.nodes[i].name.clone()).collect();
    let channel = ChannelWatch::start(&rsus, names, epoch, warm_after)?;
    let ends = NetEnds::of(net);
    let udp = UdpFlows::start(plan, &ends, epoch)?;
    let mut tools: Vec<ToolFlow> = plan
        .flows
        .iter()
        .filter(|f| f.kind != FlowKind::Udp)
        .map(|f| ToolFlow::new(f.clone(), wall_epoch))
        .collect();
    for tf in &mut tools {
        tf.start_server(net.tb_mut(), &ends);
    }
    Ok(Driving {
        epoch,
        wall_epoch,
        rules,
        air,
        ticks,
        observer,
        channel,
        udp,
        tools,
        ends,
        events,
        host,
        lab_cpu_start,
        node_cpu_start,
        ended_cpu: EndedCpu {
            last: vec![0.0; plan.nodes.len()],
            ended: vec![0.0; plan.nodes.len()],
        },
        live,
        _web: web,
    })
}

/// Every daemon's CPU seconds so far.
fn node_cpu(net: &Net) -> Vec<f64> {
    (0..net.tb().nodes.len())
        .map(|i| net.tb().cpu_time(i).map_or(0.0, |d| d.as_secs_f64()))
        .collect()
}

/// Step 4: events, radio updates and tool flows on time, the host's CPU
/// each second, until the end or a stop. Returns whether it was stopped
/// early.
fn drive_loop(plan: &Plan, opts: &RunOptions, net: &mut Net, d: &mut Driving) -> Result<bool> {
    let duration = plan.scenario.duration_s;
    let period = Duration::from_secs_f64(1.0 / plan.scenario.radio.update_hz);
    let mut k: u64 = 1;
    loop {
        let due = d.epoch + period * k as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let t = d.epoch.elapsed().as_secs_f64();
        if t >= duration {
            return Ok(false);
        }
        if opts.stop.load(Ordering::SeqCst) {
            return Ok(true);
        }
        // Events first: a radio taken off the air is gone in this update.
        d.events.tick(t, &mut NetActions(net, &mut d.ended_cpu));
        let off = d.events.radio_off();
        radio_tick(plan, &mut d.air, &d.rules, (t, off), d.epoch, &mut d.ticks)?;
        update_live(plan, d, t);
        for tf in &mut d.tools {
            tf.tend(t, net.tb_mut(), &d.ends);
        }
        if d.host.due(t) {
            d.host.sample();
        }
        // Skip updates that are already late rather than queue them.
        k = k.max((d.epoch.elapsed().as_secs_f64() / period.as_secs_f64()) as u64) + 1;
    }
}

/// Hands the live view this moment of the run.
fn update_live(plan: &Plan, d: &mut Driving, t: f64) {
    let links = d
        .air
        .links()
        .map(|(a, b, l)| (a as u32, b as u32, l))
        .collect();
    let mut flows = vec![(0, 0); plan.flows.len()];
    for (id, sent, received) in d.udp.totals() {
        flows[id] = (sent, received);
    }
    let latest = d.observer.latest();
    d.live.update(plan, t, links, &latest, flows);
}

/// The flows' figures: the UDP flows' tallies, the tool flows once their
/// last runs have ended.
fn flow_results(
    plan: &Plan,
    net: &mut Net,
    udp: UdpFlows,
    tools: Vec<ToolFlow>,
    t_end: f64,
    stopped_early: bool,
) -> Vec<FlowResult> {
    let mut flow_results: Vec<(usize, FlowResult)> = udp.finish();
    let wait = Duration::from_secs(if stopped_early { 1 } else { 10 });
    for tf in tools {
        let id = tf.flow.id;
        flow_results.push((id, tf.finish(t_end, net.tb_mut(), wait)));
    }
    flow_results.sort_by_key(|(id, _)| *id);
    flow_results
        .into_iter()
        .map(|(_, r)| flows::complete(plan, r))
        .collect()
}

/// Step 5: every figure, from what the run gathered.
fn collect(
    plan: &Plan,
    net: &mut Net,
    mut d: Driving,
    startup_s: f64,
    stopped_early: bool,
) -> Results {
    d.live.finish();
    let wall_end_s = d.epoch.elapsed().as_secs_f64();
    let trace_end_s = wall_end_s.min(plan.scenario.duration_s);
    let ev = d.events.finish(trace_end_s);
    // The daemons' costs before anything stops.
    let cpu_end: Vec<f64> = node_cpu(net)
        .iter()
        .zip(&d.ended_cpu.ended)
        .map(|(now, ended)| now + ended)
        .collect();
    let nodes: Vec<NodeCost> = (0..plan.nodes.len())
        .map(|i| NodeCost {
            name: plan.nodes[i].name.clone(),
            role: results::role_name(plan.nodes[i].role).into(),
            cpu_s: cpu_end[i],
            run_cpu_ms_per_s: (cpu_end[i] - d.node_cpu_start[i]) * 1000.0 / wall_end_s.max(1e-3),
            peak_rss_kib: net.tb().peak_rss_kib(i).unwrap_or(0),
        })
        .collect();
    let observed = d.observer.finish();
    let channel_busy = d.channel.finish();
    let samples = observed.samples;
    let flows = flow_results(plan, net, d.udp, d.tools, trace_end_s, stopped_early);
    let lab_cpu = (cpu_of(libc::RUSAGE_SELF).saturating_sub(d.lab_cpu_start) + d.ticks.nft_cpu)
        .saturating_sub(ev.burst_cpu);
    let warmup_s = results::warmup_s(plan.scenario.duration_s);
    let hand = results::handovers(&samples);
    let (jumps, radio): (Vec<_>, Vec<_>) = hand
        .iter()
        .partition(|&&(node, t0, t1)| results::handover_across_jump(plan, node, t0, t1));
    let gap_at: Vec<(usize, f64, f64, f64)> = radio
        .iter()
        .filter_map(|&&(node, t0, t1)| {
            results::handover_gap(plan, &flows, node, t0, t1).map(|g| (node, t0, t1, g))
        })
        .collect();
    let gaps: Vec<f64> = gap_at.iter().map(|g| g.3).collect();
    let mut warnings = plan.warnings.clone();
    if stopped_early {
        warnings.push(format!("stopped early at {wall_end_s:.1} s (interrupted)"));
    }
    let silent = samples.iter().filter(|s| !s.answered).count();
    if silent > 0 {
        warnings.push(format!(
            "{silent} of {} API polls got no answer",
            samples.len()
        ));
    }
    // Vehicles the lab held down (daemon stopped, radio off) are out of
    // the attached share while held: the lab meant it.
    let in_service: Vec<_> = samples
        .iter()
        .copied()
        .filter(|s| !crate::events::held_at(&ev.held, s.node, s.t))
        .collect();
    let stability = stability::figures(
        plan,
        &Inputs {
            samples: &samples,
            records: &ev.records,
            held: &ev.held,
            upstream_changes: observed.upstream_changes,
            upstream_changes_warm: observed.upstream_changes_warm,
            warmup_s,
            host_busy: &d.host.seconds,
            ticks: &d.ticks.drift,
            end_s: trace_end_s,
        },
    );
    let busy = results::busy_nodes(plan);
    Results {
        scenario: plan.scenario.name.clone(),
        security: plan.scenario.security.as_str().into(),
        duration_s: trace_end_s,
        started_unix_s: d.wall_epoch,
        rsus: plan.rsus().count(),
        obus: plan.obus().count(),
        startup_s,
        attached_share: results::attached_share(plan, &in_service, 0.0),
        attached_share_warm: results::attached_share(plan, &in_service, warmup_s),
        warmup_s,
        handovers: hand.len() as u64,
        handover_gaps_ms: Spread::of(gaps),
        handover_jumps: jumps.len() as u64,
        // Beyond 100 ms: a packet lost (or held) rather than jitter.
        handovers_with_loss: results::handovers_with_loss(plan, &gap_at, 100.0),
        daemon_cpu_ms_per_s: results::DaemonCpu::of(plan, &nodes, &busy),
        flows,
        channel_busy,
        nodes,
        lab: LabCost {
            cpu_s: lab_cpu.as_secs_f64(),
            ticks: d.ticks.count,
            tick_cpu_ms: Spread::of(d.ticks.cpu_ms),
            changes_per_tick: Spread::of(d.ticks.changes),
            burst_cpu_s: ev.burst_cpu.as_secs_f64(),
        },
        trace_drift_ms: Spread::of(d.ticks.drift.iter().map(|x| x.1).collect()),
        trace_end_s,
        wall_end_s,
        stability,
        warnings,
    }
}

/// `results.json` and `summary.md` in `dir`.
pub fn write_results(r: &Results, dir: &Path) -> Result<()> {
    let json = serde_json::to_string_pretty(r).map_err(Error::malformed("results.json"))?;
    let (rp, sp) = (dir.join("results.json"), dir.join("summary.md"));
    std::fs::write(&rp, json + "\n").map_err(Error::io(rp.display()))?;
    std::fs::write(&sp, r.summary()).map_err(Error::io(sp.display()))?;
    Ok(())
}
