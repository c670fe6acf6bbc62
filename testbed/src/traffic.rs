//! Traffic through the testbed: ping, TCP and UDP with real sockets and
//! tools, processes spawned in a node's namespace, and reading their
//! output.

use super::*;

impl Testbed {
    /// Runs ping from node `from` to `addr`; returns the parsed result.
    pub fn ping(&self, from: usize, addr: &str, count: u32, interval: &str) -> PingResult {
        let c = count.to_string();
        let out = ns_output(
            &self.nodes[from].ns,
            &[
                "ping", "-n", "-q", "-c", &c, "-i", interval, "-W", "1", addr,
            ],
        );
        PingResult::parse(&out.stdout)
    }

    /// Starts a background process in node `i`'s namespace, killed on drop.
    /// Its output goes to a file (a pipe could fill up and stall it).
    pub fn spawn_in(&mut self, i: usize, args: &[&str]) -> usize {
        let ns = self.nodes[i].ns.clone();
        self.spawn_in_ns(&ns, args)
    }

    /// [`Testbed::spawn_in`] in any namespace (a core or server beside the
    /// nodes), killed on drop all the same.
    pub fn spawn_in_ns(&mut self, ns: &str, args: &[&str]) -> usize {
        let h = self.extra.len();
        let path = self.dir.join(format!("spawn{h}.out"));
        let f = std::fs::File::create(&path).expect("output file");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("dup"))
            .stderr(f);
        if self.own_process_groups {
            own_process_group(&mut cmd);
        }
        self.extra.push(cmd.spawn().expect("spawn"));
        h
    }

    /// Whether background process `h` has ended; its output if so.
    pub fn spawned_output(&mut self, h: usize) -> Option<String> {
        match self.extra[h].try_wait() {
            Ok(Some(_)) => std::fs::read_to_string(self.dir.join(format!("spawn{h}.out"))).ok(),
            _ => None,
        }
    }

    /// Waits for a background process and returns its output, `None` (and
    /// kills it) on timeout.
    pub fn wait_spawned(&mut self, h: usize, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let child = &mut self.extra[h];
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return std::fs::read_to_string(self.dir.join(format!("spawn{h}.out"))).ok();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `bytes` over one TCP connection from node `from` to node `to`
    /// (plain sockets inside the namespaces); returns the bytes the
    /// receiver counted up to EOF.
    pub fn tcp_transfer(&self, from: usize, to: usize, port: u16, bytes: usize) -> Result<usize> {
        tcp_transfer_between(
            &self.nodes[from].ns,
            &self.nodes[to].ns,
            &self.nodes[to].addr4,
            port,
            bytes,
            Duration::from_secs(10),
        )
    }

    /// Listens on UDP `port` (all addresses) in node `i`'s namespace for
    /// `dur`; returns the datagrams received.
    pub fn udp_listen(
        &self,
        i: usize,
        port: u16,
        dur: Duration,
    ) -> std::thread::JoinHandle<Result<Vec<Vec<u8>>>> {
        let ns = self.nodes[i].ns.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let h = std::thread::spawn(move || {
            cmd::enter_netns(&ns)?;
            let s = std::net::UdpSocket::bind(("0.0.0.0", port))
                .map_err(Error::io(format!("bind UDP port {port}")))?;
            let _ = tx.send(());
            let end = Instant::now() + dur;
            let mut got = Vec::new();
            let mut buf = [0u8; 2048];
            while let Some(left) = end.checked_duration_since(Instant::now()) {
                s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
                    .ok();
                if let Ok((n, _)) = s.recv_from(&mut buf) {
                    got.push(buf[..n].to_vec());
                }
            }
            Ok(got)
        });
        let _ = rx.recv_timeout(Duration::from_secs(5));
        h
    }

    /// Sends each payload as a UDP datagram from node `i` to `dst:port`
    /// (broadcast allowed).
    pub fn udp_send(&self, i: usize, dst: &str, port: u16, payloads: &[Vec<u8>]) -> Result<()> {
        self.udp_send_paced(i, dst, port, payloads, Duration::from_millis(5))
    }

    /// As [`Testbed::udp_send`], with `gap` between datagrams (zero: a burst).
    pub fn udp_send_paced(
        &self,
        i: usize,
        dst: &str,
        port: u16,
        payloads: &[Vec<u8>],
        gap: Duration,
    ) -> Result<()> {
        let ns = self.nodes[i].ns.clone();
        let dst = format!("{dst}:{port}");
        let payloads = payloads.to_vec();
        std::thread::spawn(move || {
            cmd::enter_netns(&ns)?;
            let s = std::net::UdpSocket::bind("0.0.0.0:0").map_err(Error::io("bind UDP"))?;
            s.set_broadcast(true).map_err(Error::io("SO_BROADCAST"))?;
            for p in payloads {
                s.send_to(&p, &dst)
                    .map_err(Error::io(format!("send to {dst}")))?;
                if !gap.is_zero() {
                    std::thread::sleep(gap);
                }
            }
            Ok(())
        })
        .join()
        .map_err(|_| Error::Panicked("UDP sender"))?
    }
}

