//! The markdown report of a full run: the main table, the reference
//! lines (wake-up cost, scheduler's tail, link ceiling, CPU budget, whole
//! machine) and the side tables.

use crate::cells::{cell, ratio, whole};
use crate::measure::pct;
use crate::net::DataplaneOpts;
use crate::results::{
    Ceilings, FloorRun, Measurement, PathRun, PeerRow, PingTurns, Udp64Paired, LINK_CEILING,
    UDP64_PAIRED,
};
use crate::turns_report::turns_tables;

/// One figure of a path's run.
type Get = fn(&PathRun) -> Option<f64>;

/// The markdown line for one `run_ping_idle_turns` result.
pub fn ping_turns_line(t: &PingTurns) -> Option<String> {
    let (k, b, u) = (
        t.kernel_median_ms?,
        t.batched_median_ms?,
        t.unbatched_median_ms?,
    );
    let (rb, ru) = (&t.batched_round_medians_ms, &t.unbatched_round_medians_ms);
    let mut ratios: Vec<f64> = rb
        .iter()
        .zip(ru)
        .filter_map(|(x, y)| Some((*x)? / (*y)?))
        .collect();
    ratios.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let over = ratios.iter().filter(|&&x| x > 1.10).count();
    Some(format!(
        "{} hop(s): median kernel {k:.3}, batched {b:.3}, unbatched {u:.3} ms; batched ÷ unbatched {:.2} × (per round {:.2}–{:.2} ×, median {:.2} ×, above 1.10 × in {over} of {}); added over the kernel path: batched {:.0} µs, unbatched {:.0} µs",
        t.hops,
        b / u,
        ratios.first()?,
        ratios.last()?,
        pct(&ratios, 0.5)?,
        ratios.len(),
        (b - k) * 1000.0,
        (u - k) * 1000.0,
    ))
}

/// The markdown report of a full run's `results` (`secs` per measurement,
/// the daemons' data planes set up as `dp`): one section after another.
pub fn markdown(results: &[Measurement], secs: u64, dp: &DataplaneOpts) -> String {
    let run = Run { results };
    [
        header(secs, dp),
        main_table(&run),
        reference_lines(&run, secs),
        cpu_per_packet_table(results),
        aggregation_and_offload_lines(&run),
        paired_udp_line(&run, secs),
        mtu_frames_table(&run),
        realtime_table(&run),
        turns_tables(results),
        peers_table(results).unwrap_or_default(),
    ]
    .concat()
}

/// A full run's results, looked up by kind, path and hop count.
struct Run<'a> {
    results: &'a [Measurement],
}

impl Run<'_> {
    /// The run of `path` over `hops`.
    fn get(&self, path: &str, hops: usize) -> Option<&PathRun> {
        self.results.iter().find_map(|r| match r {
            Measurement::Path(r) if r.path == path && r.hops == hops => Some(r),
            _ => None,
        })
    }

    /// A figure of the run of `path` over one hop.
    fn one_hop(&self, path: &str, get: Get) -> Option<f64> {
        self.get(path, 1).and_then(get)
    }

    /// The idle ping in turns over `hops`.
    fn ping_turns(&self, hops: usize) -> Option<&PingTurns> {
        self.results.iter().find_map(|r| match r {
            Measurement::PingTurns(t) if t.hops == hops => Some(t),
            _ => None,
        })
    }

    /// The link ceiling (1 hop).
    fn link_ceiling(&self) -> Option<&Ceilings> {
        self.results.iter().find_map(|r| match r {
            Measurement::LinkCeiling(c) if c.path == LINK_CEILING && c.hops == 1 => {
                Some(&c.ceiling)
            }
            _ => None,
        })
    }

    /// The floor (1 hop).
    fn floor(&self) -> Option<&FloorRun> {
        self.results.iter().find_map(|r| match r {
            Measurement::Floor(f) if f.hops == 1 => Some(f),
            _ => None,
        })
    }

    /// UDP 64 B batched and unbatched in turns (1 hop).
    fn udp64_paired(&self) -> Option<&Udp64Paired> {
        self.results.iter().find_map(|r| match r {
            Measurement::Udp64Paired(p) if p.path == UDP64_PAIRED && p.hops == 1 => Some(p),
            _ => None,
        })
    }
}

