//! The design's floor: the least relay of this design
//! (`benches::floor_relay`, no protocol at all) measured beside the kernel
//! path and the daemons in one run, and what it shows about the targets.

use crate::measure::{f, iperf, median, ping_in_turns, ping_under_load, put_tcp};
use crate::net::{build, Net, Path, Setup};
use serde_json::{json, Value};

/// TCP payload per segment of the daemons' path.
const SEGMENT: f64 = 1430.0;

/// 1 hop: the kernel, floor, batched and unbatched networks up together;
/// TCP bulk in turns (`rounds` × `secs`, order rotating) with the whole
/// machine's CPU per segment; idle ping in turns (5 × 100 each); the floor
/// at 50 % load; then, alone with the kernel path, a floor relay that
/// never sleeps (idle ping in turns).
pub fn run_floor(setup: &Setup, secs: u64, rounds: usize) -> Value {
    eprintln!("== the design's floor, 1 hop");
    let paths = [Path::Kernel, Path::Floor, Path::Batched, Path::Unbatched];
    let mut nets: Vec<Net> = paths.iter().map(|&p| build(setup, p, 1)).collect();
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1);
    let mut r = json!({ "path": "floor", "hops": 1, "cpus": cpus, "rounds": rounds });
    for round in 0..rounds {
        for k in 0..paths.len() {
            let i = (round + k) % paths.len();
            let t = iperf(&mut nets[i], &[], secs);
            let mut one = json!({});
            put_tcp(&mut one, &t);
            let e = &mut r["tcp"][paths[i].name()];
            for key in ["tcp_mbps", "tcp_machine_us_per_segment"] {
                let mut v = e[key].as_array().cloned().unwrap_or_default();
                v.push(one[key].clone());
                e[key] = Value::Array(v);
            }
        }
    }
    let moved: Vec<u64> = nets[1].floor.iter().map(|f| f.moved()).collect();
    r["floor_moved"] = json!(moved);
    let refs: Vec<&Net> = nets.iter().collect();
    let (pooled, _) = ping_in_turns(&refs, 5, 100);
    for (i, p) in paths.iter().enumerate() {
        r["idle"][format!("{}_median_ms", p.name())] = json!(median(&pooled[i]));
    }
    let mut load = json!({});
    ping_under_load(&mut nets[1], secs, None, &mut load);
    r["load"] = load;
    drop(nets);
    // Alone: spinning relays take a CPU each and would slow the others.
    let spin = [
        build(setup, Path::Kernel, 1),
        build(setup, Path::FloorSpin, 1),
    ];
    let (pooled, _) = ping_in_turns(&[&spin[0], &spin[1]], 5, 100);
    r["spin"] = json!({ "kernel_median_ms": median(&pooled[0]),
                        "floor_spin_median_ms": median(&pooled[1]) });
    r
}

/// The numbers of path `p` under `key` in the TCP turns.
fn series(r: &Value, p: &str, key: &str) -> Vec<f64> {
    r["tcp"][p][key]
        .as_array()
        .map(|a| a.iter().filter_map(f).collect())
        .unwrap_or_default()
}