/// Sends `bytes` over one TCP connection from namespace `from_ns` to
/// `addr:port` in `to_ns` (plain sockets); returns the bytes the receiver
/// counted up to EOF. Gives up after `stall` without progress (or without
/// a connection) on either side, so it never hangs.
pub fn tcp_transfer_between(
    from_ns: &str,
    to_ns: &str,
    addr: &str,
    port: u16,
    bytes: usize,
    stall: Duration,
) -> Result<usize> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = format!("{addr}:{port}")
        .parse()
        .map_err(|e| Error::Invalid(format!("{addr}:{port}: {e}")))?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let to_ns = to_ns.to_string();
    let server = std::thread::spawn(move || -> Result<usize> {
        cmd::enter_netns(&to_ns)?;
        let l = std::net::TcpListener::bind(addr).map_err(Error::io(format!("bind {addr}")))?;
        let _ = ready_tx.send(());
        l.set_nonblocking(true).map_err(Error::io("O_NONBLOCK"))?;
        let deadline = Instant::now() + stall;
        let mut s = loop {
            match l.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return Err(Error::Stalled(format!("no connection to {addr}")));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(Error::io(format!("accept on {addr}"))(e)),
            }
        };
        s.set_nonblocking(false).map_err(Error::io("O_NONBLOCK"))?;
        s.set_read_timeout(Some(stall)).ok();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        loop {
            match s.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => total += n,
                Err(e) => return Err(Error::io(format!("receive after {total} bytes"))(e)),
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .map_err(|_| Error::Stalled("the TCP receiver did not start".into()))?;
    let from_ns = from_ns.to_string();
    let client = std::thread::spawn(move || -> Result<()> {
        cmd::enter_netns(&from_ns)?;
        let mut s = std::net::TcpStream::connect_timeout(&addr, stall)
            .map_err(Error::io(format!("connect {addr}")))?;
        s.set_write_timeout(Some(stall)).ok();
        let chunk = vec![0x5au8; 64 * 1024];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            s.write_all(&chunk[..n])
                .map_err(Error::io(format!("send after {} bytes", bytes - left)))?;
            left -= n;
        }
        s.shutdown(std::net::Shutdown::Write)
            .map_err(Error::io("shutdown"))
    });
    let c = client.join().map_err(|_| Error::Panicked("TCP sender"))?;
    let s = server.join().map_err(|_| Error::Panicked("TCP receiver"))?;
    c?;
    s
}

/// Times (seconds, from `ping -D`) of the replies of a ping run.
pub fn reply_times(ping_output: &str) -> Vec<f64> {
    ping_output
        .lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
        .collect()
}

/// Longest silence between consecutive replies inside `[from, to]`
/// (seconds since the epoch, as printed by `ping -D`).
pub fn longest_gap(times: &[f64], from: f64, to: f64) -> f64 {
    let inside: Vec<f64> = times
        .iter()
        .copied()
        .filter(|t| *t >= from && *t <= to)
        .collect();
    inside.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
}

/// Seconds since the Unix epoch of an ISO 8601 UTC time as the daemons'
/// logs and `ip -ts monitor` print it (`2026-12-02T08:07:44.523993`, an
/// optional `Z`); `None` if it is not one.
pub fn iso_secs(s: &str) -> Option<f64> {
    let s = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('Z');
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, dd) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':');
    let (h, mi) = (
        t.next()?.parse::<f64>().ok()?,
        t.next()?.parse::<f64>().ok()?,
    );
    let sec = t.next()?.parse::<f64>().ok()?;
    // Days from the civil date (proleptic Gregorian), 1970-01-01 = 0.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + h * 3600.0 + mi * 60.0 + sec)
}

/// Seconds since the epoch, comparable with `ping -D` timestamps.
pub fn epoch_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Summary of a `ping -q` run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PingResult {
    pub transmitted: u32,
    pub received: u32,
    pub rtt_avg_ms: Option<f64>,
}

impl PingResult {
    pub fn parse(out: &str) -> PingResult {
        let mut r = PingResult::default();
        for line in out.lines() {
            if line.contains("packets transmitted") {
                let nums: Vec<u32> = line
                    .split(|c: char| !c.is_ascii_digit())
                    .filter_map(|s| s.parse().ok())
                    .collect();
                if nums.len() >= 2 {
                    r.transmitted = nums[0];
                    r.received = nums[1];
                }
            }
            if let Some(rest) = line.strip_prefix("rtt min/avg/max/mdev = ") {
                r.rtt_avg_ms = rest.split('/').nth(1).and_then(|s| s.parse().ok());
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_iso_times() {
        assert_eq!(iso_secs("1970-01-01T00:00:01Z"), Some(1.0));
        let t = iso_secs("[2026-12-02T08:07:44.5]").expect("parses");
        assert!((t - 1_796_198_864.5).abs() < 1e-6, "{t}");
        assert_eq!(iso_secs("INFO"), None);
    }

    #[test]
    fn finds_the_longest_gap() {
        let out = "[100.000] 64 bytes from x\n[100.010] 64 bytes from x\n[100.400] 64 bytes from x\nno answer yet\n[100.410] 64 bytes from x\n";
        let t = reply_times(out);
        assert_eq!(t.len(), 4);
        assert!((longest_gap(&t, 100.0, 101.0) - 0.39).abs() < 1e-9);
        assert_eq!(longest_gap(&t, 100.405, 101.0), 0.0);
    }

    #[test]
    fn parses_ping_summary() {
        let out = "--- 10.0.0.1 ping statistics ---\n5 packets transmitted, 4 received, 20% packet loss, time 4005ms\nrtt min/avg/max/mdev = 0.041/0.052/0.071/0.010 ms\n";
        let r = PingResult::parse(out);
        assert_eq!(r.transmitted, 5);
        assert_eq!(r.received, 4);
        assert_eq!(r.rtt_avg_ms, Some(0.052));
    }
}
