//! End-to-end benchmark driver: real traffic (iperf3, ping) through the
//! daemons in namespace topologies, in one run against the kernel's own
//! path over the same bridge (the ceiling) and against the daemons with
//! batching disabled. Prints a markdown table and writes JSON.
//!
//!     scripts/bench-e2e.sh [--duration SECS] [--out FILE.json]
//!         [--pin] [--dataplane 'TOML LINES']
//!     v2xd-e2e --help               # every flag
//!     v2xd-e2e --report FILE.json   # the markdown of a saved run again
//!     v2xd-e2e --probe turns --paths batched,authenticated,encrypted [--rounds N]
//!         # any paths side by side in turns, against the first
//!     v2xd-e2e --security-only [--rounds N] [--old-bin-dir DIR]
//!         # security off / encrypted / encrypted+PQ in turns, 1 and 2
//!         # hops; with DIR (another build's obu and rsu) also that
//!         # build's daemons against this one's, security off
//!     v2xd-e2e --peers [--duration S] [--out FILE.json] [--peer 'NAME,..']
//!         # the kernel path and the daemons against other tunnels
//!         # (wireguard-go, boringtun, fastd, tinc, openvpn), 1 hop
//!
//! By default the kernel places the daemons' data planes, and it tends to
//! put the sender's and the receiver's on one CPU, where they take turns;
//! `--pin` binds node i's data plane to CPU i modulo the count, as if each
//! node were its own box (see docs/BENCHMARKS.md).
//!
//! `net` builds the networks, `measure` runs the measurements and
//! `report` writes the markdown; this file reads the command line.

mod cells;
mod floor;
mod measure;
mod net;
mod peers;
mod report;
mod results;
mod turns;
mod turns_report;

use clap::Parser;
use measure::*;
use net::{build_with, DataplaneOpts, Net, Path, Setup};
use report::ping_turns_line;
use results::{Measurement, PathRun, Results, OLD_NEW_TURNS, PROBE_TURNS, SECURITY_TURNS};
use serde::Serialize;
use std::time::Duration;
use turns::{run_turns, OLD_NEW, SECURITY};

/// Sets every thread of `pid` to `sched`: "fifo" (SCHED_FIFO priority 1)
/// or "nice:N" (nice value N). For experiments with the daemons' priority.
fn set_sched(pid: u32, sched: &str) {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    for t in tasks.flatten() {
        let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if sched == "fifo" {
            let p = libc::sched_param { sched_priority: 1 };
            // SAFETY: plain syscall on a thread id with a valid parameter.
            unsafe { libc::sched_setscheduler(tid, libc::SCHED_FIFO, &p) };
        } else if let Some(n) = sched
            .strip_prefix("nice:")
            .and_then(|n| n.parse::<i32>().ok())
        {
            // SAFETY: plain syscall; PRIO_PROCESS with a thread id sets that thread.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as u32, n) };
        }
    }
}

