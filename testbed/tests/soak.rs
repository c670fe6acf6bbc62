//! Soak: the road of the chaos test under steady traffic and a stream of
//! faults that leave the processes running (radio flaps, link cuts, sprays
//! of mutated frames), sampling every daemon's memory (RSS), open file
//! descriptors and table sizes. Fails on steady growth.
//!
//! In the suite it runs briefly (`V2XD_SOAK_SECS`, default 30 s);
//! `scripts/soak.sh HOURS` runs it long, in release, and keeps the samples
//! (`V2XD_SOAK_OUT`, a CSV of every sample).

use std::time::{Duration, Instant};
use testbed::chaos::{one_fault, start_road, Rng, DAEMONS, RSU};
use testbed::{epoch_now, require_testbed, Testbed};

#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    rss_kib: u64,
    fds: u64,
    neighbors: u64,
    routes: u64,
}

fn sample(tb: &Testbed, i: usize) -> Option<Sample> {
    let pid = tb.pid(i)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    let stats = tb.api_json(i, "/api/v1/neighbors");
    let routes = tb.api_json(i, "/api/v1/routes");
    let route_count = routes["obus"]
        .as_array()
        .or_else(|| routes["downstream"].as_array())
        .map_or(0, Vec::len) as u64;
    Some(Sample {
        rss_kib,
        fds,
        neighbors: stats.as_array().map_or(0, Vec::len) as u64,
        routes: route_count,
    })
}

fn mean(v: &[u64]) -> f64 {
    v.iter().sum::<u64>() as f64 / v.len().max(1) as f64
}

#[test]
fn soak_keeps_memory_fds_and_tables_flat() {
    require_testbed!();
    let secs: u64 = std::env::var("V2XD_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let mode = std::env::var("V2XD_SOAK_MODE").unwrap_or_else(|_| "encrypted".into());
    let every = Duration::from_secs((secs / 60).clamp(2, 30));
    let seed = (epoch_now() * 1e6) as u64 | 1;
    eprintln!("soak: {secs} s, mode {mode}, sample every {every:?}, seed {seed}");
    let mut rng = Rng(seed);
    let (mut tb, learned) = start_road((mode != "off").then_some(mode.as_str()));
    // Steady traffic: every OBU pings the RSU 20 times a second throughout.
    let rsu4 = tb.nodes[RSU].addr4.clone();
    let w = (secs + 30).to_string();
    for i in 1..DAEMONS {
        tb.spawn_in(i, &["ping", "-n", "-q", "-i", "0.05", "-w", &w, &rsu4]);
    }
    let out = std::env::var_os("V2XD_SOAK_OUT").map(std::path::PathBuf::from);
    let mut csv = String::from("seconds,node,rss_kib,fds,neighbors,routes\n");
    let start = Instant::now();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); DAEMONS];
    let mut next_sample = start;
    let mut faults = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        if Instant::now() >= next_sample {
            for (i, s) in samples.iter_mut().enumerate() {
                let x = sample(&tb, i)
                    .unwrap_or_else(|| panic!("node {i} gone\n{}", tb.log_tail(i, 100)));
                csv.push_str(&format!(
                    "{:.0},{i},{},{},{},{}\n",
                    start.elapsed().as_secs_f64(),
                    x.rss_kib,
                    x.fds,
                    x.neighbors,
                    x.routes
                ));
                s.push(x);
            }
            if let Some(p) = &out {
                let _ = std::fs::write(p, &csv);
            }
            next_sample += every;
        }
        one_fault(&mut tb, &mut rng, &learned, false, |_| {});
        faults += 1;
        std::thread::sleep(rng.ms(200, 800));
    }
    eprintln!(
        "soak: {faults} faults, {} samples per node",
        samples[0].len()
    );
    for (i, s) in samples.iter().enumerate() {
        assert!(
            tb.nodes[i].is_running(),
            "node {i} died\n{}",
            tb.log_tail(i, 100)
        );
        // Compare the last quarter with the second (after warm-up).
        let q = (s.len() / 4).max(1);
        let early = &s[q..2 * q];
        let late = &s[s.len() - q..];
        let rss = |v: &[Sample]| mean(&v.iter().map(|x| x.rss_kib).collect::<Vec<_>>());
        let fds = |v: &[Sample]| mean(&v.iter().map(|x| x.fds).collect::<Vec<_>>());
        let (r0, r1) = (rss(early), rss(late));
        let (f0, f1) = (fds(early), fds(late));
        let max_n = s.iter().map(|x| x.neighbors).max().unwrap_or(0);
        let max_r = s.iter().map(|x| x.routes).max().unwrap_or(0);
        eprintln!(
            "soak node {i}: RSS {r0:.0} -> {r1:.0} KiB, fds {f0:.1} -> {f1:.1}, most neighbours {max_n}, most routes {max_r}"
        );
        assert!(
            r1 <= r0 * 1.2 + 2048.0,
            "node {i}: RSS grew from {r0:.0} to {r1:.0} KiB"
        );
        assert!(f1 <= f0 + 2.0, "node {i}: fds grew from {f0:.1} to {f1:.1}");
        assert!(max_n <= 1024, "node {i}: {max_n} neighbours");
        assert!(max_r <= 8, "node {i}: {max_r} routes");
    }
}
