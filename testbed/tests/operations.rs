//! The operator surface of running daemons: every API endpoint, Prometheus
//! metrics through the reference parser, `show` tables, systemd units and
//! notifications, JSON logs, SIGHUP reload, an interface flap, and frames
//! lost while the data plane stalls.

use serde_json::Value;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testbed::{bin_dir, ns_exec, ns_output, require_testbed, NodeOptions, Testbed, Topology};

fn up() -> Testbed {
    let mut tb = Testbed::new(&Topology::star(1));
    tb.start_all(&NodeOptions::default());
    tb.wait_ready(Duration::from_secs(15));
    tb
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn every_endpoint_answers_and_counters_follow_1000_pings() {
    require_testbed!();
    let tb = up();
    let (rsu, obu) = (0, 1);
    for i in [rsu, obu] {
        assert_eq!(tb.api(i, "/healthz").unwrap(), (200, "ok\n".to_string()));
        assert_eq!(tb.api(i, "/readyz").unwrap().0, 200);
        let st = tb.api_json(i, "/api/v1/status");
        assert_eq!(st["role"], if i == rsu { "rsu" } else { "obu" });
        assert_eq!(st["id"], tb.nodes[i].mac.as_str());
        assert_eq!(st["link"]["interface"], "radio0");
        assert_eq!(st["link"]["up"], true);
        assert_eq!(st["tun"]["name"], "v2x0");
        assert_eq!(st["tun"]["mtu"], 1482);
        assert!(st["uptime_seconds"].as_f64().unwrap() > 0.0);
        assert!(st["version"].as_str().unwrap().starts_with("0."));
        assert_eq!(st["config"]["batching"]["max_batch"], 64);
    }
    let nb = tb.api_json(obu, "/api/v1/neighbors");
    assert!(
        nb.as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == tb.nodes[rsu].mac.as_str()),
        "{nb}"
    );
    let routes = tb.api_json(obu, "/api/v1/routes");
    assert_eq!(routes["upstream"]["rsu"], tb.nodes[rsu].mac.as_str());
    assert_eq!(routes["upstream"]["next_hop"], tb.nodes[rsu].mac.as_str());
    assert_eq!(routes["upstream"]["hops"], 1);
    assert!(!routes["candidates"].as_array().unwrap().is_empty());
    // The API's view is refreshed every 100 ms: wait for the RSU's route.
    let t = Instant::now();
    let mut rr = tb.api_json(rsu, "/api/v1/routes");
    while rr["obus"].as_array().is_none_or(|a| a.is_empty()) && t.elapsed() < Duration::from_secs(3)
    {
        std::thread::sleep(Duration::from_millis(20));
        rr = tb.api_json(rsu, "/api/v1/routes");
    }
    let o = &rr["obus"][0];
    assert_eq!(o["id"], tb.nodes[obu].mac.as_str());
    assert_eq!(o["next_hop"], tb.nodes[obu].mac.as_str());
    assert_eq!(o["hops"], 1);
    assert!(o["addresses"].to_string().contains(&tb.nodes[obu].addr4));

    let before = tb.api_json(obu, "/api/v1/stats");
    let r = tb.ping(obu, &tb.nodes[rsu].addr4.clone(), 1000, "0.002");
    assert!(r.received >= 990, "{r:?}");
    let after = tb.api_json(obu, "/api/v1/stats");
    for (sect, key) in [
        ("link", "tx_frames"),
        ("link", "rx_frames"),
        ("tun", "rx_packets"),
        ("tun", "tx_packets"),
    ] {
        let grew = n(&after[sect][key]) - n(&before[sect][key]);
        assert!(grew >= r.received as u64, "{sect}.{key} grew by {grew}");
    }
    // The batch histograms account for every packet moved.
    let b = &after["batching"]["batches"];
    assert_eq!(n(&b["link_rx"]["packets"]), n(&after["link"]["rx_frames"]));
    assert_eq!(n(&b["link_tx"]["packets"]), n(&after["link"]["tx_frames"]));
    assert_eq!(n(&b["tun_rx"]["packets"]), n(&after["tun"]["rx_packets"]));
    assert_eq!(
        n(&b["tun_tx"]["packets"]),
        n(&after["tun"]["tx_packets"]) + n(&after["tun"]["errors"])
    );
    for d in ["link_rx", "link_tx", "tun_rx", "tun_tx"] {
        let h: u64 = b[d]["size_histogram"]
            .as_object()
            .unwrap()
            .values()
            .map(n)
            .sum();
        assert_eq!(
            h,
            n(&b[d]["batches"]),
            "{d} histogram buckets sum to its batch count"
        );
    }
    let moved = n(&after["batching"]["packets_moved"]);
    assert!(moved >= 4 * r.received as u64);
    assert!(n(&after["batching"]["syscalls_total"]) > 0);
}

