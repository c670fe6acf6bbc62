//! The radio model in the kernel: an nftables table in the air namespace
//! whose verdict map, keyed by (sender's radio MAC, receiver's port), says
//! for every pair that hears each other either `accept` or `jump lossNN`;
//! any pair not in the map is dropped. A tick sends only the changed
//! pairs, as one transaction (`nft -f -`), from a thread that lives in the
//! air namespace.
//!
//! Keyed by the sender's MAC rather than its port so that the air can
//! span hosts: a frame from a node on another host arrives through the
//! VXLAN port, and only its source MAC says who sent it. Each host's table
//! decides for the receivers on that host; frames leaving towards another
//! host (the `vx*` ports) pass, and are decided there.
//!
//! Loss follows 802.11's retries, as the testbed's fading does: a
//! broadcast frame (beacons) is sent once and lost with the pair's loss
//! `p`; a unicast frame is retried up to 7 times, so only `p^8` of them
//! are lost.

use crate::radio::{LinkChange, LOSS_STEP};
use crate::{Error, Result};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The table's name in the air namespace's bridge family.
pub const TABLE: &str = "lab";
/// Ports towards other hosts are named with this prefix.
pub const HOST_LINK_PREFIX: &str = "vx";

/// Who is who on one host's air bridge.
#[derive(Clone, Debug, Default)]
pub struct Radios {
    /// Per node: its radio's MAC.
    pub mac: Vec<String>,
    /// Per node: its port on its host's air bridge.
    pub port: Vec<String>,
    /// Per node: whether it is on this host.
    pub local: Vec<bool>,
}

/// The table: a chain per loss step, the verdict map, and the base chain
/// that looks every bridged frame up in it.
pub fn setup_script() -> String {
    let mut chains = String::new();
    for p in (LOSS_STEP..100).step_by(usize::from(LOSS_STEP)) {
        let unicast = ((f64::from(p) / 100.0).powi(8) * 10_000.0).round() as u32;
        let unicast_rule = if unicast > 0 {
            format!("numgen random mod 10000 < {unicast} drop; ")
        } else {
            String::new()
        };
        chains += &format!(
            "  chain loss{p} {{ ether daddr ff:ff:ff:ff:ff:ff numgen random mod 100 < {p} drop; ether daddr ff:ff:ff:ff:ff:ff accept; {unicast_rule}accept; }}\n"
        );
    }
    format!(
        "table bridge {TABLE} {{\n{chains}  map radio {{ type ether_addr . ifname : verdict; }}\n  chain air {{ type filter hook forward priority -20; policy drop; oifname \"{HOST_LINK_PREFIX}*\" accept; ether saddr . oifname vmap @radio; }}\n}}\n"
    )
}

fn verdict(loss: u8) -> String {
    if loss == 0 {
        "accept".into()
    } else {
        format!("jump loss{loss}")
    }
}

/// One transaction that applies `changes` to the receivers on this host.
/// Empty when nothing changed here.
pub fn change_script(changes: &[LinkChange], r: &Radios) -> String {
    let mut delete = Vec::new();
    let mut add = Vec::new();
    for c in changes {
        for (from, to) in [(c.a, c.b), (c.b, c.a)] {
            if !r.local[to] {
                continue;
            }
            let key = format!("{} . \"{}\"", r.mac[from], r.port[to]);
            if c.was.is_some() {
                delete.push(key.clone());
            }
            if let Some(l) = c.now {
                add.push(format!("{key} : {}", verdict(l)));
            }
        }
    }
    let mut s = String::new();
    if !delete.is_empty() {
        s += &format!(
            "delete element bridge {TABLE} radio {{ {} }}\n",
            delete.join(", ")
        );
    }
    if !add.is_empty() {
        s += &format!(
            "add element bridge {TABLE} radio {{ {} }}\n",
            add.join(", ")
        );
    }
    s
}

/// The radio's real-time priority (SCHED_RR): a nice value is not enough
/// once hundreds of daemons are runnable at once (each takes its share);
/// the radio thread and its `nft` runs take a few ms ten times a second
/// and must not wait behind them. The kernel's real-time throttling still
/// leaves the rest of the machine 5 % at the very least.
pub const RADIO_RT_PRIORITY: i32 = 10;

/// Runs the calling thread (and what it starts, unless reset) at the
/// radio's real-time priority; false when the system refuses.
pub fn radio_realtime() -> bool {
    let p = libc::sched_param {
        sched_priority: RADIO_RT_PRIORITY,
    };
    // SAFETY: sched_setscheduler on the calling thread with a valid param.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &p) == 0 }
}

/// What one `nft` run cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApplyCost {
    pub wall: Duration,
    /// The `nft` process's CPU (user + system).
    pub child_cpu: Duration,
}

type Job = (String, mpsc::Sender<Result<ApplyCost>>);

/// A thread in the air namespace that runs `nft -f -` for each script.
pub struct AirRules {
    jobs: Option<mpsc::Sender<Job>>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl AirRules {
    /// Starts the worker in namespace `air` and creates the table.
    pub fn start(air: &str) -> Result<AirRules> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let air = air.to_string();
        let worker = std::thread::Builder::new()
            .name("air-rules".into())
            .spawn(move || {
                let entered = testbed::enter_netns(&air);
                let ok = entered.is_ok();
                let _ = ready_tx.send(entered);
                if !ok {
                    return;
                }
                // Real-time as the radio loop that waits for it; nft
                // inherits it.
                let _ = radio_realtime();
                for (script, reply) in rx {
                    let _ = reply.send(run_nft(&script));
                }
            })
            .map_err(Error::io("air rules thread"))?;
        ready_rx
            .recv()
            .map_err(|_| Error::ThreadEnded("air rules"))??;
        let rules = AirRules {
            jobs: Some(tx),
            worker: Some(worker),
        };
        rules.apply(&setup_script())?;
        Ok(rules)
    }