/// The command line. Without a mode flag (`--report`, `--probe`,
/// `--peers`, `--security-only`) the whole benchmark runs.
#[derive(Parser, Debug)]
#[command(
    name = "v2xd-e2e",
    version,
    about = "End-to-end benchmark of the v2xd daemons: real traffic (iperf3, ping) through \
             network namespaces, against the kernel's own path and other tunnels",
    long_about = None,
    after_help = "Needs root, iperf3 and the daemons in V2XD_BIN_DIR (scripts/bench-e2e.sh \
                  sets it up). Results: docs/BENCHMARKS.md."
)]
struct Cli {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    duration: u64,
    /// Where the JSON results go.
    #[arg(long, default_value = "target/e2e-results.json", value_name = "FILE")]
    out: String,
    /// Bind node i's data plane to CPU i (modulo the count), as if each
    /// node were its own box.
    #[arg(long)]
    pin: bool,
    /// TOML lines put in every daemon's `[dataplane]` (`\n` for a new line).
    #[arg(long, value_name = "LINES")]
    dataplane: Option<String>,
    /// Print the markdown of a saved run again and stop.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["probe", "peers", "security_only"])]
    report: Option<String>,
    /// Selected measurements, comma-separated: tcp, udp64, udp1400, ping,
    /// wake, ceiling, load, ping_turns, floor_turns, turns (printed as
    /// JSON lines).
    #[arg(long, value_name = "LIST", conflicts_with_all = ["peers", "security_only"])]
    probe: Option<String>,
    /// With --probe: the paths, comma-separated (kernel, kernel_mtu,
    /// batched, unbatched, authenticated, encrypted, encrypted_pq, old,
    /// no_offload, no_aggregation, realtime, floor, floor_spin).
    #[arg(
        long,
        value_name = "LIST",
        default_value = "kernel,batched",
        requires = "probe"
    )]
    paths: String,
    /// With --probe: hops between client and server.
    #[arg(long, default_value_t = 1, value_name = "N", requires = "probe")]
    hops: usize,
    /// With --probe: TOML appended to every daemon's config (`\n` for a
    /// new line).
    #[arg(long, value_name = "TOML", requires = "probe")]
    daemon_extra: Option<String>,
    /// With --probe: every daemon thread's scheduling, "fifo" or "nice:N".
    #[arg(long, value_name = "POLICY", requires = "probe")]
    sched: Option<String>,
    /// With --probe: seconds to wait after building each network (to attach
    /// a profiler).
    #[arg(long, value_name = "SECS", requires = "probe")]
    hold: Option<u64>,
    /// Rounds of the comparisons in turns.
    #[arg(long, default_value_t = 3, value_name = "N")]
    rounds: usize,
    /// Only the price of security: off / encrypted / encrypted+PQ in turns.
    #[arg(long, conflicts_with = "peers")]
    security_only: bool,
    /// Another build's directory with obu and rsu: its daemons against
    /// this one's, security off.
    #[arg(long, value_name = "DIR")]
    old_bin_dir: Option<std::path::PathBuf>,
    /// Only the kernel path and the daemons against other tunnels.
    #[arg(long)]
    peers: bool,
    /// With --peers: only these tunnels, comma-separated (e.g.
    /// 'wireguard-go,tinc none').
    #[arg(long, value_name = "LIST", requires = "peers")]
    peer: Option<String>,
}

/// TOML lines given on the command line: `\n` stands for a new line.
fn toml_lines(s: Option<&str>) -> String {
    s.unwrap_or_default().replace("\\n", "\n")
}

/// A quick partial run for development: selected measurements on selected
/// paths, printed as JSON lines.
fn run_probe(cli: &Cli, setup: &Setup, probes: &str) {
    let secs = cli.duration;
    let hops = cli.hops;
    let extra = toml_lines(cli.daemon_extra.as_deref());
    let sched = cli.sched.as_deref();
    let paths = cli.paths.as_str();
    let path_named = |p: &str| match p {
        "kernel" => Some(Path::Kernel),
        "kernel_mtu" => Some(Path::KernelMtu),
        "batched" => Some(Path::Batched),
        "unbatched" => Some(Path::Unbatched),
        "authenticated" => Some(Path::Authenticated),
        "encrypted" => Some(Path::Encrypted),
        "encrypted_pq" => Some(Path::EncryptedPq),
        "old" => Some(Path::Old),
        "no_offload" => Some(Path::BatchedNoOffload),
        "no_aggregation" => Some(Path::BatchedNoAggregation),
        "realtime" => Some(Path::Realtime),
        "floor" => Some(Path::Floor),
        "floor_spin" => Some(Path::FloorSpin),
        _ => None,
    };
    if probes.split(',').any(|p| p == "floor_turns") {
        let r = floor::run_floor(setup, secs, 3);
        eprintln!("{}", floor::floor_lines(&r).unwrap_or_default());
        println!("{}", json_line(&r));
    }
    if probes.split(',').any(|p| p == "ping_turns") {
        // The batched network of the turns, or a variant of it named in --paths.
        let variant = paths
            .split(',')
            .filter_map(path_named)
            .find(|p| !matches!(p, Path::Kernel | Path::KernelMtu | Path::Unbatched))
            .unwrap_or(Path::Batched);
        let t = run_ping_idle_turns(setup, hops, 10, 100, variant, &extra);
        eprintln!("{}", ping_turns_line(&t).unwrap_or_default());
        println!("{}", json_line(&t));
    }
    if probes.split(',').any(|p| p == "turns") {
        // The named paths side by side in turns, against the first.
        let chosen: Vec<Path> = paths.split(',').filter_map(path_named).collect();
        let r = run_turns(setup, PROBE_TURNS, &chosen, hops, secs, cli.rounds);
        eprintln!(
            "{}",
            turns_report::turns_table(&[&r], "In turns").unwrap_or_default()
        );
        println!("{}", json_line(&r));
    }
    if probes
        .split(',')
        .all(|p| p == "ping_turns" || p == "floor_turns" || p == "turns")
    {
        return;
    }
    for p in paths.split(',') {
        let Some(path) = path_named(p) else {
            continue;
        };
        let mut net = build_with(setup, path, hops, &extra);
        if let Some(s) = sched {
            for i in 0..net.tb.nodes.len() {
                if let Some(pid) = net.tb.pid(i) {
                    set_sched(pid, s);
                }
            }
        }
        if let Some(h) = cli.hold {
            // Time to attach a profiler or tracer to the running network.
            for (i, n) in net.tb.nodes.iter().enumerate() {
                eprintln!("node {i}: ns {} pid {:?}", n.ns, net.tb.pid(i));
            }
            std::thread::sleep(Duration::from_secs(h));
        }
        let r = probe_path(&mut net, path, hops, probes, secs);
        println!("{}", json_line(&r));
    }
}

