//! What one process wake-up costs on this machine, measured with UDP round
//! trips timed by the same user-space client: answered by the kernel (a
//! datagram to a closed port comes back as ICMP port unreachable, raised in
//! softirq with no process woken) or by an echo thread (one wake-up more).
//! The difference is one wake-up with its two syscalls; under load, the
//! tail of the echo round trip is the scheduler's tail for ordinary threads
//! (or, with both threads under `SCHED_FIFO`, for realtime ones).

use crate::Error;
use std::io::ErrorKind;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Who answers the client's datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The kernel, with ICMP port unreachable (the port is closed).
    Kernel,
    /// A user-space echo thread.
    Echo,
}

/// An echo thread bound to `addr` in `ns`; stops when dropped.
pub struct EchoServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EchoServer {
    pub fn start(ns: &str, addr: &str) -> Result<EchoServer, Error> {
        EchoServer::start_with(ns, addr, false)
    }

    /// `realtime`: the echo thread runs under `SCHED_FIFO` (priority 2).
    pub fn start_with(ns: &str, addr: &str, realtime: bool) -> Result<EchoServer, Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (ns, addr, flag) = (ns.to_string(), addr.to_string(), stop.clone());
        let thread = std::thread::spawn(move || {
            let bound = testbed::enter_netns(&ns)
                .map_err(Error::from)
                .and_then(|()| {
                    if realtime {
                        set_fifo()?;
                    }
                    let s = UdpSocket::bind(&addr).map_err(Error::io(format!("bind {addr}")))?;
                    s.set_read_timeout(Some(Duration::from_millis(100)))
                        .map_err(Error::io("read timeout"))?;
                    Ok(s)
                });
            let s = match bound {
                Ok(s) => {
                    let _ = ready_tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let mut buf = [0u8; 64];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    let _ = s.send_to(&buf[..n], from);
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| Error::Timeout {
                what: "start of the echo server".into(),
                secs: 5,
            })??;
        Ok(EchoServer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Lets the kernel of `ns` answer every datagram to a closed port: ICMP
/// errors are otherwise rate-limited to a few per second per peer.
pub fn allow_icmp_errors(ns: &str) {
    testbed::ns_output(ns, &["sysctl", "-qw", "net.ipv4.icmp_ratelimit=0"]);
    testbed::ns_output(ns, &["sysctl", "-qw", "net.ipv4.icmp_msgs_per_sec=100000"]);
}

/// Realtime priority of the echo's threads: above the daemons' data
/// planes (`realtime_priority = 1` in the driver), so what it measures is
/// the machine's tail, not queueing behind a data plane.
const ECHO_PRIORITY: u8 = 2;

fn set_fifo() -> Result<(), Error> {
    node_lib::sys::set_realtime(ECHO_PRIORITY).map_err(Error::io("SCHED_FIFO"))
}

/// `count` round trips from `ns` to `addr`, `interval` apart, in µs (lost
/// ones left out). With `Answer::Kernel` the port at `addr` must be closed.
pub fn round_trips(
    ns: &str,
    addr: &str,
    answer: Answer,
    count: usize,
    interval: Duration,
) -> Result<Vec<f64>, Error> {
    round_trips_with(ns, addr, answer, count, interval, false)
}

/// As [`round_trips`]; `realtime`: the client thread runs under
/// `SCHED_FIFO` (priority 2).
pub fn round_trips_with(
    ns: &str,
    addr: &str,
    answer: Answer,
    count: usize,
    interval: Duration,
    realtime: bool,
) -> Result<Vec<f64>, Error> {
    let (ns, addr) = (ns.to_string(), addr.to_string());
    std::thread::spawn(move || {
        testbed::enter_netns(&ns)?;
        if realtime {
            set_fifo()?;
        }
        let s = UdpSocket::bind("0.0.0.0:0").map_err(Error::io("bind 0.0.0.0:0"))?;
        s.connect(&addr)
            .map_err(Error::io(format!("connect {addr}")))?;
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(Error::io("read timeout"))?;
        let mut v = Vec::with_capacity(count);
        let mut buf = [0u8; 64];
        for i in 0..count as u32 {
            let t = Instant::now();
            if s.send(&i.to_be_bytes()).is_err() {
                continue;
            }
            let answered = match s.recv(&mut buf) {
                Ok(_) => answer == Answer::Echo,
                Err(e) => answer == Answer::Kernel && e.kind() == ErrorKind::ConnectionRefused,
            };
            if answered {
                v.push(t.elapsed().as_secs_f64() * 1e6);
            }
            std::thread::sleep(interval);
        }
        Ok(v)
    })
    .join()
    .map_err(|_| Error::Panicked("round-trip thread"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_echo_and_refusal_are_both_answered() {
        let Some(scratch) = testbed::ScratchNetns::new("v2xwake") else {
            return;
        };
        let ns = scratch.name();
        allow_icmp_errors(ns);
        let echo = EchoServer::start(ns, "127.0.0.1:47998").expect("echo");
        let e = round_trips(ns, "127.0.0.1:47998", Answer::Echo, 20, Duration::ZERO)
            .expect("echo trips");
        drop(echo);
        let k = round_trips(ns, "127.0.0.1:47997", Answer::Kernel, 20, Duration::ZERO)
            .expect("kernel trips");
        let rt = EchoServer::start_with(ns, "127.0.0.1:47996", true).expect("realtime echo");
        let r = round_trips_with(
            ns,
            "127.0.0.1:47996",
            Answer::Echo,
            20,
            Duration::ZERO,
            true,
        )
        .expect("realtime echo trips");
        drop(rt);
        assert_eq!(r.len(), 20, "every realtime echo answered");
        assert_eq!(e.len(), 20, "every echo answered");
        assert_eq!(k.len(), 20, "every datagram refused by the kernel");
        assert!(e.iter().chain(&k).all(|&us| us > 0.0 && us < 200_000.0));
    }
}