fn tcp_mbps(r: &PathRun) -> Option<f64> {
    r.tcp_mbps()
}

fn udp64_pps(r: &PathRun) -> Option<f64> {
    r.udp64.as_ref().map(|u| u.udp64_pps)
}

fn udp64_arrived_pps(r: &PathRun) -> Option<f64> {
    r.udp64.as_ref().map(|u| u.udp64_arrived_pps)
}

fn ping_idle_median_ms(r: &PathRun) -> Option<f64> {
    r.ping_idle.ping_idle_median_ms
}

fn ping_load50_median_ms(r: &PathRun) -> Option<f64> {
    r.load.ping_load50_median_ms
}

fn ping_load50_p99_ms(r: &PathRun) -> Option<f64> {
    r.load.ping_load50_p99_ms
}

fn frames_per_packet(r: &PathRun) -> Option<f64> {
    r.udp64_frames_per_packet
}

fn machine_us_per_segment(r: &PathRun) -> Option<f64> {
    r.tcp.as_ref()?.tcp_machine_us_per_segment
}

fn machine_busy_share(r: &PathRun) -> Option<f64> {
    r.tcp.as_ref()?.tcp_machine_busy_share
}

/// How long each measurement ran and how the data planes were placed.
fn header(secs: u64, dp: &DataplaneOpts) -> String {
    format!(
        "Duration per measurement: {secs} s. Ratios are from this one run. Data planes {}.{}\n\n",
        if dp.pin {
            "bound to a CPU each (`--pin`: node i to CPU i mod count)"
        } else {
            "placed by the kernel"
        },
        if dp.lines.is_empty() {
            String::new()
        } else {
            format!(" `[dataplane]` lines: `{}`.", dp.lines.replace('\n', "; "))
        }
    )
}

/// The main table: kernel, batched and unbatched over 1 and 2 hops.
fn main_table(run: &Run) -> String {
    let mut md = String::from("| Scenario | Hops | kernel | batched | unbatched | batched ÷ unbatched | batched ÷ kernel |\n|---|---:|---:|---:|---:|---:|---:|\n");
    let rows: [(&str, Get, usize); 11] = [
        ("TCP bulk (Mbit/s)", tcp_mbps, 0),
        (
            "UDP 64 B sent by iperf3 (pkt/s)",
            |r| r.udp64.as_ref().map(|u| u.udp64_sent_pps),
            0,
        ),
        ("UDP 64 B delivered (pkt/s)", udp64_pps, 0),
        (
            "UDP 64 B reaching the receiving host (pkt/s)",
            udp64_arrived_pps,
            0,
        ),
        (
            "UDP 1400 B delivered (pkt/s)",
            |r| r.udp1400.as_ref().map(|u| u.udp1400_pps),
            0,
        ),
        (
            "UDP 1400 B reaching the receiving host (pkt/s)",
            |r| r.udp1400.as_ref().map(|u| u.udp1400_arrived_pps),
            0,
        ),
        (
            "UDP 64 B loss",
            |r| r.udp64.as_ref().map(|u| u.udp64_loss),
            3,
        ),
        ("ping idle median (ms)", ping_idle_median_ms, 3),
        ("ping idle p99 (ms)", |r| r.ping_idle.ping_idle_p99_ms, 3),
        ("ping at 50% load median (ms)", ping_load50_median_ms, 3),
        ("ping at 50% load p99 (ms)", ping_load50_p99_ms, 3),
    ];
    for hops in [1usize, 2] {
        let (k, b, u) = (
            run.get("kernel", hops),
            run.get("batched", hops),
            run.get("unbatched", hops),
        );
        for (label, get, d) in rows {
            let (k, b, u) = (k.and_then(get), b.and_then(get), u.and_then(get));
            md.push_str(&format!(
                "| {label} | {hops} | {} | {} | {} | {} | {} |\n",
                cell(k, d),
                cell(b, d),
                cell(u, d),
                ratio(b, u),
                ratio(b, k)
            ));
        }
    }
    md
}

