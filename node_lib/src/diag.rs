//! `obu ping` / `obu traceroute`: overlay diagnostics through the running
//! daemon's API (`POST /api/v1/probe`), like `batctl ping` and `batctl
//! traceroute`. The daemon sends the probes (signed in the secure modes)
//! and reports each answer; this side prints them.

use api::{ProbeAnswer, ProbeRequest};
use std::time::{Duration, Instant};

/// One probe through the API.
fn probe(api: &api::Client, target: &str, ttl: u8, timeout: f64) -> Result<ProbeAnswer, String> {
    api.probe(&ProbeRequest {
        target: target.to_string(),
        ttl: Some(ttl),
        timeout_ms: Some((timeout * 1000.0).clamp(1.0, 10_000.0) as u64),
    })
    .map_err(|e| e.to_string())
}

/// Why a probe got no answer, for people.
fn explain(kind: &str) -> &str {
    match kind {
        "timeout" => "no answer",
        "no_route" => "no route toward the target (not attached, or unknown id/address)",
        "unprotected" => "cannot sign: no certificate from an RSU yet",
        "rate_limited" => "rate-limited",
        other => other,
    }
}

/// `ping`: `count` probes, `interval` seconds apart; exit 0 if any was
/// answered by the target, 1 if none, 69 if the API is unreachable.
pub fn ping(api: &str, target: &str, count: u32, interval: f64, timeout: f64) -> i32 {
    let api = api::Client::new(api);
    println!("PING {target} over the v2x overlay");
    let (mut sent, mut got) = (0u32, 0u32);
    let mut rtts = Vec::new();
    for i in 0..count.max(1) {
        let t0 = Instant::now();
        let r = match probe(&api, target, 64, timeout) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return crate::daemon::EX_UNAVAILABLE;
            }
        };
        sent += 1;
        let kind = r.kind.as_str();
        if kind == "reply" {
            got += 1;
            let rtt = r.rtt_ms.unwrap_or(0.0);
            rtts.push(rtt);
            println!(
                "reply from {}: seq={} hops={} time={:.2} ms",
                r.from.map_or("?".to_string(), |f| f.to_string()),
                i + 1,
                r.hops.unwrap_or(0),
                rtt
            );
        } else {
            println!("seq={}: {}", i + 1, explain(kind));
        }
        if i + 1 < count {
            let wait = Duration::from_secs_f64(interval.max(0.0));
            std::thread::sleep(wait.saturating_sub(t0.elapsed()));
        }
    }
    let loss = 100.0 * f64::from(sent - got) / f64::from(sent.max(1));
    println!("--- {target} ---\n{sent} sent, {got} answered, {loss:.0}% lost");
    if !rtts.is_empty() {
        let min = rtts.iter().cloned().fold(f64::MAX, f64::min);
        let max = rtts.iter().cloned().fold(0.0, f64::max);
        let avg = rtts.iter().sum::<f64>() / rtts.len() as f64;
        println!("rtt min/avg/max = {min:.2}/{avg:.2}/{max:.2} ms");
    }
    i32::from(got == 0)
}

/// `traceroute`: probes with TTL 1, 2, ... until the target answers.
pub fn traceroute(api: &str, target: &str, max_hops: u8, timeout: f64) -> i32 {
    let api = api::Client::new(api);
    println!("traceroute to {target} over the v2x overlay, {max_hops} hops max");
    for ttl in 1..=max_hops.max(1) {
        let r = match probe(&api, target, ttl, timeout) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return crate::daemon::EX_UNAVAILABLE;
            }
        };
        let kind = r.kind.as_str();
        match kind {
            "reply" | "ttl_exceeded" => println!(
                "{ttl:>2}  {}  {:.2} ms",
                r.from.map_or("?".to_string(), |f| f.to_string()),
                r.rtt_ms.unwrap_or(0.0)
            ),
            other => println!("{ttl:>2}  *  ({})", explain(other)),
        }
        if kind == "reply" {
            return 0;
        }
        if kind == "no_route" || kind == "unprotected" {
            return 1;
        }
    }
    1
}
