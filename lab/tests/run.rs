//! The lab run as a user runs it: the `v2xd-lab` binary on scenario files,
//! real daemons in namespaces, one short run per mobility kind, Ctrl-C,
//! and nothing left behind. Needs root (SKIPPED without).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn lab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_v2xd-lab"))
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// Waits for `child` at most `limit`, killing it after.
fn wait(mut child: Child, limit: Duration) -> Output {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    child.wait_with_output().expect("lab output")
}

/// The lab's namespaces of process `pid` still present.
fn leftovers(pid: u32) -> Vec<String> {
    let prefix = format!("v2xl{pid:x}x");
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs a scenario for `secs`; returns the parsed results.json.
fn run(scenario: &Path, secs: u32, out: &Path) -> serde_json::Value {
    let _ = std::fs::remove_dir_all(out);
    let child = lab()
        .arg("run")
        .arg(scenario)
        .args(["--duration", &secs.to_string(), "--out"])
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start v2xd-lab");
    let pid = child.id();
    let o = wait(child, Duration::from_secs(u64::from(secs) + 90));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(
        o.status.success(),
        "v2xd-lab failed ({}):\n{stderr}\n{stdout}",
        o.status
    );
    assert!(
        stdout.contains("| attached share"),
        "no summary printed:\n{stdout}"
    );
    assert_eq!(
        leftovers(pid),
        Vec::<String>::new(),
        "namespaces left behind"
    );
    let text = std::fs::read_to_string(out.join("results.json")).expect("results.json");
    assert!(out.join("summary.md").exists());
    assert!(out.join("logs").read_dir().expect("logs kept").count() > 0);
    serde_json::from_str(&text).expect("results.json is JSON")
}

fn out_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("v2xd-lab-test-{name}-{}", std::process::id()))
}

/// The fields others rely on, with sane values.
fn check_contract(r: &serde_json::Value, nodes: usize) {
    let share = r["attached_share"].as_f64().expect("attached_share");
    assert!((0.0..=1.0).contains(&share), "{share}");
    assert!(r["handovers"].is_u64());
    for k in ["count", "p50", "p99", "max"] {
        assert!(
            r["handover_gaps_ms"].get(k).is_some(),
            "handover_gaps_ms.{k}"
        );
    }
    for h in r["handovers_with_loss"]
        .as_array()
        .expect("handovers_with_loss")
    {
        assert!(
            h["node"].is_string() && h["gap_ms"].as_f64().unwrap() >= 100.0,
            "{h}"
        );
        assert!(h["from_s"].as_f64() <= h["to_s"].as_f64(), "{h}");
    }
    let n = r["nodes"].as_array().expect("nodes");
    assert_eq!(n.len(), nodes);
    for node in n {
        assert!(node["cpu_s"].as_f64().unwrap() > 0.0, "{node}");
        assert!(node["peak_rss_kib"].as_u64().unwrap() > 1000, "{node}");
    }
    assert!(r["lab"]["cpu_s"].as_f64().unwrap() > 0.0);
    assert!(r["lab"]["ticks"].as_u64().unwrap() > 0);
    let rsus = r["rsus"].as_u64().unwrap() as usize;
    let cells = r["channel_busy"].as_array().expect("channel_busy");
    assert_eq!(cells.len(), rsus, "one cell per RSU");
    for c in cells {
        assert!(c["rsu"].is_string(), "{c}");
        for k in ["p50", "p99"] {
            assert!(
                c[k].is_null() || (0.0..=1.0).contains(&c[k].as_f64().unwrap()),
                "{c}"
            );
        }
    }
    for f in r["flows"].as_array().expect("flows") {
        for k in ["sent", "received", "latency_p50_ms", "latency_p99_ms"] {
            assert!(f.get(k).is_some(), "flow {k}: {f}");
        }
    }
}