/// The lines under the main table: idle RTT added, idle ping in turns,
/// the floor, the wake-up cost, the scheduler's tail, the link ceiling,
/// the CPU budget and the whole machine.
fn reference_lines(run: &Run, secs: u64) -> String {
    [
        added_rtt_line(run),
        ping_turns_lines(run),
        run.floor()
            .and_then(crate::floor::floor_lines)
            .map_or(String::new(), |l| format!("\n\n{l}")),
        wake_cost_line(run),
        scheduler_tail_line(run),
        link_ceiling_line(run),
        cpu_budget_line(run, secs),
        whole_machine_line(run),
    ]
    .concat()
}

fn added_rtt_line(run: &Run) -> String {
    let mut md = String::from("\nIdle ping RTT added over the kernel path (median): ");
    for hops in [1usize, 2] {
        let (k, b) = (run.get("kernel", hops), run.get("batched", hops));
        if let (Some(kk), Some(bb)) = (
            k.and_then(ping_idle_median_ms),
            b.and_then(ping_idle_median_ms),
        ) {
            md.push_str(&format!("{hops} hop(s): {:.0} µs; ", (bb - kk) * 1000.0));
        }
    }
    md
}

fn ping_turns_lines(run: &Run) -> String {
    let turns: Vec<String> = [1usize, 2]
        .iter()
        .filter_map(|&h| ping_turns_line(run.ping_turns(h)?))
        .collect();
    if turns.is_empty() {
        return String::new();
    }
    format!(
        "\n\nIdle ping with the kernel, batched and unbatched networks up together and pinged in turns (10 rounds of 100 pings 10 ms apart each, the order rotating): {}.",
        turns.join("; ")
    )
}

fn wake_cost_line(run: &Run) -> String {
    let (Some(echo), Some(kern)) = (
        run.one_hop("kernel", |r| r.wake.udp_echo_median_us),
        run.one_hop("kernel", |r| r.wake.udp_kernel_median_us),
    ) else {
        return String::new();
    };
    format!(
        "\n\nWake-up cost on this machine (kernel path, 1 hop, UDP round trips timed by one user-space client, median of 300): answered by the far kernel (port unreachable) {kern:.0} µs, answered by an echo thread there {echo:.0} µs, so one process wake-up with its two syscalls costs about {:.0} µs. A round trip through one hop of daemons needs three more: the OBU for the request and for the reply, the RSU for the request (its reply is already waiting when it next polls).",
        echo - kern
    )
}

fn scheduler_tail_line(run: &Run) -> String {
    let tails = |median: Get, p99: Get| -> Vec<String> {
        ["kernel", "batched", "unbatched", "realtime"]
            .iter()
            .filter_map(|p| {
                Some(format!(
                    "{p} {:.0} / {:.0} µs",
                    run.one_hop(p, median)?,
                    run.one_hop(p, p99)?
                ))
            })
            .collect()
    };
    let wake = tails(
        |r| r.load.wake_load50_median_us,
        |r| r.load.wake_load50_p99_us,
    );
    if wake.is_empty() {
        return String::new();
    }
    let mut md = format!(
        "\n\nThe scheduler's own tail at 50 % load (1 hop): a UDP echo over loopback in the sending namespace, two ordinary-thread wake-ups per round trip and no daemon on its path, run beside the loaded ping; median / p99 while the load went through each path: {}.",
        wake.join(", ")
    );
    let rt = tails(
        |r| r.load.wake_rt_load50_median_us,
        |r| r.load.wake_rt_load50_p99_us,
    );
    if !rt.is_empty() {
        md.push_str(&format!(
            " The same echo with both threads under `SCHED_FIFO`, beside it: {}.",
            rt.join(", ")
        ));
    }
    md
}

fn link_ceiling_line(run: &Run) -> String {
    let lc = run.link_ceiling().cloned().unwrap_or_default();
    let (Some(cb), Some(cu)) = (lc.batched_tcp_mbps, lc.unbatched_tcp_mbps) else {
        return String::new();
    };
    let (b, u) = (
        run.one_hop("batched", tcp_mbps).unwrap_or(0.0),
        run.one_hop("unbatched", tcp_mbps).unwrap_or(0.0),
    );
    format!(
        "\n\nLink ceiling (1 hop, no daemons): one thread sending full-MTU data frames through the emulated radio with the data plane's own send path, another reading them, nothing else running, best of 2: {:.0} frames/s batched and {:.0} frames/s one frame per syscall ({:.2} ×), that is {cb:.0} and {cu:.0} Mbit/s of TCP payload at {} bytes per frame. The batched daemons' TCP reached {:.0} % of the batched ceiling; 3 × the unbatched daemons' TCP ({:.0} Mbit/s) would be {:.0} % of it.",
        lc.batched_received_fps.unwrap_or(0.0),
        lc.unbatched_received_fps.unwrap_or(0.0),
        cb / cu.max(1e-9),
        lc.tcp_payload_per_frame
            .map_or("null".into(), |n| n.to_string()),
        100.0 * b / cb.max(1e-9),
        3.0 * u,
        300.0 * u / cb.max(1e-9),
    )
}

