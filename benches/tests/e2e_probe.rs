//! The end-to-end driver's short version in the suite: one probe of TCP
//! and idle ping through the kernel path and through the daemons (real
//! namespaces, iperf3 and ping), as JSON lines. The whole benchmark is
//! `scripts/bench-e2e.sh` (docs/BENCHMARKS.md). Needs root and iperf3.

use serde_json::Value;
use std::process::Command;

#[test]
fn a_short_probe_measures_the_kernel_path_and_the_daemons() {
    testbed::require_testbed!();
    if testbed::which("iperf3").is_none() {
        eprintln!("SKIPPED: iperf3 not installed (scripts/deps.sh)");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_v2xd-e2e"))
        .args([
            "--probe",
            "tcp,ping",
            "--paths",
            "kernel,batched",
            "--duration",
            "1",
        ])
        .output()
        .expect("run v2xd-e2e");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for (line, path) in lines.iter().zip(["kernel", "batched"]) {
        assert_eq!(line["path"], path, "{line}");
        assert_eq!(line["hops"], 1, "{line}");
        let tcp = line["tcp_mbps"].as_f64().unwrap_or(0.0);
        assert!(tcp > 1.0, "{path}: TCP {tcp} Mbit/s: {line}");
        let ping = line["ping_idle_median_ms"].as_f64().unwrap_or(f64::NAN);
        assert!(ping > 0.0 && ping < 100.0, "{path}: ping {ping} ms: {line}");
    }
    // The daemons' path reports their CPU; the kernel's has none.
    assert!(
        lines[1]["cpu_s"].as_array().is_some_and(|c| c.len() == 2),
        "{}",
        lines[1]
    );
    assert!(lines[0].get("cpu_s").is_none(), "{}", lines[0]);
}