    /// Runs one script as one transaction.
    pub fn apply(&self, script: &str) -> Result<ApplyCost> {
        if script.is_empty() {
            return Ok(ApplyCost::default());
        }
        let (tx, rx) = mpsc::channel();
        self.jobs
            .as_ref()
            .ok_or(Error::ThreadEnded("air rules"))?
            .send((script.to_string(), tx))
            .map_err(|_| Error::ThreadEnded("air rules"))?;
        rx.recv().map_err(|_| Error::ThreadEnded("air rules"))?
    }
}

impl Drop for AirRules {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// `nft -f -` with `script` on its standard input, reaped with `wait4` so
/// that its CPU time is known.
fn run_nft(script: &str) -> Result<ApplyCost> {
    let start = std::time::Instant::now();
    let mut child = Command::new(testbed::which("nft").unwrap_or_else(|| "nft".into()))
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::io("cannot run nft"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(Error::io("nft stdin"))?;
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    let mut status = 0;
    // SAFETY: rusage is plain old data, filled in by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, writing into valid locals; std's
    // Child does not wait again on drop.
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    if r < 0 {
        return Err(Error::io("wait for nft")(std::io::Error::last_os_error()));
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let first: String = script
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        return Err(Error::Command {
            cmd: format!("nft -f - (the radio update {first}…)"),
            stderr: stderr.trim().to_string(),
        });
    }
    let tv =
        |t: libc::timeval| Duration::from_micros(t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64);
    Ok(ApplyCost {
        wall: start.elapsed(),
        child_cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
    })
}

/// `tc tbf` on node `ns`'s radio: it sends at most `mbps`. With `edca`,
/// a `pfifo_fast` under it, the stand-in for a real radio's EDCA queues:
/// frames the daemon marks as voice (`SO_PRIORITY`, see the daemon's bulk
/// lane) leave before queued bulk; its queue holds about what the shaper
/// sends in 50 ms, as the tbf's own would.
pub fn limit_bandwidth(ns: &str, mbps: f64, edca: bool) -> Result<()> {
    let rate_bytes = mbps * 1e6 / 8.0;
    // A burst of at least one 10 ms tick at the rate, and 16 KiB.
    let burst = (rate_bytes / 100.0).max(16_384.0) as u64;
    let frames = ((rate_bytes * 0.05 + burst as f64) / 1_500.0)
        .ceil()
        .max(16.0) as u64;
    let rate = format!("{}kbit", (mbps * 1000.0).round() as u64);
    let burst = burst.to_string();
    let tbf = ["tbf", "rate", &rate, "burst", &burst, "latency", "50ms"];
    run_in(
        ns,
        "tc",
        &[
            &["qdisc", "replace", "dev", "radio0", "root", "handle", "1:"][..],
            &tbf,
        ]
        .concat(),
    )?;
    if !edca {
        return Ok(());
    }
    let child = [
        "qdisc",
        "replace",
        "dev",
        "radio0",
        "parent",
        "1:1",
        "handle",
        "10:",
        "pfifo_fast",
    ];
    run_in(ns, "tc", &child)?;
    let frames = frames.to_string();
    run_in(
        ns,
        "ip",
        &["link", "set", "dev", "radio0", "txqueuelen", &frames],
    )
}

/// `tool -n ns args` (`tc` or `ip`); its failure an error naming it.
fn run_in(ns: &str, tool: &str, args: &[&str]) -> Result<()> {
    let cmd = [&[tool, "-n", ns][..], args].concat();
    let out = testbed::output(&cmd);
    if out.status != 0 {
        return Err(Error::Command {
            cmd: cmd.join(" "),
            stderr: out.stderr.trim().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_become_one_delete_and_one_add() {
        let r = Radios {
            mac: [
                "02:00:00:00:00:00",
                "02:00:00:00:00:01",
                "02:00:00:00:00:02",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            port: ["p0", "p1", "p2"].iter().map(|s| s.to_string()).collect(),
            local: vec![true, true, false],
        };
        let s = change_script(
            &[
                LinkChange {
                    a: 0,
                    b: 1,
                    was: Some(0),
                    now: Some(30),
                },
                LinkChange {
                    a: 1,
                    b: 2,
                    was: None,
                    now: Some(0),
                },
                LinkChange {
                    a: 0,
                    b: 2,
                    was: Some(50),
                    now: None,
                },
            ],
            &r,
        );
        // Node 2 is on another host: only what nodes 0 and 1 receive is
        // decided here.
        assert_eq!(
            s,
            "delete element bridge lab radio { 02:00:00:00:00:00 . \"p1\", 02:00:00:00:00:01 . \"p0\", 02:00:00:00:00:02 . \"p0\" }\n\
             add element bridge lab radio { 02:00:00:00:00:00 . \"p1\" : jump loss30, 02:00:00:00:00:01 . \"p0\" : jump loss30, 02:00:00:00:00:02 . \"p1\" : accept }\n"
        );
        assert_eq!(change_script(&[], &r), "");
    }

    #[test]
    fn every_loss_step_has_a_chain_and_unicast_loses_less() {
        let s = setup_script();
        for p in (10..100).step_by(10) {
            assert!(s.contains(&format!("chain loss{p} {{")), "{p}");
        }
        // 90 % of broadcasts, 0.9^8 = 43 % of unicasts.
        assert!(s.contains("numgen random mod 10000 < 4305 drop"), "{s}");
        assert!(s.contains("policy drop"));
    }
}