#[test]
fn a_short_road_on_a_backbone_attaches_hands_over_and_delivers() {
    testbed::require_testbed!();
    if let Err(why) = testbed::road::bird_available() {
        eprintln!("SKIPPED {}: {why}", module_path!());
        return;
    }
    let out = out_dir("road");
    let r = run(&repo("scenarios/short-road.toml"), 25, &out);
    check_contract(&r, 6);
    assert!(r["attached_share_warm"].as_f64().unwrap() >= 0.9, "{r}");
    // 25 s at 90-130 km/h past two RSUs 600 m apart: vehicles change cells.
    assert!(r["handovers"].as_u64().unwrap() >= 2, "{r}");
    let flows = r["flows"].as_array().unwrap();
    let by_kind = |k: &str| {
        flows
            .iter()
            .find(|f| f["kind"] == k)
            .unwrap_or_else(|| panic!("{k} flow"))
    };
    for k in ["ping", "udp"] {
        let f = by_kind(k);
        assert!(f["delivery"].as_f64().unwrap() > 0.9, "{f}");
        assert!(f["latency_p50_ms"].as_f64().unwrap() > 0.0, "{f}");
    }
    // TCP gets through, no faster than the radio's 12 Mbit/s (tc tbf).
    let tcp = by_kind("tcp");
    assert!(tcp["received"].as_u64().unwrap() > 100_000, "{tcp}");
    let mbps = tcp["throughput_mbps"].as_f64().unwrap();
    assert!(mbps > 1.0 && mbps < 12.0 * 1.1, "{tcp}");
    let _ = std::fs::remove_dir_all(&out);
}

