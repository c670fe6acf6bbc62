//! A peer's network and processes: the two sides of the link, the
//! tunnel processes started in them (stopped when it is dropped) and the
//! small command helpers the setups share.

use crate::net::Net;
use benches::Error;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testbed::ns_output;

/// One side of the link: its node, radio and tunnel addresses.
pub(super) struct Side {
    pub(super) node: usize,
    pub(super) radio: &'static str,
    pub(super) tunnel: &'static str,
    /// A letter in its names: s(erver) or c(lient).
    pub(super) tag: char,
}

pub(super) const SERVER: Side = Side {
    node: 0,
    radio: "10.99.0.1",
    tunnel: "10.77.0.1",
    tag: 's',
};
pub(super) const CLIENT: Side = Side {
    node: 1,
    radio: "10.99.0.2",
    tunnel: "10.77.0.2",
    tag: 'c',
};

/// A peer's network: the namespaces and the tunnel processes in them.
/// Dropping it stops the processes first (also while unwinding from a
/// panic), then the testbed removes the namespaces.
pub(super) struct Tunnel {
    pub(super) procs: Vec<Child>,
    /// Logs of the processes, in the testbed's directory.
    pub(super) logs: Vec<PathBuf>,
    /// Control sockets the processes leave outside the namespaces.
    pub(super) sockets: Vec<PathBuf>,
    /// The two tunnel interfaces (server, client).
    pub(super) ifaces: Vec<String>,
    pub(super) net: Net,
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        for c in &mut self.procs {
            // A child already reaped may have lent its pid to another.
            if matches!(c.try_wait(), Ok(None)) {
                // SAFETY: a signal to our own child's pid, not yet reaped.
                unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            }
        }
        // Time for a clean exit (wireguard-go removes its socket), then
        // SIGKILL whatever is left.
        let deadline = Instant::now() + Duration::from_secs(3);
        for c in &mut self.procs {
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        for s in &self.sockets {
            let _ = std::fs::remove_file(s);
        }
    }
}

impl Tunnel {
    pub(super) fn ns(&self, side: &Side) -> String {
        self.net.tb.nodes[side.node].ns.clone()
    }

    /// An interface name unique to this testbed (control sockets of the
    /// WireGuard implementations live in /var/run, shared by namespaces).
    pub(super) fn iface(&self, prefix: &str, side: &Side) -> String {
        format!("{prefix}{}{}", self.net.tb.tag, side.tag)
    }

    pub(super) fn file(&self, name: &str) -> PathBuf {
        self.net.tb.dir.join(name)
    }

    /// Starts `args` in `side`'s namespace, output to a log of its own.
    pub(super) fn spawn(&mut self, side: &Side, args: &[&str]) -> Result<(), Error> {
        let log = self.file(&format!("peer{}.log", self.procs.len()));
        let f = std::fs::File::create(&log).map_err(Error::io(log.display().to_string()))?;
        let dup = f
            .try_clone()
            .map_err(Error::io(log.display().to_string()))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(side)])
            .args(args)
            .stdin(Stdio::null())
            .stdout(dup)
            .stderr(f)
            .spawn()
            .map_err(|e| Error::start("ip", e))?;
        self.procs.push(child);
        self.logs.push(log);
        Ok(())
    }

    /// The last lines of every process's log.
    pub(super) fn log_tail(&self) -> String {
        let mut s = String::new();
        for (i, l) in self.logs.iter().enumerate() {
            let text = std::fs::read_to_string(l).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(8)..].join("\n    ");
            s.push_str(&format!("\n  process {i}:\n    {tail}"));
        }
        s
    }

    /// Waits until `check` holds, failing early if a process ended.
    pub(super) fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        check: impl Fn(&Tunnel) -> bool,
    ) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if check(self) {
                return Ok(());
            }
            if let Some(i) = self
                .procs
                .iter_mut()
                .position(|c| matches!(c.try_wait(), Ok(Some(_))))
            {
                return Err(Error::Exited {
                    process: i,
                    what: what.into(),
                });
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    what: what.into(),
                    secs: timeout.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for `iface` in `side`'s namespace, then gives it the side's
    /// tunnel address and the peer's MTU.
    pub(super) fn address(&mut self, side: &Side, iface: &str, mtu: u32) -> Result<(), Error> {
        let ns = self.ns(side);
        self.wait_for(
            &format!("interface {iface}"),
            Duration::from_secs(10),
            |_| ns_output(&ns, &["ip", "link", "show", iface]).status == 0,
        )?;
        let addr = format!("{}/24", side.tunnel);
        run_ok(&ns, &["ip", "addr", "add", &addr, "dev", iface])?;
        run_ok(
            &ns,
            &["ip", "link", "set", iface, "mtu", &mtu.to_string(), "up"],
        )?;
        self.ifaces.push(iface.to_string());
        Ok(())
    }
}

/// Runs a command in `ns`, its stderr as the error if it fails.
pub(super) fn run_ok(ns: &str, args: &[&str]) -> Result<String, Error> {
    let out = ns_output(ns, args);
    if out.status != 0 {
        return Err(Error::Command {
            cmd: args.join(" "),
            stderr: out.stderr.trim().into(),
        });
    }
    Ok(out.stdout)
}

/// Runs a command on the host with `input` on its stdin: its stdout.
pub(super) fn piped(args: &[&str], input: &str) -> Result<String, Error> {
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::start(args[0], e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(Error::io(format!("the input of {}", args[0])))?;
    }
    let out = child
        .wait_with_output()
        .map_err(Error::io(format!("the output of {}", args[0])))?;
    if !out.status.success() {
        return Err(Error::Command {
            cmd: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().into(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

pub(super) fn write(path: &PathBuf, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(Error::io(path.display().to_string()))
}

pub(super) fn path_str(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}