fn cpu_budget_line(run: &Run, secs: u64) -> String {
    let lc = run.link_ceiling().cloned().unwrap_or_default();
    let (Some(cpu_s), Some(bytes_b), Some(sent), Some(u), Some(seg)) = (
        run.one_hop("batched", |r| r.tcp_sender_cpu_s),
        run.one_hop("batched", |r| Some(r.tcp.as_ref()?.tcp_bytes? as f64)),
        lc.batched_sent_fps,
        run.one_hop("unbatched", tcp_mbps),
        lc.tcp_payload_per_frame.map(|n| n as f64),
    ) else {
        return String::new();
    };
    // The ceiling's sender never sleeps: one CPU over the frames it sent.
    let link = 1e6 / sent.max(1.0);
    let per_seg = cpu_s * 1e6 / (bytes_b / seg).max(1.0);
    let need = 3.0 * u * 1e6 / 8.0 / seg;
    let left = 1e6 / need - link;
    format!(
        "\n\nCPU budget of the sending OBU's data plane (one thread) for 1-hop TCP at 3 × unbatched, {need:.0} segments/s of {seg:.0} bytes: handing one frame to the link costs a thread {link:.2} µs (the ceiling's sender, which never sleeps), so {} In the batched run the OBU spent {per_seg:.2} µs per segment in all ({:.0} % of a CPU), {:.2} µs of it beyond the link.",
        if left > 0.0 {
            format!("one CPU leaves {left:.2} µs per segment for everything else the thread does (reading the TUN, cutting and checksumming segments, writing the receiver's ACKs to its TUN, with the TCP processing that runs inside those writes).")
        } else {
            format!("one CPU cannot even hand that many frames to the link ({:.2} µs per segment short, before anything else the thread does).", -left)
        },
        100.0 * cpu_s / secs as f64,
        per_seg - link
    )
}

fn whole_machine_line(run: &Run) -> String {
    let machine: Vec<String> = ["kernel", "kernel_mtu", "batched", "unbatched"]
        .iter()
        .filter_map(|p| {
            Some(format!(
                "{p} {:.2} µs ({:.0} % busy)",
                run.one_hop(p, machine_us_per_segment)?,
                100.0 * run.one_hop(p, machine_busy_share)?
            ))
        })
        .collect();
    let (true, Some(ub), Some(share)) = (
        machine.len() == 4,
        run.one_hop("unbatched", machine_us_per_segment),
        run.one_hop("batched", machine_busy_share),
    ) else {
        return String::new();
    };
    let ushare = run
        .one_hop("unbatched", machine_busy_share)
        .unwrap_or(share);
    // At 3 × the unbatched rate with the machine as busy as in the
    // batched run, one segment may cost the whole machine this much.
    let need = ub * share / ushare.max(1e-9) / 3.0;
    format!(
        "\n\nThe whole machine during 1-hop TCP (`/proc/stat` over each iperf3 run, all CPUs): CPU per 1430 bytes of payload and the machine's busy share: {}. At the batched run's busy share, 3 × the unbatched rate allows {need:.2} µs per segment.",
        machine.join(", ")
    )
}

/// CPU time per packet forwarded, per path, hop count and node.
fn cpu_per_packet_table(results: &[Measurement]) -> String {
    let mut md = String::from("\n\nCPU time per packet forwarded (messages received from the link + packets read from the TUN, super-packets counted per segment), during the UDP and TCP runs:\n\n| Path | Hops | Node | CPU s | Packets | µs/packet |\n|---|---:|---|---:|---:|---:|\n");
    for r in results {
        let Measurement::Path(r) = r else {
            continue;
        };
        for c in r.cpu.iter().flatten() {
            md.push_str(&format!(
                "| {} | {} | {} | {:.2} | {} | {:.2} |\n",
                r.path, r.hops, c.node, c.cpu_s, c.packets, c.us_per_packet
            ));
        }
    }
    md
}