/// A TCP download fills a 12 Mbit/s cell; EF messages to the other
/// vehicle and an EF ping keep nearly their idle latency (the priority
/// classes and the bounded bulk lane: docs/OPERATIONS.md section 13).
/// Without them the loaded median is about 12 ms (p99 19 ms); the test
/// judges medians, loose for a busy CI machine; the p99 target itself is
/// for scripts/bench-loaded-cell.sh.
#[test]
fn safety_messages_pass_a_download_that_fills_the_cell() {
    testbed::require_testbed!();
    if let Err(why) = testbed::road::bird_available() {
        eprintln!("SKIPPED {}: {why}", module_path!());
        return;
    }
    let out = out_dir("loaded");
    let r = run(&repo("tests/scenarios/loaded-cell-short.toml"), 14, &out);
    check_contract(&r, 3);
    let flows = r["flows"].as_array().unwrap();
    let p99 = |k: usize| flows[k]["latency_p99_ms"].as_f64().unwrap();
    let p50 = |k: usize| flows[k]["latency_p50_ms"].as_f64().unwrap();
    // Medians: with 45 loaded messages a p99 is their maximum, one late
    // wake-up of a debug daemon on a CI machine running other labs beside
    // this one. Without the classes the loaded median is about 12 ms.
    let (idle, loaded) = (p99(0), p50(2));
    assert!(
        loaded <= idle + 3.0,
        "EF p50 {loaded} ms loaded, p99 {idle} idle (p99 loaded {})",
        p99(2)
    );
    assert!(p50(3) <= 3.0, "EF ping p50 {} ms loaded", p50(3));
    for k in [0, 2, 3] {
        let d = flows[k]["delivery"].as_f64().unwrap();
        assert!(d >= 0.99, "flow {k}: {}", flows[k]);
    }
    // The download fills the channel (12 Mbit/s, frames and headers).
    let tcp = flows[1]["throughput_mbps"].as_f64().unwrap();
    assert!(tcp >= 6.0, "TCP {tcp} Mbit/s");
    // The daemon saw its channel busy (12 Mbit/s of the download on a
    // 12 Mbit/s channel, by its own airtime model).
    let busy = r["channel_busy"][0]["p99"].as_f64().unwrap_or(0.0);
    assert!(busy >= 0.5, "busy ratio {}", r["channel_busy"]);
    // The RSU sent the EF messages as voice, the download as best effort.
    let stats = std::fs::read_to_string(out.join("logs/rsu1.stats.json")).expect("RSU stats");
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    for class in ["voice", "best-effort"] {
        let sent = stats["classes"][class]["sent"].as_u64().unwrap();
        assert!(sent > 50, "{class}: {}", stats["classes"]);
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn an_ns2_trace_drives_the_vehicles() {
    testbed::require_testbed!();
    let out = out_dir("ns2");
    let r = run(&repo("tests/scenarios/city-small.toml"), 20, &out);
    // Two RSUs and the first ten vehicles of the trace (max_obus).
    check_contract(&r, 12);
    assert!(r["warnings"].to_string().contains("max_obus"), "{r}");
    assert!(r["attached_share"].as_f64().unwrap() > 0.5, "{r}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_sumo_trace_drives_the_vehicles() {
    testbed::require_testbed!();
    let out = out_dir("sumo");
    let r = run(&repo("scenarios/city-grid-sumo.toml"), 15, &out);
    check_contract(&r, 20);
    assert!(r["attached_share"].as_f64().unwrap() > 0.5, "{r}");
    let ping = &r["flows"][0];
    assert_eq!(ping["kind"], "ping");
    assert!(ping["sent"].as_u64().unwrap() > 0, "{ping}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn ctrl_c_stops_the_run_measures_it_and_removes_everything() {
    testbed::require_testbed!();
    let out = out_dir("sigint");
    let mut child = lab()
        .args(["run", "--out"])
        .arg(&out)
        .arg(repo("tests/scenarios/city-small.toml"))
        .args(["--duration", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start v2xd-lab");
    let pid = child.id();
    // Until it drives (its stderr says so), then Ctrl-C.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("driving for") {
                let _ = tx.send(None);
            }
            all += &line;
            all += "\n";
        }
        let _ = tx.send(Some(all));
    });
    let first = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the lab started driving");
    assert!(first.is_none(), "the lab ended before driving: {first:?}");
    std::thread::sleep(Duration::from_secs(3));
    // SAFETY: signals our own child.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let t = Instant::now();
    let o = wait(child, Duration::from_secs(60));
    let rest = rx
        .recv_timeout(Duration::from_secs(5))
        .ok()
        .flatten()
        .unwrap_or_default();
    assert!(o.status.success(), "after Ctrl-C: {}\n{rest}", o.status);
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "took {:?} to stop",
        t.elapsed()
    );
    assert_eq!(
        leftovers(pid),
        Vec::<String>::new(),
        "namespaces left behind"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert!(r["warnings"].to_string().contains("stopped early"), "{r}");
    assert!(r["duration_s"].as_f64().unwrap() < 60.0, "{r}");
    // Nothing of it runs any more.
    let ps = testbed::output(&["pgrep", "-f", &format!("v2xd-tb-l{pid:x}x")]);
    assert!(ps.stdout.trim().is_empty(), "processes left: {}", ps.stdout);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn check_names_the_key_and_value_of_every_error() {
    let dir = std::env::temp_dir().join(format!("v2xd-lab-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read_to_string(repo("scenarios/short-road.toml")).unwrap();
    let o = lab()
        .arg("check")
        .arg(repo("scenarios/short-road.toml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("2 RSUs, 4 OBUs"));
    for (from, to, says) in [
        ("edge_m = 100", "egde_m = 100", "egde_m"),
        ("range_m = 400", "range_m = 0", "radio.range_m"),
        ("to = \"server\"", "to = \"nobody\"", "flow[0].to"),
        ("vehicles = 4", "vehicles = -4", "vehicles"),
        (
            "kind = \"road\"",
            "kind = \"ns2\"\nfile = \"missing.ns\"",
            "mobility",
        ),
    ] {
        let path = dir.join("s.toml");
        std::fs::write(&path, good.replacen(from, to, 1)).unwrap();
        let o = lab().arg("check").arg(&path).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{to}: {err}");
        assert!(err.contains(says), "{to}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_air_spans_two_hosts_over_vxlan_and_vehicles_hand_over_across() {
    testbed::require_testbed!();
    if let Err(why) = testbed::road::bird_available() {
        eprintln!("SKIPPED {}: {why}", module_path!());
        return;
    }
    let out = out_dir("hosts");
    let r = run(&repo("tests/scenarios/two-hosts.toml"), 36, &out);
    check_contract(&r, 6);
    // obu0 (host 0) ends attached to rsu2 (host 1), obu1 (host 1) to rsu1
    // (host 0): their frames crossed the VXLAN link.
    let timeline = std::fs::read_to_string(out.join("timeline.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(timeline.lines().last().unwrap()).unwrap();
    assert_eq!(last["up"][2]["rsu"], 1, "obu0 at the end: {}", last["up"]);
    assert_eq!(last["up"][3]["rsu"], 0, "obu1 at the end: {}", last["up"]);
    assert!(r["handovers"].as_u64().unwrap() >= 2, "{r}");
    for f in r["flows"].as_array().unwrap() {
        assert!(f["delivery"].as_f64().unwrap() > 0.9, "{f}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn events_disturb_the_road_and_each_recovery_is_measured() {
    testbed::require_testbed!();
    if let Err(why) = testbed::road::bird_available() {
        eprintln!("SKIPPED {}: {why}", module_path!());
        return;
    }
    let out = out_dir("events");
    let r = run(&repo("tests/scenarios/events.toml"), 36, &out);
    check_contract(&r, 9);
    let events = r["events"].as_array().expect("events");
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["cpu-burst", "kill", "start"], "{r}");
    assert!(events[0]["node"].is_null(), "{}", events[0]);
    assert_eq!(events[1]["node"], "rsu2");
    // The kill is measured from the start that undid it.
    assert!(
        events[1]["end_s"].as_f64().unwrap() >= 20.0,
        "{}",
        events[1]
    );
    for e in events {
        assert!(e["fired_s"].as_f64().is_some(), "{e}");
        assert!(e["error"].is_null(), "{e}");
        let rec = e["recovered_s"].as_f64();
        // Loose: the network is back well before the run ends.
        assert!(rec.is_some_and(|s| s < 12.0), "not back: {e}\n{r}");
    }
    // Every vehicle's first upstream counts; the kill makes more.
    assert!(r["upstream_changes"].as_u64().unwrap() >= 6, "{r}");
    assert!(r["upstream_changes_per_obu_min"].as_f64().is_some(), "{r}");
    assert!(
        r["upstream_changes_warm"].as_u64().expect("read once warm")
            <= r["upstream_changes"].as_u64().unwrap(),
        "{r}"
    );
    assert!(
        r["upstream_changes_per_obu_min_warm"].as_f64().is_some(),
        "{r}"
    );
    // The burst loaded every core: at least one whole second saturated.
    assert!(r["host_saturated_s"].as_u64().unwrap() >= 1, "{r}");
    assert!(r["host_saturated"].is_boolean());
    let seconds = r["seconds"].as_array().unwrap();
    assert!(seconds.len() >= 35, "{}", seconds.len());
    assert!(
        seconds[20]["radio_updates"].as_u64().unwrap() >= 5,
        "{}",
        seconds[20]
    );
    // One flow from every vehicle to the server, all of them counted.
    let flows = r["flows"].as_array().unwrap();
    let to_server: Vec<_> = flows.iter().filter(|f| f["to"] == "server").collect();
    assert_eq!(to_server.len(), 6, "{r}");
    let (mut sent, mut received) = (0, 0);
    for f in &to_server {
        assert!(f["sent"].as_u64().unwrap() >= 100, "{f}");
        sent += f["sent"].as_u64().unwrap();
        received += f["received"].as_u64().unwrap();
    }
    assert!(received * 10 > sent * 7, "{received} of {sent} delivered");
    // The ping started before any route existed and ran its whole time.
    let ping = flows.iter().find(|f| f["kind"] == "ping").unwrap();
    assert!(ping["sent"].as_u64().unwrap() >= 150, "{ping}");
    assert!(ping["received"].as_u64().unwrap() > 50, "{ping}");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        summary.contains("cpu-burst 2 s") && summary.contains("kill rsu2"),
        "{summary}"
    );
    assert!(summary.contains("upstream changes"), "{summary}");
    let _ = std::fs::remove_dir_all(&out);
}