/// The measurements named in `probes` on `net` (a network of `path`).
fn probe_path(net: &mut Net, path: Path, hops: usize, probes: &str, secs: u64) -> PathRun {
    let mut r = PathRun::new(path.name(), hops);
    for probe in probes.split(',') {
        match probe {
            "tcp" => r.tcp = Some(tcp_of(&iperf(net, &[], secs))),
            "udp64" => r.udp64 = Some((&udp_run(net, 64, secs)).into()),
            "udp1400" => r.udp1400 = Some((&udp_run(net, 1400, secs)).into()),
            "ping" => r.ping_idle = ping_idle(net),
            "wake" => r.wake = wakeup_cost(net),
            "ceiling" if net.daemons => {
                eprintln!("the ceiling probe needs a path without daemons (kernel)")
            }
            "ceiling" => r.ceiling = Some(link_ceilings(net, secs, 1)),
            "load" => r.load = ping_under_load(net, secs, None),
            _ => {}
        }
    }
    if !net.floor.is_empty() {
        r.floor_moved = Some(net.floor.iter().map(|f| f.moved()).collect());
    }
    if net.daemons {
        let cpu: Vec<f64> = (0..net.tb.nodes.len())
            .filter_map(|i| net.tb.pid(i))
            .map(cpu_seconds)
            .collect();
        r.cpu_s = Some(cpu);
    }
    r
}

/// A result as one line of JSON.
fn json_line(r: &impl Serialize) -> String {
    serde_json::to_string(r).unwrap_or_default()
}

fn main() {
    let cli = Cli::parse();
    if let Some(file) = &cli.report {
        report_saved(file, cli.duration);
        return;
    }
    let setup = setup_of(&cli);
    if let Err(why) = testbed::available() {
        eprintln!("cannot run: {why}");
        std::process::exit(1);
    }
    if testbed::which("iperf3").is_none() {
        eprintln!("cannot run: iperf3 not installed");
        std::process::exit(1);
    }
    let secs = cli.duration;
    let (results, md) = if let Some(probes) = &cli.probe {
        run_probe(&cli, &setup, probes);
        return;
    } else if cli.peers {
        // The kernel path, the daemons and the other tunnels, one table.
        let start = std::time::Instant::now();
        let results: Vec<Measurement> = peers::run_peers(&setup, secs, cli.peer.as_deref())
            .into_iter()
            .map(Measurement::Peer)
            .collect();
        let md = report::peers_table(&results).unwrap_or_default();
        eprintln!("peers part: {:.0} s", start.elapsed().as_secs_f64());
        (results, md)
    } else if cli.security_only {
        // The price of encryption alone, in turns (and before/after with
        // --old-bin-dir).
        let results = security_turns(&setup, secs, cli.rounds);
        let md = turns_report::turns_tables(&results);
        (results, md)
    } else {
        let results = run_all(&setup, secs, cli.rounds);
        let md = report::markdown(&results, secs, &setup.dataplane);
        (results, md)
    };
    println!("{md}");
    let doc = Results {
        duration_s: Some(secs),
        pinned: setup.dataplane.pin,
        dataplane: setup.dataplane.lines.clone(),
        results,
        markdown: md,
    };
    write_doc(&cli.out, &doc);
}