fn aggregation_and_offload_lines(run: &Run) -> String {
    let on = |get: Get| run.one_hop("batched", get);
    let off = |get: Get| run.one_hop("batched_no_aggregation", get);
    let tcp_off = run.one_hop("batched_no_offload", tcp_mbps);
    format!(
        "\nFrames on the wire per packet, UDP 64 B at full load, 1 hop: aggregation on {} , off {} (pkt/s reaching the receiving host: on {}, off {}; read by iperf3: on {}, off {}).\n\nTUN offload, TCP bulk 1 hop: on {} Mbit/s, off {} Mbit/s ({}×).\n",
        cell(on(frames_per_packet), 3),
        cell(off(frames_per_packet), 3),
        cell(on(udp64_arrived_pps), 0),
        cell(off(udp64_arrived_pps), 0),
        cell(on(udp64_pps), 0),
        cell(off(udp64_pps), 0),
        cell(on(tcp_mbps), 0),
        cell(tcp_off, 0),
        ratio(on(tcp_mbps), tcp_off)
    )
}

fn paired_udp_line(run: &Run, secs: u64) -> String {
    let paired = run.udp64_paired().cloned().unwrap_or_default();
    let (pb, pu) = (paired.batched_median_pps, paired.unbatched_median_pps);
    let (ab, au) = (
        paired.batched_arrived_median_pps,
        paired.unbatched_arrived_median_pps,
    );
    format!(
        "\nUDP 64 B, 1 hop, batched and unbatched networks up together and measured in turns (3 × {secs} s each; median pkt/s): delivered to iperf3: batched {}, unbatched {}, batched ÷ unbatched {} (all runs: batched {}, unbatched {}); reaching the receiving host: batched {}, unbatched {}, batched ÷ unbatched {} (all runs: batched {}, unbatched {}).\n",
        cell(pb, 0),
        cell(pu, 0),
        ratio(pb, pu),
        whole(&paired.batched_pps),
        whole(&paired.unbatched_pps),
        cell(ab, 0),
        cell(au, 0),
        ratio(ab, au),
        whole(&paired.batched_arrived_pps),
        whole(&paired.unbatched_arrived_pps)
    )
}

fn mtu_frames_table(run: &Run) -> String {
    let mut md = String::from("\nThe kernel path with every radio frame at most the link MTU (TSO, GSO and GRO off on the radio interfaces), TCP bulk, against the daemons (which must cut to the MTU):\n\n| Hops | kernel (GSO) | kernel (MTU frames) | batched | MTU-frame kernel ÷ GSO kernel | batched ÷ MTU-frame kernel |\n|---:|---:|---:|---:|---:|---:|\n");
    for hops in [1usize, 2] {
        let (k, km, b) = (
            run.get("kernel", hops).and_then(tcp_mbps),
            run.get("kernel_mtu", hops).and_then(tcp_mbps),
            run.get("batched", hops).and_then(tcp_mbps),
        );
        md.push_str(&format!(
            "| {hops} | {} | {} | {} | {} | {} |\n",
            cell(k, 0),
            cell(km, 0),
            cell(b, 0),
            ratio(km, k),
            ratio(b, km)
        ));
    }
    md
}

fn realtime_table(run: &Run) -> String {
    let (rt, b1) = (run.get("realtime", 1), run.get("batched", 1));
    let mut md = String::from("\nRealtime priority while the CPUs are contended (`[dataplane] realtime_priority = 1`, `realtime = \"auto\"`) against the default (normal scheduling), 1 hop:\n\n| Measurement | batched (default) | batched, realtime |\n|---|---:|---:|\n");
    let rows: [(&str, Get, usize); 7] = [
        ("TCP bulk (Mbit/s)", tcp_mbps, 0),
        ("UDP 64 B delivered (pkt/s)", udp64_pps, 0),
        (
            "UDP 64 B reaching the receiving host (pkt/s)",
            udp64_arrived_pps,
            0,
        ),
        ("UDP 64 B frames per packet", frames_per_packet, 3),
        ("ping idle median (ms)", ping_idle_median_ms, 3),
        ("ping at 50% load median (ms)", ping_load50_median_ms, 3),
        ("ping at 50% load p99 (ms)", ping_load50_p99_ms, 3),
    ];
    for (label, get, d) in rows {
        md.push_str(&format!(
            "| {label} | {} | {} |\n",
            cell(b1.and_then(get), d),
            cell(rt.and_then(get), d)
        ));
    }
    md
}

