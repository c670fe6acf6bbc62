//! The emulated radio's own ceiling: how many full-MTU data frames one
//! thread can push through it with the data plane's send path
//! (`RawLink::send`), while a second thread receives them with the data
//! plane's receive path (`RawLink::recv`). No TUN, no TCP, no routing: an
//! upper bound on what any single-threaded sender of one in-order flow can
//! forward over this link on this machine.

use crate::Error;
use common::batch::RecvBatch;
use common::counters::Counters;
use common::wire::{MessageType, DATA_OVERHEAD, DEFAULT_ETHERTYPE};
use common::NodeId;
use node_lib::link::{LinkScratch, RawLink};
use node_lib::mtu_frames::MtuFrames;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Frames per send call, as the data plane's default `max_batch`.
const BATCH: usize = 64;
/// IPv4 + TCP headers with the timestamp option, as iperf3's TCP uses them.
const TCP_IP_HEADERS: usize = 52;

/// One measurement.
#[derive(Debug, Clone, Copy)]
pub struct Ceiling {
    /// Frames per second handed to the link by the sender.
    pub sent_per_s: f64,
    /// Frames per second the receiving thread read.
    pub received_per_s: f64,
    /// Bytes after the Ethernet header of each frame (the link MTU).
    pub frame_payload: usize,
    /// TCP payload one such frame carries (one full TUN-MTU segment).
    pub tcp_payload: usize,
}

impl Ceiling {
    /// TCP payload per second the received frames could have carried.
    pub fn tcp_mbps(&self) -> f64 {
        self.received_per_s * self.tcp_payload as f64 * 8.0 / 1e6
    }
}

/// Sends full-MTU data frames from `tx_ns` to `rx_ns` over `ifname` (the
/// radio interface in both) for `dur`, batched (sendmmsg/recvmmsg of up to
/// 64 frames) or one frame per syscall.
pub fn measure(
    tx_ns: &str,
    rx_ns: &str,
    ifname: &str,
    batched: bool,
    dur: Duration,
) -> Result<Ceiling, Error> {
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let (ready_tx, ready_rx) = mpsc::channel::<Result<[u8; 6], Error>>();
    let rx_thread = {
        let (ns, ifname, stop, received) = (
            rx_ns.to_string(),
            ifname.to_string(),
            stop.clone(),
            received.clone(),
        );
        std::thread::spawn(move || receive(&ns, &ifname, batched, &stop, &received, ready_tx))
    };
    let dst = match ready_rx.recv_timeout(Duration::from_secs(5)) {
        Ok(Ok(mac)) => NodeId(mac),
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(Error::Timeout {
                what: "start of the receiver".into(),
                secs: 5,
            })
        }
    };
    let sent = send(tx_ns, ifname, dst, batched, dur);
    // Frames still in flight land within a moment; then stop the reader.
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    let _ = rx_thread.join();
    let (sent, frame_payload) = sent?;
    let secs = dur.as_secs_f64();
    let tun_mtu = frame_payload - DATA_OVERHEAD;
    Ok(Ceiling {
        sent_per_s: sent as f64 / secs,
        received_per_s: received.load(Ordering::Relaxed) as f64 / secs,
        frame_payload,
        tcp_payload: tun_mtu.saturating_sub(TCP_IP_HEADERS),
    })
}

fn receive(
    ns: &str,
    ifname: &str,
    batched: bool,
    stop: &AtomicBool,
    received: &AtomicU64,
    ready: mpsc::Sender<Result<[u8; 6], Error>>,
) {
    let opened = testbed::enter_netns(ns)
        .map_err(Error::from)
        .and_then(|()| {
            RawLink::open(ifname, DEFAULT_ETHERTYPE).map_err(Error::io(format!("{ns}/{ifname}")))
        });
    let link = match opened {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let mut batch = RecvBatch::new(BATCH, link.frame_capacity());
    let mut scratch = LinkScratch::new(BATCH);
    let counters = Counters::default();
    let _ = ready.send(Ok(link.mac()));
    use std::os::fd::AsRawFd;
    while !stop.load(Ordering::Relaxed) {
        match link.recv(&mut batch, BATCH, &mut scratch, batched, &counters) {
            Ok(0) => {
                let mut pfd = [libc::pollfd {
                    fd: link.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                }];
                let _ = node_lib::sys::poll(&mut pfd, 10);
            }
            Ok(n) => {
                received.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(_) => break,
        }
    }
}

/// Returns the frames sent and the frame payload size.
fn send(
    ns: &str,
    ifname: &str,
    dst: NodeId,
    batched: bool,
    dur: Duration,
) -> Result<(u64, usize), Error> {
    testbed::enter_netns(ns)?;
    let link =
        RawLink::open(ifname, DEFAULT_ETHERTYPE).map_err(Error::io(format!("{ns}/{ifname}")))?;
    let mut frames = MtuFrames::new(&link, dst, MessageType::DataUp, dst, BATCH);
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < dur {
        sent += frames.send(&link, batched) as u64;
    }
    Ok((sent, frames.frame_payload()))
}