/// The report's paragraph on the floor: TCP in turns against the budgets
/// the TCP targets leave with every CPU busy, idle added over the kernel
/// path, and the tail at 50 % load.
pub fn floor_lines(r: &Value) -> Option<String> {
    let cpus = f(&r["cpus"])?;
    let mbps = |p: &str| series(r, p, "tcp_mbps");
    let us = |p: &str| series(r, p, "tcp_machine_us_per_segment");
    let (k, fl, b, u) = (
        mbps("kernel"),
        mbps("floor"),
        mbps("batched"),
        mbps("unbatched"),
    );
    let fus = us("floor");
    let n = k.len();
    if n == 0
        || [fl.len(), b.len(), u.len(), fus.len()]
            .iter()
            .any(|&l| l != n)
    {
        return None;
    }
    // With every CPU busy a path moves `cpus` CPU-seconds per second, so a
    // rate of R segments/s allows cpus / R CPU-seconds per segment.
    let budget = |mbps: f64, times: f64| cpus * 1e6 / (times * mbps * 1e6 / 8.0 / SEGMENT);
    let b25: Vec<f64> = k.iter().map(|&m| budget(m, 0.25)).collect();
    let b3: Vec<f64> = u.iter().map(|&m| budget(m, 3.0)).collect();
    let over25 = fus.iter().zip(&b25).filter(|(c, b)| c > b).count();
    let over3 = fus.iter().zip(&b3).filter(|(c, b)| c > b).count();
    let (mk, mf, mb, mu) = (median(&k)?, median(&fl)?, median(&b)?, median(&u)?);
    let per_turn = |x: &[f64], y: &[f64]| -> String {
        let v: Vec<String> = x
            .iter()
            .zip(y)
            .map(|(a, b)| format!("{:.2}", a / b))
            .collect();
        v.join(", ")
    };
    let mut s = format!(
        "The design's floor (1 hop): a relay that does only this design's I/O (TUN with offload, cut and checksum, packet socket batched both ways, coalesce, TUN write; no protocol, one fixed peer), its network up beside the kernel, batched and unbatched ones, TCP bulk in turns ({n} rounds, medians): kernel {mk:.0}, floor {mf:.0}, batched {mb:.0}, unbatched {mu:.0} Mbit/s; floor ÷ kernel {:.0} % (per round {}), floor ÷ unbatched {:.2} × (per round {}), batched ÷ floor {:.2} ×. Whole machine per segment (medians): floor {:.2}, batched {:.2}, unbatched {:.2} µs. With all {cpus:.0} CPUs busy, 25 % of the kernel path allows {:.2} µs per segment and 3 × unbatched {:.2} µs (medians of each round's budget): the floor cost more than the first in {over25} of {n} rounds and more than the second in {over3} of {n}.",
        100.0 * mf / mk,
        per_turn(&fl, &k),
        mf / mu,
        per_turn(&fl, &u),
        mb / mf,
        median(&fus)?,
        median(&us("batched")).unwrap_or(f64::NAN),
        median(&us("unbatched")).unwrap_or(f64::NAN),
        median(&b25)?,
        median(&b3)?,
    );
    let idle = &r["idle"];
    if let (Some(ik), Some(ifl), Some(ib)) = (
        f(&idle["kernel_median_ms"]),
        f(&idle["floor_median_ms"]),
        f(&idle["batched_median_ms"]),
    ) {
        s.push_str(&format!(
            " Idle ping in turns (5 × 100): kernel {ik:.3}, floor {ifl:.3}, batched {ib:.3} ms, added over the kernel path: floor {:.0} µs, batched {:.0} µs.",
            (ifl - ik) * 1e3,
            (ib - ik) * 1e3
        ));
    }
    if let (Some(sk), Some(sf)) = (
        f(&r["spin"]["kernel_median_ms"]),
        f(&r["spin"]["floor_spin_median_ms"]),
    ) {
        s.push_str(&format!(
            " A floor relay that never sleeps (no wake-up at all; up alone with the kernel path, in turns): {sf:.3} against {sk:.3} ms, {:.0} µs added.",
            (sf - sk) * 1e3
        ));
    }
    if let Some(p99) = f(&r["load"]["ping_load50_p99_ms"]) {
        s.push_str(&format!(
            " The floor at 50 % load: ping p99 {p99:.2} ms (median {:.3}); the scheduler's tail beside it (loopback echo) p99 {:.2} ms.",
            f(&r["load"]["ping_load50_median_ms"]).unwrap_or(f64::NAN),
            f(&r["load"]["wake_load50_p99_us"]).unwrap_or(f64::NAN) / 1e3,
        ));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> Value {
        json!({ "path": "floor", "hops": 1, "cpus": 2, "rounds": 2,
            "tcp": {
                "kernel": { "tcp_mbps": [14300.0, 14300.0], "tcp_machine_us_per_segment": [1.0, 1.0] },
                "floor": { "tcp_mbps": [2600.0, 2500.0], "tcp_machine_us_per_segment": [8.0, 7.0] },
                "batched": { "tcp_mbps": [2550.0, 2550.0], "tcp_machine_us_per_segment": [8.1, 8.1] },
                "unbatched": { "tcp_mbps": [1000.0, 1000.0], "tcp_machine_us_per_segment": [19.0, 19.0] } },
            "idle": { "kernel_median_ms": 0.075, "floor_median_ms": 0.22, "batched_median_ms": 0.21 },
            "spin": { "kernel_median_ms": 0.075, "floor_spin_median_ms": 0.16 },
            "load": { "ping_load50_p99_ms": 7.5, "ping_load50_median_ms": 0.4, "wake_load50_p99_us": 900.0 } })
    }

    #[test]
    fn budgets_from_every_cpu_busy() {
        let s = floor_lines(&run()).expect("a paragraph");
        // 14300 Mbit/s = 1 250 000 segments/s; a quarter of it on 2 CPUs:
        // 2 / 312 500 s = 6.40 µs per segment.
        assert!(s.contains("25 % of the kernel path allows 6.40 µs"), "{s}");
        // 3 × 1000 Mbit/s = 262 238 segments/s: 7.63 µs.
        assert!(s.contains("3 × unbatched 7.63 µs"), "{s}");
        // Floor 8.0 and 7.0 µs: above 6.40 twice, above 7.63 once.
        assert!(s.contains("more than the first in 2 of 2 rounds"), "{s}");
        assert!(s.contains("more than the second in 1 of 2"), "{s}");
        // The median of two rounds is the upper one (2600 Mbit/s).
        assert!(s.contains("floor ÷ unbatched 2.60 ×"), "{s}");
        assert!(s.contains("floor 145 µs, batched 135 µs"), "{s}");
        assert!(s.contains("85 µs added"), "{s}");
    }

    #[test]
    fn no_paragraph_with_a_path_missing() {
        let mut r = run();
        r["tcp"]["unbatched"] = Value::Null;
        assert!(floor_lines(&r).is_none());
    }
}