/// The peers table (`v2xd-e2e --peers`): the kernel path, the daemons and
/// the other tunnels on the same 1-hop link, one row each, then what each
/// row ran with. `None` without peer results.
pub fn peers_table(results: &[Measurement]) -> Option<String> {
    let rows: Vec<&PeerRow> = results
        .iter()
        .filter_map(|r| match r {
            Measurement::Peer(p) => Some(p),
            _ => None,
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mut md = String::from(
        "\nThe same 1-hop link through other tunnels (iperf3 TCP bulk, UDP 64 B at unlimited rate, 300 idle pings 10 ms apart; tunnel CPU: user + system of the tunnel processes on both ends over the TCP run, per 1430 bytes received; machine: all CPUs from `/proc/stat`, the same way):\n\n| Path | MTU | TCP (Mbit/s) | Retransmits | UDP 64 B delivered (pkt/s) | Ping idle median (ms) | Ping idle p99 (ms) | Tunnel CPU per segment (µs) | Machine CPU per segment (µs) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut notes = String::new();
    for r in rows {
        let name = &r.name;
        let mtu = r.mtu.map_or("-".into(), |m| m.to_string());
        let not_run = (r.skipped.as_ref().map(|w| ("skipped", w)))
            .or(r.failed.as_ref().map(|w| ("failed", w)));
        if let Some((kind, why)) = not_run {
            let short = why
                .lines()
                .next()
                .unwrap_or("")
                .split("; logs:")
                .next()
                .unwrap_or("");
            md.push_str(&format!(
                "| {name} | {mtu} | {kind}: {short} | | | | | | |\n"
            ));
            continue;
        }
        let tcp = r.tcp.as_ref();
        md.push_str(&format!(
            "| {name} | {mtu} | {} | {} | {} | {} | {} | {} | {} |\n",
            cell(tcp.map(|t| t.tcp_mbps), 0),
            tcp.and_then(|t| t.tcp_retransmits)
                .map_or("-".into(), |n| n.to_string()),
            cell(r.udp64.as_ref().map(|u| u.udp64_pps), 0),
            cell(r.ping_idle.ping_idle_median_ms, 3),
            cell(r.ping_idle.ping_idle_p99_ms, 3),
            cell(r.tunnel_us_per_segment, 2),
            cell(tcp.and_then(|t| t.tcp_machine_us_per_segment), 2),
        ));
        notes.push_str(&peer_notes(r));
    }
    md.push_str(&notes);
    md.push('\n');
    Some(md)
}

/// The note under the peers table on what row `r` ran with: its
/// settings and version, its MTU check and the fragments it made.
fn peer_notes(r: &PeerRow) -> String {
    let version = r
        .version
        .as_ref()
        .map_or(String::new(), |v| format!(" ({v})"));
    let mut notes = format!("\n* **{}**{version}: {}.", r.name, r.settings);
    if let Some(c) = &r.mtu_check {
        notes.push_str(&format!(
            " MTU check: full-size pings with DF set {} of 3 back, {} fragments; one byte larger (both interfaces at MTU + 1) {} of 3 back, {} fragments ({}).",
            c.at_mtu_replies,
            c.at_mtu_fragments,
            c.above_mtu_replies,
            c.above_mtu_fragments,
            match (c.verified, c.above_mtu_fragments > 0) {
                (true, true) => "fragmented: the MTU is the largest",
                (true, false) => "not carried by the tunnel",
                _ => "NOT verified",
            }
        ));
    }
    if let Some(n) = r.radio_fragments {
        notes.push_str(&format!(
            " IPv4 fragments made during the measurements: {n}."
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::PING_IDLE_TURNS;
    use serde_json::{json, Value};

    fn turns() -> PingTurns {
        PingTurns {
            path: PING_IDLE_TURNS.into(),
            hops: 1,
            kernel_median_ms: Some(0.08),
            batched_median_ms: Some(0.22),
            unbatched_median_ms: Some(0.20),
            batched_round_medians_ms: vec![Some(0.21), Some(0.24), Some(0.215)],
            unbatched_round_medians_ms: vec![Some(0.20), Some(0.20), Some(0.20)],
            ..PingTurns::default()
        }
    }

    /// Results as a saved run's JSON has them.
    fn read(v: Vec<Value>) -> Vec<Measurement> {
        serde_json::from_value(Value::Array(v)).expect("results")
    }

    /// Every key the report reads, for the comparison with the old code
    /// (read from JSON, as `--report` reads a saved run).
    fn full_run() -> Vec<Measurement> {
        let mut v = Vec::new();
        for hops in [1usize, 2] {
            for (k, p) in [
                "kernel",
                "batched",
                "unbatched",
                "kernel_mtu",
                "realtime",
                "batched_no_aggregation",
                "batched_no_offload",
            ]
            .iter()
            .enumerate()
            {
                let x = 1.0 + k as f64 + hops as f64 / 10.0;
                v.push(json!({ "path": p, "hops": hops, "tcp_mbps": 900.0 * x, "udp64_sent_pps": 1e5 * x,
                    "udp64_pps": 9e4 * x, "udp64_arrived_pps": 8e4 * x, "udp1400_pps": 5e4 * x,
                    "udp1400_arrived_pps": 4e4 * x, "udp1400_sent_pps": 6e4 * x, "udp1400_loss": 0.0,
                    "udp64_loss": 0.01 * x, "ping_idle_median_ms": 0.1 * x,
                    "ping_idle_p99_ms": 0.3 * x, "ping_load50_median_ms": 0.2 * x, "ping_load50_p99_ms": 0.9 * x,
                    "udp_echo_median_us": 40.0 * x, "udp_kernel_median_us": 30.0 * x,
                    "wake_load50_median_us": 12.0 * x, "wake_load50_p99_us": 80.0 * x,
                    "wake_rt_load50_median_us": 10.0 * x, "wake_rt_load50_p99_us": 30.0 * x,
                    "tcp_sender_cpu_s": 2.5 * x, "tcp_bytes": (6e8 * x) as u64, "udp64_frames_per_packet": 0.3 * x,
                    "tcp_machine_us_per_segment": 4.0 * x, "tcp_machine_busy_share": 0.5 + 0.05 * x,
                    "cpu": [{ "node": "obu1", "cpu_s": 1.5 * x, "packets": 100000, "us_per_packet": 15.0 * x }] }));
            }
            v.push(serde_json::to_value(turns_with(hops)).expect("json"));
        }
        v.push(json!({ "path": "link_ceiling", "hops": 1, "batched_tcp_mbps": 3000.0, "unbatched_tcp_mbps": 900.0,
            "batched_received_fps": 260000.0, "unbatched_received_fps": 80000.0, "tcp_payload_per_frame": 1430,
            "batched_sent_fps": 270000.0 }));
        v.push(json!({ "path": "udp64_paired", "hops": 1, "batched_pps": [1.0, 2.0], "unbatched_pps": [3.0],
            "batched_median_pps": 1.5, "unbatched_median_pps": 3.0, "batched_arrived_pps": [4.0],
            "unbatched_arrived_pps": [5.0], "batched_arrived_median_pps": 4.0, "unbatched_arrived_median_pps": 5.0 }));
        read(v)
    }

    fn turns_with(hops: usize) -> PingTurns {
        PingTurns { hops, ..turns() }
    }

    /// Each section reads its own figures. (Checked once, when the report
    /// was cut into one function per section, to be the old one to the
    /// byte on this run and on an empty one.)
    #[test]
    fn every_section_reads_its_figures() {
        let results = full_run();
        let dp = DataplaneOpts {
            lines: "a = 1\nb = 2".into(),
            pin: true,
        };
        let md = markdown(&results, 5, &dp);
        for line in [
            "Data planes bound to a CPU each (`--pin`: node i to CPU i mod count). `[dataplane]` lines: `a = 1; b = 2`.",
            "| TCP bulk (Mbit/s) | 1 | 990 | 1890 | 2790 | 0.68 | 1.91 |",
            "Idle ping RTT added over the kernel path (median): 1 hop(s): 100 µs; 2 hop(s): 100 µs; ",
            "answered by the far kernel (port unreachable) 33 µs, answered by an echo thread there 44 µs",
            "median / p99 while the load went through each path: kernel 13 / 88 µs, batched 25 / 168 µs",
            "260000 frames/s batched and 80000 frames/s one frame per syscall (3.33 ×)",
            "| batched | 1 | obu1 | 3.15 | 100000 | 31.50 |",
            "aggregation on 0.630 , off 1.830",
            "TUN offload, TCP bulk 1 hop: on 1890 Mbit/s, off 6390 Mbit/s (0.30×).",
            "delivered to iperf3: batched 2, unbatched 3, batched ÷ unbatched 0.50 (all runs: batched [1, 2], unbatched [3])",
            "| 2 | 1080 | 3780 | 1980 | 3.50 | 0.52 |",
            "| UDP 64 B frames per packet | 0.630 | 1.530 |",
        ] {
            assert!(md.contains(line), "missing {line:?} in:\n{md}");
        }
        let empty = markdown(&[], 5, &DataplaneOpts::default());
        assert!(
            empty.starts_with("Duration per measurement: 5 s."),
            "{empty}"
        );
        assert!(!empty.contains("Wake-up cost"), "{empty}");
    }

    #[test]
    fn paired_idle_line_gives_ratios_and_added_time() {
        let line = ping_turns_line(&turns()).expect("a line");
        assert!(line.contains("batched ÷ unbatched 1.10 ×"), "{line}");
        // Per-round ratios 1.05, 1.20, 1.075: one above 1.10.
        assert!(line.contains("per round 1.05–1.20 ×"), "{line}");
        assert!(line.contains("above 1.10 × in 1 of 3"), "{line}");
        assert!(line.contains("batched 140 µs, unbatched 120 µs"), "{line}");
        let mut t = turns();
        t.unbatched_median_ms = None;
        assert!(
            ping_turns_line(&t).is_none(),
            "no line without all three paths"
        );
    }

    #[test]
    fn whole_machine_line_and_its_budget() {
        let tcp = |p: &str, us: f64, share: f64| json!({ "path": p, "hops": 1, "tcp_mbps": 1.0, "tcp_machine_us_per_segment": us, "tcp_machine_busy_share": share });
        let results = read(vec![
            tcp("kernel", 1.0, 0.7),
            tcp("kernel_mtu", 3.5, 0.65),
            tcp("batched", 8.0, 0.9),
            tcp("unbatched", 18.0, 0.9),
        ]);
        let md = markdown(&results, 5, &DataplaneOpts::default());
        assert!(md.contains("batched 8.00 µs (90 % busy)"), "{md}");
        // 3 × the unbatched rate at the same busy share: 18 / 3 µs.
        assert!(md.contains("allows 6.00 µs per segment"), "{md}");
        let md = markdown(&results[..3], 5, &DataplaneOpts::default());
        assert!(
            !md.contains("The whole machine"),
            "no line with a path missing"
        );
    }

    #[test]
    fn peers_table_rows_and_skips() {
        let results = read(vec![
            json!({ "path": "peer", "name": "kernel", "mtu": 1500, "tcp_mbps": 2000.4, "tcp_retransmits": 3,
                    "udp64_pps": 90000.0, "udp64_loss": 0.0, "udp64_arrived_pps": 90000.0,
                    "udp64_sent_pps": 90000.0, "ping_idle_median_ms": 0.05, "ping_idle_p99_ms": 0.1,
                    "tcp_machine_us_per_segment": 5.0, "settings": "no tunnel" }),
            json!({ "path": "peer", "name": "fastd null", "mtu": 1471, "settings": "s",
                    "skipped": "fastd not installed" }),
        ]);
        let md = peers_table(&results).expect("a table");
        assert!(
            md.contains("| kernel | 1500 | 2000 | 3 | 90000 | 0.050 | 0.100 | - | 5.00 |"),
            "{md}"
        );
        assert!(
            md.contains("| fastd null | 1471 | skipped: fastd not installed |"),
            "{md}"
        );
        assert!(peers_table(&read(vec![json!({ "path": "kernel" })])).is_none());
    }
}
