//! The design's floor: the least relay of this design
//! (`benches::floor_relay`, no protocol at all) measured beside the kernel
//! path and the daemons in one run, and what it shows about the targets.

use crate::measure::{iperf, median, ping_in_turns, ping_under_load, tcp_of};
use crate::net::{build, Net, Path, Setup};
use crate::results::{FloorIdle, FloorRun, FloorSpin, FLOOR};

/// TCP payload per segment of the daemons' path.
const SEGMENT: f64 = 1430.0;

/// 1 hop: the kernel, floor, batched and unbatched networks up together;
/// TCP bulk in turns (`rounds` × `secs`, order rotating) with the whole
/// machine's CPU per segment; idle ping in turns (5 × 100 each); the floor
/// at 50 % load; then, alone with the kernel path, a floor relay that
/// never sleeps (idle ping in turns).
pub fn run_floor(setup: &Setup, secs: u64, rounds: usize) -> FloorRun {
    eprintln!("== the design's floor, 1 hop");
    let paths = [Path::Kernel, Path::Floor, Path::Batched, Path::Unbatched];
    let mut nets: Vec<Net> = paths.iter().map(|&p| build(setup, p, 1)).collect();
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1);
    let mut r = FloorRun {
        path: FLOOR.into(),
        hops: 1,
        cpus: cpus as u64,
        rounds,
        ..FloorRun::default()
    };
    for round in 0..rounds {
        for k in 0..paths.len() {
            let i = (round + k) % paths.len();
            let one = tcp_of(&iperf(&mut nets[i], &[], secs));
            let e = r.tcp.entry(paths[i].name().into()).or_default();
            e.tcp_mbps.push(one.tcp_mbps);
            e.tcp_machine_us_per_segment
                .push(one.tcp_machine_us_per_segment);
        }
    }
    r.floor_moved = nets[1].floor.iter().map(|f| f.moved()).collect();
    let refs: Vec<&Net> = nets.iter().collect();
    let (pooled, _) = ping_in_turns(&refs, 5, 100);
    // In the order of `paths`.
    r.idle = FloorIdle {
        kernel_median_ms: median(&pooled[0]),
        floor_median_ms: median(&pooled[1]),
        batched_median_ms: median(&pooled[2]),
        unbatched_median_ms: median(&pooled[3]),
    };
    r.load = ping_under_load(&mut nets[1], secs, None);
    drop(nets);
    // Alone: spinning relays take a CPU each and would slow the others.
    let spin = [
        build(setup, Path::Kernel, 1),
        build(setup, Path::FloorSpin, 1),
    ];
    let (pooled, _) = ping_in_turns(&[&spin[0], &spin[1]], 5, 100);
    r.spin = FloorSpin {
        kernel_median_ms: median(&pooled[0]),
        floor_spin_median_ms: median(&pooled[1]),
    };
    r
}

/// The numbers of path `p` in the TCP turns: its rates and its machine
/// CPU per segment (a round without it leaves that series short, and the
/// paragraph out).
fn series(r: &FloorRun, p: &str) -> (Vec<f64>, Vec<f64>) {
    r.tcp.get(p).map_or_else(Default::default, |t| {
        let us = t.tcp_machine_us_per_segment.iter().flatten().copied();
        (t.tcp_mbps.clone(), us.collect())
    })
}

/// The report's paragraph on the floor: TCP in turns against the budgets
/// the TCP targets leave with every CPU busy, idle added over the kernel
/// path, and the tail at 50 % load.
pub fn floor_lines(r: &FloorRun) -> Option<String> {
    let cpus = r.cpus as f64;
    let mbps = |p: &str| series(r, p).0;
    let us = |p: &str| series(r, p).1;
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
    let idle = &r.idle;
    if let (Some(ik), Some(ifl), Some(ib)) = (
        idle.kernel_median_ms,
        idle.floor_median_ms,
        idle.batched_median_ms,
    ) {
        s.push_str(&format!(
            " Idle ping in turns (5 × 100): kernel {ik:.3}, floor {ifl:.3}, batched {ib:.3} ms, added over the kernel path: floor {:.0} µs, batched {:.0} µs.",
            (ifl - ik) * 1e3,
            (ib - ik) * 1e3
        ));
    }
    if let (Some(sk), Some(sf)) = (r.spin.kernel_median_ms, r.spin.floor_spin_median_ms) {
        s.push_str(&format!(
            " A floor relay that never sleeps (no wake-up at all; up alone with the kernel path, in turns): {sf:.3} against {sk:.3} ms, {:.0} µs added.",
            (sf - sk) * 1e3
        ));
    }
    if let Some(p99) = r.load.ping_load50_p99_ms {
        s.push_str(&format!(
            " The floor at 50 % load: ping p99 {p99:.2} ms (median {:.3}); the scheduler's tail beside it (loopback echo) p99 {:.2} ms.",
            r.load.ping_load50_median_ms.unwrap_or(f64::NAN),
            r.load.wake_load50_p99_us.unwrap_or(f64::NAN) / 1e3,
        ));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{FloorTcp, Load};

    fn run() -> FloorRun {
        let tcp = |mbps: [f64; 2], us: [f64; 2]| FloorTcp {
            tcp_mbps: mbps.to_vec(),
            tcp_machine_us_per_segment: us.iter().map(|&x| Some(x)).collect(),
        };
        FloorRun {
            path: FLOOR.into(),
            hops: 1,
            cpus: 2,
            rounds: 2,
            tcp: [
                ("kernel", tcp([14300.0, 14300.0], [1.0, 1.0])),
                ("floor", tcp([2600.0, 2500.0], [8.0, 7.0])),
                ("batched", tcp([2550.0, 2550.0], [8.1, 8.1])),
                ("unbatched", tcp([1000.0, 1000.0], [19.0, 19.0])),
            ]
            .into_iter()
            .map(|(p, t)| (p.to_string(), t))
            .collect(),
            floor_moved: vec![],
            idle: FloorIdle {
                kernel_median_ms: Some(0.075),
                floor_median_ms: Some(0.22),
                batched_median_ms: Some(0.21),
                unbatched_median_ms: None,
            },
            spin: FloorSpin {
                kernel_median_ms: Some(0.075),
                floor_spin_median_ms: Some(0.16),
            },
            load: Load {
                ping_load50_p99_ms: Some(7.5),
                ping_load50_median_ms: Some(0.4),
                wake_load50_p99_us: Some(900.0),
                ..Load::default()
            },
        }
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
        r.tcp.remove("unbatched");
        assert!(floor_lines(&r).is_none());
    }
}