/// What the networks of this run are built with, from the command line.
fn setup_of(cli: &Cli) -> Setup {
    if let Some(dir) = &cli.old_bin_dir {
        // Another build's daemons beside this one's (before and after).
        if !["obu", "rsu"].iter().all(|b| dir.join(b).is_file()) {
            eprintln!(
                "cannot run: --old-bin-dir {} holds no obu and rsu binaries",
                dir.display()
            );
            std::process::exit(1);
        }
    }
    Setup {
        dataplane: DataplaneOpts {
            lines: toml_lines(cli.dataplane.as_deref()),
            pin: cli.pin,
        },
        old_bin_dir: cli.old_bin_dir.clone(),
    }
}

/// `--report FILE`: the markdown of a saved run, written again from its
/// JSON results with the settings it ran with.
fn report_saved(file: &str, secs: u64) {
    let doc: Results = match std::fs::read_to_string(file)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(doc) => doc,
        Err(e) => {
            eprintln!("cannot read a saved run from {file}: {e}");
            std::process::exit(1);
        }
    };
    let dp = DataplaneOpts {
        lines: doc.dataplane,
        pin: doc.pinned,
    };
    let results = doc.results;
    let secs = doc.duration_s.unwrap_or(secs);
    // A `--peers` run has only the peers table.
    if !results.is_empty() && results.iter().all(|r| matches!(r, Measurement::Peer(_))) {
        println!("{}", report::peers_table(&results).unwrap_or_default());
    } else {
        println!("{}", report::markdown(&results, secs, &dp));
    }
}

/// The comparisons in turns: security off / encrypted / encrypted + PQ,
/// and, with another build's daemons, before and after; 1 and 2 hops.
fn security_turns(setup: &Setup, secs: u64, rounds: usize) -> Vec<Measurement> {
    let mut results = Vec::new();
    for hops in [1usize, 2] {
        results.push(Measurement::Turns(run_turns(
            setup,
            SECURITY_TURNS,
            &SECURITY,
            hops,
            secs,
            rounds,
        )));
        if setup.old_bin_dir.is_some() {
            results.push(Measurement::Turns(run_turns(
                setup,
                OLD_NEW_TURNS,
                &OLD_NEW,
                hops,
                secs,
                rounds,
            )));
        }
    }
    results
}

/// The whole benchmark, in the order the report reads it.
fn run_all(setup: &Setup, secs: u64, rounds: usize) -> Vec<Measurement> {
    use Measurement as M;
    let mut results = Vec::new();
    for hops in [1usize, 2] {
        for path in [Path::Kernel, Path::Batched, Path::Unbatched] {
            results.push(M::Path(run_path(setup, path, hops, secs, false)));
        }
    }
    let no_aggregation = run_path(setup, Path::BatchedNoAggregation, 1, secs, true);
    results.push(M::Path(no_aggregation));
    results.push(M::Path(run_tcp_only(
        setup,
        Path::BatchedNoOffload,
        1,
        secs,
    )));
    results.push(M::Path(run_path(setup, Path::Realtime, 1, secs, false)));
    results.push(M::Udp64Paired(run_udp64_paired(setup, 1, secs, 3)));
    for hops in [1usize, 2] {
        let t = run_ping_idle_turns(setup, hops, 10, 100, Path::Batched, "");
        results.push(M::PingTurns(t));
    }
    results.push(M::LinkCeiling(run_link_ceiling(setup, secs, 2)));
    results.push(M::Floor(floor::run_floor(setup, secs, 3)));
    for hops in [1usize, 2] {
        results.push(M::Path(run_tcp_only(setup, Path::KernelMtu, hops, secs)));
    }
    results.extend(security_turns(setup, secs, rounds));
    let peers = peers::run_peers(setup, secs, None);
    results.extend(peers.into_iter().map(M::Peer));
    results
}

/// Writes a run's JSON document to `out`.
fn write_doc(out: &str, doc: &Results) {
    if let Err(e) = std::fs::write(out, serde_json::to_string_pretty(doc).unwrap_or_default()) {
        eprintln!("cannot write {out}: {e}");
    } else {
        eprintln!("JSON written to {out}");
    }
}
