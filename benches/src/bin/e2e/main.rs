//! End-to-end benchmark driver: real traffic (iperf3, ping) through the
//! daemons in namespace topologies, in one run against the kernel's own
//! path over the same bridge (the ceiling) and against the daemons with
//! batching disabled. Prints a markdown table and writes JSON.
//!
//!     scripts/bench-e2e.sh [--duration SECS] [--out FILE.json]
//!         [--pin] [--dataplane 'TOML LINES']
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

mod floor;
mod measure;
mod net;
mod peers;
mod report;
mod turns;

use measure::*;
use net::{build_with, dataplane_opts, DataplaneOpts, Path, DATAPLANE, OLD_BIN_DIR};
use report::ping_turns_line;
use turns::{run_turns, OLD_NEW, SECURITY};

/// Result names of the two comparisons in turns.
const SECURITY_TURNS: &str = "security_turns";
const OLD_NEW_TURNS: &str = "old_new_turns";
use serde_json::json;
use std::time::Duration;

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

/// The value after option `k` on the command line.
fn arg(args: &[String], k: &str) -> Option<String> {
    args.iter()
        .position(|a| a == k)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// A quick partial run for development: selected measurements on selected
/// paths, printed as JSON lines.
fn run_probe(args: &[String], secs: u64) {
    let get = |k: &str| arg(args, k);
    let probes = get("--probe").unwrap_or_default();
    let hops: usize = get("--hops").and_then(|s| s.parse().ok()).unwrap_or(1);
    let extra = get("--daemon-extra")
        .unwrap_or_default()
        .replace("\\n", "\n");
    let sched = get("--sched");
    let paths = get("--paths").unwrap_or_else(|| "kernel,batched".into());
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
        let r = floor::run_floor(secs, 3);
        eprintln!("{}", floor::floor_lines(&r).unwrap_or_default());
        println!("{r}");
    }
    if probes.split(',').any(|p| p == "ping_turns") {
        // The batched network of the turns, or a variant of it named in --paths.
        let variant = paths
            .split(',')
            .filter_map(path_named)
            .find(|p| !matches!(p, Path::Kernel | Path::KernelMtu | Path::Unbatched))
            .unwrap_or(Path::Batched);
        let t = run_ping_idle_turns(hops, 10, 100, variant, &extra);
        eprintln!("{}", ping_turns_line(&t).unwrap_or_default());
        println!("{t}");
    }
    if probes.split(',').any(|p| p == "turns") {
        // The named paths side by side in turns, against the first.
        let chosen: Vec<Path> = paths.split(',').filter_map(path_named).collect();
        let rounds = get("--rounds").and_then(|s| s.parse().ok()).unwrap_or(3);
        let r = run_turns("probe_turns", &chosen, hops, secs, rounds);
        eprintln!(
            "{}",
            turns::turns_table(std::slice::from_ref(&r), "probe_turns", "In turns")
                .unwrap_or_default()
        );
        println!("{r}");
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
        let mut net = build_with(path, hops, &extra);
        if let Some(s) = &sched {
            for i in 0..net.tb.nodes.len() {
                if let Some(pid) = net.tb.pid(i) {
                    set_sched(pid, s);
                }
            }
        }
        if let Some(h) = get("--hold").and_then(|s| s.parse().ok()) {
            // Time to attach a profiler or tracer to the running network.
            for (i, n) in net.tb.nodes.iter().enumerate() {
                eprintln!("node {i}: ns {} pid {:?}", n.ns, net.tb.pid(i));
            }
            std::thread::sleep(Duration::from_secs(h));
        }
        let mut r = json!({ "path": path.name(), "hops": hops });
        for probe in probes.split(',') {
            match probe {
                "tcp" => {
                    let t = iperf(&mut net, &[], secs);
                    put_tcp(&mut r, &t);
                }
                "udp64" | "udp1400" => {
                    let len = if probe == "udp64" { 64 } else { 1400 };
                    put_udp(&mut r, probe, &udp_run(&mut net, len, secs));
                }
                "ping" => ping_idle(&net, &mut r),
                "wake" => wakeup_cost(&net, &mut r),
                "ceiling" if net.daemons => {
                    eprintln!("the ceiling probe needs a path without daemons (kernel)")
                }
                "ceiling" => {
                    let mut c = json!({});
                    link_ceilings(&net, secs, 1, &mut c);
                    r["ceiling"] = c;
                }
                "load" => {
                    ping_under_load(&mut net, secs, None, &mut r);
                }
                _ => {}
            }
        }
        if !net.floor.is_empty() {
            let moved: Vec<u64> = net.floor.iter().map(|f| f.moved()).collect();
            r["floor_moved"] = json!(moved);
        }
        if net.daemons {
            let cpu: Vec<f64> = (0..net.tb.nodes.len())
                .filter_map(|i| net.tb.pid(i))
                .map(cpu_seconds)
                .collect();
            r["cpu_s"] = json!(cpu);
        }
        println!("{r}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |k: &str| arg(&args, k);
    let secs: u64 = get("--duration").and_then(|s| s.parse().ok()).unwrap_or(5);
    if let Some(file) = get("--report") {
        // The markdown of a saved run, written again from its JSON results.
        let doc: serde_json::Value = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(|| {
                eprintln!("cannot read a saved run from {file}");
                std::process::exit(1);
            });
        let _ = DATAPLANE.set(DataplaneOpts {
            lines: doc["dataplane"].as_str().unwrap_or_default().to_string(),
            pin: doc["pinned"].as_bool().unwrap_or(false),
        });
        let results = doc["results"].as_array().cloned().unwrap_or_default();
        let secs = doc["duration_s"].as_u64().unwrap_or(secs);
        // A `--peers` run has only the peers table.
        if !results.is_empty() && results.iter().all(|r| r["path"] == "peer") {
            println!("{}", report::peers_table(&results).unwrap_or_default());
        } else {
            println!("{}", report::markdown(&results, secs));
        }
        return;
    }
    let _ = DATAPLANE.set(DataplaneOpts {
        lines: get("--dataplane").unwrap_or_default().replace("\\n", "\n"),
        pin: args.iter().any(|a| a == "--pin"),
    });
    let out = get("--out").unwrap_or_else(|| "target/e2e-results.json".into());
    if let Some(dir) = get("--old-bin-dir") {
        // Another build's daemons beside this one's (before and after).
        let dir = std::path::PathBuf::from(dir);
        if !["obu", "rsu"].iter().all(|b| dir.join(b).is_file()) {
            eprintln!(
                "cannot run: --old-bin-dir {} holds no obu and rsu binaries",
                dir.display()
            );
            std::process::exit(1);
        }
        let _ = OLD_BIN_DIR.set(dir);
    }

    if let Err(why) = testbed::available() {
        eprintln!("cannot run: {why}");
        std::process::exit(1);
    }
    if testbed::which("iperf3").is_none() {
        eprintln!("cannot run: iperf3 not installed");
        std::process::exit(1);
    }
    if args.iter().any(|a| a == "--probe") {
        run_probe(&args, secs);
        return;
    }
    if args.iter().any(|a| a == "--peers") {
        // The kernel path, the daemons and the other tunnels, one table.
        let start = std::time::Instant::now();
        let results = peers::run_peers(secs, get("--peer").as_deref());
        let md = report::peers_table(&results).unwrap_or_default();
        println!("{md}");
        eprintln!("peers part: {:.0} s", start.elapsed().as_secs_f64());
        let doc = json!({ "duration_s": secs, "pinned": dataplane_opts().pin, "dataplane": dataplane_opts().lines, "results": results, "markdown": md });
        write_doc(&out, &doc);
        return;
    }
    let mut results = Vec::new();
    let rounds: usize = get("--rounds").and_then(|s| s.parse().ok()).unwrap_or(3);
    if args.iter().any(|a| a == "--security-only") {
        // The price of encryption alone, in turns (and before/after with
        // --old-bin-dir).
        for hops in [1usize, 2] {
            results.push(run_turns(SECURITY_TURNS, &SECURITY, hops, secs, rounds));
            if OLD_BIN_DIR.get().is_some() {
                results.push(run_turns(OLD_NEW_TURNS, &OLD_NEW, hops, secs, rounds));
            }
        }
        let md = report::turns_tables(&results);
        println!("{md}");
        let doc = json!({ "duration_s": secs, "pinned": dataplane_opts().pin, "dataplane": dataplane_opts().lines, "results": results, "markdown": md });
        write_doc(&out, &doc);
        return;
    }
    for hops in [1usize, 2] {
        for path in [Path::Kernel, Path::Batched, Path::Unbatched] {
            results.push(run_path(path, hops, secs, false));
        }
    }
    results.push(run_path(Path::BatchedNoAggregation, 1, secs, true));
    results.push(run_tcp_only(Path::BatchedNoOffload, 1, secs));
    results.push(run_path(Path::Realtime, 1, secs, false));
    results.push(run_udp64_paired(1, secs, 3));
    for hops in [1usize, 2] {
        results.push(run_ping_idle_turns(hops, 10, 100, Path::Batched, ""));
    }
    results.push(run_link_ceiling(secs, 2));
    results.push(floor::run_floor(secs, 3));
    for hops in [1usize, 2] {
        results.push(run_tcp_only(Path::KernelMtu, hops, secs));
    }
    for hops in [1usize, 2] {
        results.push(run_turns(SECURITY_TURNS, &SECURITY, hops, secs, rounds));
        if OLD_BIN_DIR.get().is_some() {
            results.push(run_turns(OLD_NEW_TURNS, &OLD_NEW, hops, secs, rounds));
        }
    }
    results.extend(peers::run_peers(secs, None));
    let md = report::markdown(&results, secs);
    println!("{md}");
    let doc = json!({ "duration_s": secs, "pinned": dataplane_opts().pin, "dataplane": dataplane_opts().lines, "results": results, "markdown": md });
    write_doc(&out, &doc);
}

/// Writes a run's JSON document to `out`.
fn write_doc(out: &str, doc: &serde_json::Value) {
    if let Err(e) = std::fs::write(out, serde_json::to_string_pretty(doc).unwrap_or_default()) {
        eprintln!("cannot write {out}: {e}");
    } else {
        eprintln!("JSON written to {out}");
    }
}