fn parse_metrics(text: &str) -> Option<Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/parse_metrics.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(text.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    if out.status.code() == Some(3) {
        return None;
    }
    assert!(
        out.status.success(),
        "parser rejected /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("parser JSON"))
}

fn sample(m: &Value, family: &str, sample: &str, label: Option<(&str, &str)>) -> f64 {
    m[family]["samples"]
        .as_array()
        .unwrap_or_else(|| panic!("no family {family}"))
        .iter()
        .find(|s| s[0] == sample && label.is_none_or(|(k, v)| s[1][k] == v))
        .unwrap_or_else(|| panic!("no sample {sample} {label:?} in {family}"))[2]
        .as_f64()
        .unwrap()
}

#[test]
fn metrics_parse_with_the_reference_parser_and_counters_rise() {
    require_testbed!();
    let tb = up();
    let obu = 1;
    let (code, text0) = tb.api(obu, "/metrics").unwrap();
    assert_eq!(code, 200);
    let Some(m0) = parse_metrics(&text0) else {
        eprintln!(
            "SKIPPED: python3 prometheus_client not installed (pip install prometheus-client)"
        );
        return;
    };
    for (fam, ty) in [
        ("v2x_link_rx_frames", "counter"),
        ("v2x_link_tx_frames", "counter"),
        ("v2x_tun_rx_packets", "counter"),
        ("v2x_tun_tx_packets", "counter"),
        ("v2x_dropped", "counter"),
        ("v2x_batch_size", "histogram"),
        ("v2x_syscalls", "counter"),
        ("v2x_neighbors", "gauge"),
        ("v2x_routes", "gauge"),
        ("v2x_upstream_changes", "counter"),
        ("v2x_link_up", "gauge"),
        ("v2x_ready", "gauge"),
    ] {
        assert_eq!(m0[fam]["type"], ty, "{fam}: {}", m0[fam]);
    }
    assert!(
        text0.contains("v2x_link_rx_frames_total "),
        "counters end in _total"
    );
    assert!(text0.contains("v2x_dropped_total{reason=\"no_route\"}"));
    assert!(
        text0.contains("v2x_batch_size_bucket{le=\"64.0\",direction=\"link_tx\"}"),
        "{text0}"
    );
    assert!(text0.contains("v2x_syscalls_total{op=\"sendmmsg\"}"));
    assert_eq!(sample(&m0, "v2x_neighbors", "v2x_neighbors", None), 1.0);
    assert_eq!(sample(&m0, "v2x_ready", "v2x_ready", None), 1.0);
    let r = tb.ping(obu, &tb.nodes[0].addr4.clone(), 200, "0.005");
    assert!(r.received >= 195);
    let m1 = parse_metrics(&tb.api(obu, "/metrics").unwrap().1).unwrap();
    for (fam, s) in [
        ("v2x_link_tx_frames", "v2x_link_tx_frames_total"),
        ("v2x_tun_rx_packets", "v2x_tun_rx_packets_total"),
    ] {
        let (a, b) = (sample(&m0, fam, s, None), sample(&m1, fam, s, None));
        assert!(b - a >= 195.0, "{s}: {a} -> {b}");
    }
    let (a, b) = (
        sample(
            &m0,
            "v2x_batch_size",
            "v2x_batch_size_count",
            Some(("direction", "link_tx")),
        ),
        sample(
            &m1,
            "v2x_batch_size",
            "v2x_batch_size_count",
            Some(("direction", "link_tx")),
        ),
    );
    assert!(b > a, "histogram count rises: {a} -> {b}");
    let rsu_metrics = parse_metrics(&tb.api(0, "/metrics").unwrap().1).unwrap();
    assert!(
        rsu_metrics.get("v2x_upstream_changes").is_none(),
        "RSU has no upstream"
    );
    assert_eq!(sample(&rsu_metrics, "v2x_routes", "v2x_routes", None), 1.0);
}

#[test]
fn show_prints_readable_tables() {
    require_testbed!();
    let tb = up();
    let show = |i: usize, what: &str| {
        let bin = bin_dir().join(tb.nodes[i].role.binary());
        let out = ns_output(&tb.nodes[i].ns, &[bin.to_str().unwrap(), "show", what]);
        assert_eq!(out.status, 0, "{what}: {}", out.stderr);
        out.stdout
    };
    let r = show(1, "routes");
    assert!(
        r.starts_with(&format!(
            "upstream: rsu {} via {} (1 hops)",
            tb.nodes[0].mac, tb.nodes[0].mac
        )),
        "{r}"
    );
    assert!(r.contains("NEXT HOP") && r.contains("RECEPTION"), "{r}");
    let n = show(1, "neighbors");
    assert!(
        n.starts_with("NEIGHBOR") && n.contains(&tb.nodes[0].mac),
        "{n}"
    );
    let s = show(1, "stats");
    assert!(
        s.contains("link.tx_frames") && s.contains("batch.link_rx"),
        "{s}"
    );
    assert!(tb.wait_rsu_routes(0, 1, Duration::from_secs(3)));
    let rr = show(0, "routes");
    assert!(
        rr.starts_with("OBU") && rr.contains(&tb.nodes[1].mac) && rr.contains(&tb.nodes[1].addr4),
        "{rr}"
    );
    // No daemon at that address: a clear error and exit 69.
    let bin = bin_dir().join("obu");
    let out = ns_output(
        &tb.nodes[1].ns,
        &[
            bin.to_str().unwrap(),
            "show",
            "stats",
            "--api",
            "127.0.0.1:1",
        ],
    );
    assert_eq!(out.status, 69);
    assert!(out.stderr.contains("cannot connect"), "{}", out.stderr);
}

#[test]
fn systemd_units_verify() {
    let Some(analyze) = testbed::which("systemd-analyze") else {
        eprintln!("SKIPPED: systemd-analyze not installed");
        return;
    };
    let dir = std::env::temp_dir().join(format!("v2xd-units-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for role in ["obu", "rsu"] {
        let unit = std::fs::read_to_string(format!(
            "{}/../config/{role}.service",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        for needle in [
            "Type=notify",
            "WatchdogSec=",
            "Restart=on-failure",
            "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW",
            "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW",
            "ProtectSystem=strict",
            "NoNewPrivileges=yes",
            "ExecReload=",
        ] {
            assert!(unit.contains(needle), "{role}.service lacks {needle}");
        }
        // Verify against the binaries just built (the unit names /usr/bin,
        // where the package installs them).
        let bin = bin_dir().join(role);
        let local = unit.replace(&format!("/usr/bin/{role}"), bin.to_str().unwrap());
        let path = dir.join(format!("{role}.service"));
        std::fs::write(&path, local).unwrap();
        let out = Command::new(&analyze)
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let relevant: Vec<&str> = err
            .lines()
            .filter(|l| l.contains(&format!("{role}.service")))
            .collect();
        assert!(
            out.status.success() && relevant.is_empty(),
            "{role}.service: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn notify_messages(sock: &UnixDatagram, want: &str, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = m.lines().any(|l| l == want);
            got.push(m);
            if done {
                break;
            }
        }
    }
    got
}

#[test]
fn systemd_notify_ready_watchdog_reload_and_stopping() {
    require_testbed!();
    let mut tb = Testbed::new(&Topology::star(1));
    tb.start(0, &NodeOptions::default());
    let path = tb.dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    tb.write_config(1, &NodeOptions::default());
    tb.start_with_env(
        1,
        &[
            ("NOTIFY_SOCKET", path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let m = notify_messages(&sock, "READY=1", Duration::from_secs(10));
    assert!(m.iter().any(|x| x.contains("READY=1")), "{m:?}");
    // READY comes once link and TUN exist.
    assert_eq!(
        ns_output(&tb.nodes[1].ns, &["ip", "link", "show", "v2x0"]).status,
        0
    );
    let w = notify_messages(&sock, "never", Duration::from_millis(1000));
    let feeds = w.iter().filter(|x| x.contains("WATCHDOG=1")).count();
    assert!(
        feeds >= 4,
        "watchdog fed {feeds} times in 1 s with WATCHDOG_USEC=400ms: {w:?}"
    );
    // SIGHUP: RELOADING then READY again.
    let pid = ns_output(
        &tb.nodes[1].ns,
        &["pgrep", "-f", tb.nodes[1].config.to_str().unwrap()],
    )
    .stdout;
    let pid: i32 = pid
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("daemon pid");
    // SAFETY: signals the daemon we started.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    let m = notify_messages(&sock, "READY=1", Duration::from_secs(5));
    assert!(m.iter().any(|x| x.contains("RELOADING=1")), "{m:?}");
    assert_eq!(tb.stop(1), Some(0));
    let m = notify_messages(&sock, "STOPPING=1", Duration::from_secs(2));
    assert!(m.iter().any(|x| x.contains("STOPPING=1")), "{m:?}");
}

#[test]
fn json_logs_are_one_object_per_line_and_quiet_per_packet() {
    require_testbed!();
    let mut tb = Testbed::new(&Topology::star(1));
    let opts = NodeOptions {
        extra: String::new(),
        ..NodeOptions::default()
    };
    tb.start(0, &opts);
    let p = tb.write_config(1, &opts);
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("[log]\n", "[log]\nformat = \"json\"\n");
    std::fs::write(&p, text).unwrap();
    tb.start_with_env(1, &[]);
    tb.wait_ready(Duration::from_secs(15));
    let r = tb.ping(1, &tb.nodes[0].addr4.clone(), 300, "0.002");
    assert!(r.received >= 290);
    let log = tb.log(1);
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{l}");
    }
    assert!(
        lines.len() < 20,
        "per-packet logging at info? {} lines",
        lines.len()
    );
}

#[test]
fn sighup_reloads_level_and_timers_and_rejects_a_bad_file() {
    require_testbed!();
    let mut tb = up();
    let obu = 1;
    let cfg = tb.nodes[0].config.clone();
    let good = std::fs::read_to_string(&cfg).unwrap();
    let pid_of = |tb: &Testbed, i: usize| -> i32 {
        let out = ns_output(
            &tb.nodes[i].ns,
            &["pgrep", "-f", tb.nodes[i].config.to_str().unwrap()],
        )
        .stdout;
        out.lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("pid")
    };
    let rsu_pid = pid_of(&tb, 0);
    std::fs::write(
        &cfg,
        good.replace("beacon_interval_ms = 100", "beacon_interval_ms = 50")
            .replace("level = \"info\"", "level = \"debug\""),
    )
    .unwrap();
    // SAFETY: signals the daemon we started.
    unsafe { libc::kill(rsu_pid, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(500));
    let st = tb.api_json(0, "/api/v1/status");
    assert_eq!(st["config"]["routing"]["beacon_interval_ms"], 50, "{st}");
    assert_eq!(st["config"]["log_level"], "debug");
    assert!(tb.log(0).contains("configuration reloaded"));
    // Beacons now come twice as often: the OBU's RSU frames per second rise.
    let f0 = tb.stat(obu, "link", "rx_frames");
    std::thread::sleep(Duration::from_secs(1));
    let per_s = tb.stat(obu, "link", "rx_frames") - f0;
    assert!((15..=25).contains(&per_s), "{per_s} beacons/s at 50 ms");
    // A bad file is rejected, the running config kept, the daemon still up.
    std::fs::write(
        &cfg,
        good.replace("beacon_interval_ms = 100", "beacon_interval_ms = 1"),
    )
    .unwrap();
    // SAFETY: as above.
    unsafe { libc::kill(rsu_pid, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(500));
    assert!(tb.log(0).contains("rejected"), "{}", tb.log(0));
    assert_eq!(
        tb.api_json(0, "/api/v1/status")["config"]["routing"]["beacon_interval_ms"],
        50
    );
    assert!(tb.nodes[0].is_running());
}

#[test]
fn radio_interface_flap_is_reported_and_recovered_from() {
    require_testbed!();
    let tb = up();
    let obu = 1;
    let ns = tb.nodes[obu].ns.clone();
    ns_exec(&ns, &["ip", "link", "set", "radio0", "down"]);
    let t = Instant::now();
    while tb.api(obu, "/readyz").map(|r| r.0).unwrap_or(0) != 503 {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "readyz never went 503"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    while !tb.api(obu, "/metrics").unwrap().1.contains("v2x_link_up 0") {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "v2x_link_up never went 0"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    ns_exec(&ns, &["ip", "link", "set", "radio0", "up"]);
    assert!(
        tb.wait_node_ready(obu, Duration::from_secs(5)),
        "not ready again; log:\n{}",
        tb.log(obu)
    );
    let r = tb.ping(obu, &tb.nodes[0].addr4.clone(), 10, "0.05");
    assert_eq!(r.received, 10, "ping after the flap: {r:?}");
    let log = tb.log(obu);
    assert!(
        log.contains("link is down") && log.contains("link is up again"),
        "{log}"
    );
}

#[test]
fn a_recreated_radio_interface_is_picked_up_again() {
    require_testbed!();
    let tb = up();
    let obu = 1;
    tb.recreate_radio(obu);
    let t = Instant::now();
    loop {
        let r = tb.ping(obu, &tb.nodes[0].addr4.clone(), 3, "0.05");
        if r.received == 3 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no traffic after the radio came back; log:\n{}",
            tb.log(obu)
        );
    }
    assert!(tb.log(obu).contains("re-created"), "{}", tb.log(obu));
}

#[test]
fn a_deleted_tun_stops_the_daemon_with_an_error_instead_of_spinning() {
    require_testbed!();
    let mut tb = up();
    let obu = 1;
    ns_exec(&tb.nodes[obu].ns, &["ip", "link", "del", "v2x0"]);
    let t = Instant::now();
    while tb.nodes[obu].is_running() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "daemon still running; log:\n{}",
            tb.log(obu)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(tb.log(obu).contains("TUN device failed"), "{}", tb.log(obu));
    assert_eq!(
        tb.stop(obu),
        Some(1),
        "exit code 1, for the service manager to restart it"
    );
}

/// `/proc/PID/task/TID` of `pid`'s thread named `name`.
fn thread_dir(pid: u32, name: &str) -> Option<std::path::PathBuf> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
        .map(|t| t.path())
        .find(|dir| std::fs::read_to_string(dir.join("comm")).is_ok_and(|c| c.trim() == name))
}

/// Scheduling policy and realtime priority of `pid`'s thread named `name`
/// (fields 41 and 40 of /proc/PID/task/TID/stat).
fn thread_sched(pid: u32, name: &str) -> Option<(u32, u32)> {
    let stat = std::fs::read_to_string(thread_dir(pid, name)?.join("stat")).ok()?;
    let f: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    // After "(comm) " the fields start at number 3.
    let (prio, policy): (u32, u32) = (f.get(40 - 3)?.parse().ok()?, f.get(41 - 3)?.parse().ok()?);
    Some((policy, prio))
}

#[test]
fn realtime_priority_puts_only_the_data_plane_under_sched_fifo_and_warns_without_the_right() {
    require_testbed!();
    let mut tb = Testbed::new(&Topology::star(1));
    let opts = NodeOptions {
        extra: "[dataplane]\nrealtime_priority = 3\nrealtime = \"always\"\n".into(),
        ..NodeOptions::default()
    };
    tb.start(0, &opts);
    // The OBU gets the same setting but not the right to use it: neither
    // CAP_SYS_NICE nor a realtime-priority limit.
    tb.write_config(1, &opts);
    tb.start_wrapped(
        1,
        &[],
        &[
            "prlimit",
            "--rtprio=0:0",
            "setpriv",
            "--bounding-set",
            "-sys_nice",
            "--",
        ],
    );
    tb.wait_ready(Duration::from_secs(15));
    let (rsu, obu) = (tb.pid(0).unwrap(), tb.pid(1).unwrap());
    assert_eq!(
        thread_sched(rsu, "dataplane"),
        Some((libc::SCHED_FIFO as u32, 3)),
        "RSU data plane not SCHED_FIFO 3; log:\n{}",
        tb.log(0)
    );
    // The API and control threads keep normal scheduling.
    assert_eq!(
        thread_sched(rsu, "rsu"),
        Some((libc::SCHED_OTHER as u32, 0))
    );
    assert!(
        tb.log(1).contains("cannot set realtime priority"),
        "no warning; log:\n{}",
        tb.log(1)
    );
    assert_eq!(
        thread_sched(obu, "dataplane"),
        Some((libc::SCHED_OTHER as u32, 0))
    );
    // Ready means an upstream is chosen; the RSU learns the route from the
    // reply that follows.
    assert!(tb.wait_rsu_routes(0, 1, Duration::from_secs(5)));
    let r = tb.ping(1, &tb.nodes[0].addr4.clone(), 50, "0.01");
    assert_eq!(r.received, 50, "both daemons forward");
}

/// Busy loops on every CPU and then some, killed when dropped (also when
/// the test fails).
struct CpuHogs(Vec<std::process::Child>);

impl CpuHogs {
    fn start() -> CpuHogs {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
        CpuHogs(
            (0..n)
                .map(|_| {
                    std::process::Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .spawn()
                        .expect("spawn sh")
                })
                .collect(),
        )
    }
}

impl Drop for CpuHogs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn auto_realtime_turns_the_data_plane_realtime_when_the_cpus_are_contended() {
    require_testbed!();
    if !std::path::Path::new("/proc/pressure/cpu").exists() {
        eprintln!("SKIPPED: this kernel has no CPU pressure information (PSI)");
        return;
    }
    let mut tb = Testbed::new(&Topology::star(1));
    // `realtime = "auto"` is the default mode.
    tb.start_all(&NodeOptions {
        extra: "[dataplane]\nrealtime_priority = 1\n".into(),
        ..NodeOptions::default()
    });
    tb.wait_ready(Duration::from_secs(15));
    let rsu = tb.pid(0).unwrap();
    let hogs = CpuHogs::start();
    // The decision runs every 100 ms; give a loaded CI machine time.
    let turned = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        thread_sched(rsu, "dataplane") == Some((libc::SCHED_FIFO as u32, 1))
    });
    let status = tb.api_json(0, "/api/v1/status");
    drop(hogs);
    assert!(
        turned,
        "data plane never became SCHED_FIFO 1 under CPU contention; status {status}; log:\n{}",
        tb.log(0)
    );
    assert!(
        status["dataplane"]["realtime_switches"].as_u64() >= Some(1),
        "switch not counted: {status}"
    );
    assert_eq!(
        status["config"]["dataplane"]["realtime"], "auto",
        "{status}"
    );
    // Only the data plane: the control thread keeps normal scheduling.
    assert_eq!(
        thread_sched(rsu, "rsu"),
        Some((libc::SCHED_OTHER as u32, 0))
    );
    let log = tb.log(0);
    assert!(
        log.contains("while the CPUs are contended")
            && !log.contains("cannot set realtime")
            && !log.contains("cannot switch"),
        "log:\n{log}"
    );
    // What the API says is what the thread has, whichever way it went since.
    let agree = (0..20).any(|_| {
        let api = tb.api_json(0, "/api/v1/status")["dataplane"]["realtime"].as_bool();
        let fifo = thread_sched(rsu, "dataplane").map(|(p, _)| p == libc::SCHED_FIFO as u32);
        if api == fifo {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
        false
    });
    assert!(agree, "API and thread disagree on realtime");
    let r = tb.ping(1, &tb.nodes[0].addr4.clone(), 50, "0.01");
    assert_eq!(r.received, 50, "forwarding goes on");
}

/// A line `key: value` of `/proc/PID/task/TID/<file>` for `pid`'s thread
/// named `name`.
fn thread_field(pid: u32, name: &str, file: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(thread_dir(pid, name)?.join(file)).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

#[test]
fn slice_and_cpu_settings_reach_the_data_plane_thread_only() {
    require_testbed!();
    let mut tb = Testbed::new(&Topology::star(1));
    let opts = NodeOptions {
        dataplane: "slice_us = 200\ncpu = 0\n".into(),
        ..NodeOptions::default()
    };
    tb.start_all(&opts);
    tb.wait_ready(Duration::from_secs(15));
    let rsu = tb.pid(0).unwrap();
    assert_eq!(
        thread_field(rsu, "dataplane", "status", "Cpus_allowed_list").as_deref(),
        Some("0"),
        "data plane not bound to CPU 0; log:\n{}",
        tb.log(0)
    );
    // The main thread keeps every CPU the daemon may use.
    let all = thread_field(rsu, "rsu", "status", "Cpus_allowed_list");
    assert!(
        all.is_some() && all.as_deref() != Some("0") || num_cpus() == 1,
        "{all:?}"
    );
    // se.slice is shown from Linux 6.6; custom slices exist from 6.12.
    match thread_field(rsu, "dataplane", "sched", "se.slice") {
        Some(ns) if kernel_at_least(6, 12) => {
            assert_eq!(ns, "200000", "data-plane slice; log:\n{}", tb.log(0))
        }
        other => eprintln!("SKIPPED slice check: kernel too old ({other:?})"),
    }
    let cfg = tb.api_json(0, "/api/v1/status");
    assert_eq!(cfg["config"]["dataplane"]["slice_us"], 200, "{cfg}");
    assert_eq!(cfg["config"]["dataplane"]["cpu"], 0, "{cfg}");
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut it = r.trim().split(|c: char| !c.is_ascii_digit());
    let a: u32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let b: u32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (a, b) >= (major, minor)
}

/// Full-MTU data frames from `ns`'s radio to the radio with MAC `dst`,
/// addressed to an OBU that does not exist: at least `n` of them, without
/// pause. Returns how many were sent.
fn flood_radio(ns: &str, dst: &str, n: usize) -> usize {
    use common::wire::{MessageType, DEFAULT_ETHERTYPE};
    use common::NodeId;
    let mut mac = [0u8; 6];
    for (b, h) in mac.iter_mut().zip(dst.split(':')) {
        *b = u8::from_str_radix(h, 16).expect("hex MAC");
    }
    let ns = ns.to_string();
    std::thread::spawn(move || {
        testbed::enter_netns(&ns).expect("enter namespace");
        let link = node_lib::link::RawLink::open("radio0", DEFAULT_ETHERTYPE).expect("raw socket");
        let nobody = NodeId([2, 0, 0, 0, 0x7e, 0x7e]);
        let mut frames = node_lib::mtu_frames::MtuFrames::new(
            &link,
            NodeId(mac),
            MessageType::DataDown,
            nobody,
            64,
        );
        let mut sent = 0;
        while sent < n {
            sent += frames.send(&link, true);
        }
        sent
    })
    .join()
    .expect("flood thread")
}

#[test]
fn frames_lost_while_the_data_plane_stalls_are_counted_and_reported() {
    require_testbed!();
    let tb = up();
    let (rsu, obu) = (0, 1);
    let pid = tb.pid(obu).expect("OBU running") as i32;
    let before = tb.stat(obu, "drops", "link_queue_full");
    // A stopped daemon reads nothing: its radio socket's queue (4 MiB)
    // overflows under 10 000 full-MTU frames.
    // SAFETY: kill(2) with a valid signal on our own child process.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let sent = flood_radio(&tb.nodes[rsu].ns, &tb.nodes[obu].mac, 10_000);
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let t = Instant::now();
    let mut lost = 0;
    while lost == 0 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
        lost = tb.stat(obu, "drops", "link_queue_full") - before;
    }
    assert!(lost > 0, "no frames counted as lost; sent {sent}");
    assert!(lost < sent as u64, "more lost ({lost}) than sent ({sent})");
    let log = tb.log(obu);
    assert!(
        log.contains("link receive queue overflowed"),
        "no warning in the log:\n{log}"
    );
    // The daemon goes on: still ready, still counting.
    assert_eq!(tb.api(obu, "/readyz").unwrap().0, 200);
}

/// Every endpoint's documented shape, asked the moment a daemon accepts its
/// first connection: tables are empty, never `null`, and nothing answers
/// 5xx except `/readyz` (503 with its reasons until the node is ready).
fn check_every_endpoint_at_start(tb: &Testbed, i: usize, role: &str) {
    let name = &tb.nodes[i].name;
    let get = |path: &str| -> (u16, String) {
        tb.api(i, path)
            .unwrap_or_else(|e| panic!("{name} {path} right after start: {e}"))
    };
    let json = |path: &str| -> Value {
        let (code, body) = get(path);
        assert_eq!(code, 200, "{name} {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{name} {path}: {e}: {body}"))
    };
    assert_eq!(get("/healthz"), (200, "ok\n".to_string()), "{name}");
    let (code, body) = get("/readyz");
    assert!(code == 200 || code == 503, "{name} /readyz: {code} {body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        ready["ready"].as_bool(),
        Some(code == 200),
        "{name}: {ready}"
    );
    assert!(ready["link_up"].is_boolean(), "{name}: {ready}");
    let st = json("/api/v1/status");
    assert_eq!(st["role"], role, "{name}: {st}");
    assert!(
        st["link"]["up"].is_boolean() && st["tun"]["mtu"].is_u64(),
        "{st}"
    );
    let stats = json("/api/v1/stats");
    for section in ["link", "tun", "batching", "routing", "security", "drops"] {
        assert!(
            stats[section].is_object(),
            "{name}: stats.{section}: {stats}"
        );
    }
    assert!(json("/api/v1/neighbors").is_array(), "{name}");
    let routes = json("/api/v1/routes");
    if role == "rsu" {
        assert!(routes["obus"].is_array(), "{name}: {routes}");
        assert!(routes["uplink"].is_boolean(), "{name}: {routes}");
        assert!(routes.get("backbone").is_some(), "{name}: {routes}");
    } else {
        let up = routes.get("upstream").unwrap_or_else(|| panic!("{routes}"));
        assert!(up.is_null() || up["rsu"].is_string(), "{name}: {routes}");
        assert!(routes["candidates"].is_array(), "{name}: {routes}");
        assert!(routes["downstream"].is_array(), "{name}: {routes}");
    }
    let topo = json("/api/v1/topology");
    assert!(topo.is_object() && topo["id"].is_string(), "{name}: {topo}");
    let (code, metrics) = get("/metrics");
    assert_eq!(code, 200, "{name}");
    assert!(
        metrics.contains("v2x_link_rx_frames_total"),
        "{name}: {metrics}"
    );
}

#[test]
fn every_endpoint_answers_its_shape_from_the_first_request() {
    require_testbed!();
    let mut tb = Testbed::new(&Topology::star(1));
    let opts = NodeOptions::default();
    // Several starts: the first request lands at a different point of the
    // daemon's start-up each time.
    for round in 0..4 {
        tb.start(0, &opts);
        check_every_endpoint_at_start(&tb, 0, "rsu");
        tb.start(1, &opts);
        check_every_endpoint_at_start(&tb, 1, "obu");
        if round < 3 {
            assert_eq!(tb.stop(1), Some(0));
            assert_eq!(tb.stop(0), Some(0));
        }
    }
    // Once attached, the same endpoints carry the attachment.
    tb.wait_ready(Duration::from_secs(15));
    assert!(tb.upstream(1).is_some());
}

/// The shape of a JSON value: objects keep their keys, arrays the union
/// of their elements' shapes, and every leaf becomes its type.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => {
            let mut merged = Value::Null;
            for x in a {
                merged = merge_shapes(merged, shape(x));
            }
            Value::Array(vec![merged])
        }
        Value::Null => Value::Null,
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
    }
}

fn merge_shapes(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Null, b) => b,
        (a, Value::Null) => a,
        (Value::Object(mut a), Value::Object(b)) => {
            for (k, v) in b {
                let old = a.remove(&k).unwrap_or(Value::Null);
                a.insert(k, merge_shapes(old, v));
            }
            Value::Object(a)
        }
        (a, _) => a,
    }
}

/// The JSON every endpoint answers keeps its fields and their types: a
/// relayed OBU (so every table has rows) compared with the shapes recorded
/// in `api_shapes.json` (`V2XD_RECORD_API_SHAPES=1` writes that file anew).
#[test]
fn api_answers_keep_their_fields_and_types() {
    require_testbed!();
    let mut tb = Testbed::new(&Topology::chain(2));
    tb.start_all(&NodeOptions::default());
    tb.wait_ready(Duration::from_secs(15));
    assert!(tb.wait_rsu_routes(0, 2, Duration::from_secs(10)));
    let relay = 1;
    let deadline = Instant::now() + Duration::from_secs(5);
    while tb.api_json(relay, "/api/v1/routes")["downstream"]
        .as_array()
        .is_none_or(|a| a.is_empty())
    {
        assert!(
            Instant::now() < deadline,
            "the relay learns its downstream OBU"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut got = serde_json::Map::new();
    for (i, role) in [(0, "rsu"), (relay, "obu")] {
        for path in [
            "/readyz",
            "/api/v1/status",
            "/api/v1/stats",
            "/api/v1/neighbors",
            "/api/v1/routes",
            "/api/v1/topology",
        ] {
            got.insert(format!("{role} {path}"), shape(&tb.api_json(i, path)));
        }
    }
    // A reply (a probe that timed out on a loaded machine has fewer fields).
    let probe = serde_json::json!({"target": tb.nodes[0].mac, "timeout_ms": 2000}).to_string();
    let mut tries = 0;
    let body = loop {
        let (code, body) = tb.api_post(2, "/api/v1/probe", &probe).unwrap();
        assert_eq!(code, 200, "{body}");
        tries += 1;
        if body.contains("\"reply\"") || tries == 5 {
            break body;
        }
    };
    got.insert(
        "obu POST /api/v1/probe".into(),
        shape(&serde_json::from_str(&body).unwrap()),
    );
    let got = Value::Object(got);
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api_shapes.json");
    if std::env::var_os("V2XD_RECORD_API_SHAPES").is_some() {
        std::fs::write(&file, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
    }
    let want: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    for (endpoint, w) in want.as_object().unwrap() {
        assert_eq!(
            &got[endpoint], w,
            "{endpoint}: the answer's fields or types changed\n got: {}\nwant: {w}",
            got[endpoint]
        );
    }
    assert_eq!(
        got.as_object().unwrap().len(),
        want.as_object().unwrap().len()
    );
}
