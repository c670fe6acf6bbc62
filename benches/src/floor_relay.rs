//! The least a relay of this design has to do, as a yardstick for the
//! daemons: read the TUN (with offload), cut TCP super-packets into
//! link-MTU segments with their checksums, hand the frames to the radio's
//! packet socket; read frames from the socket, coalesce, write the TUN.
//! Nothing else: no routing, no neighbours, no beacons, no aggregation,
//! no backlog, no control plane, one fixed peer. It uses the data plane's
//! own I/O pieces (`Tun`, `RawLink`, `SendBatch`), so the difference
//! between it and the daemons is the daemons' own logic, and what it
//! costs is what the I/O of this design costs on this machine: a bound
//! that no implementation of the design can beat here.

use common::action::{Action, Payload};
use common::batch::{RecvBatch, SendBatch};
use common::counters::Counters;
use common::ip::IpPrefix;
use common::offload::{VnetHdr, GSO_ECN, GSO_TCPV4, GSO_TCPV6};
use common::wire::{MessageType, DATA_OVERHEAD, ETH_HEADER_LEN};
use common::NodeId;
use node_lib::link::{LinkScratch, RawLink};
use node_lib::tun::{Tun, TunWriteScratch};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

/// Its frames are not v2xd messages to anyone listening: a different
/// EtherType (IEEE 802 local experimental 2).
pub const FLOOR_ETHERTYPE: u16 = 0x88b6;
/// Packets per read or send batch, as the data plane's default `max_batch`.
const BATCH: usize = 64;
/// The TUN device it creates in its namespace.
pub const FLOOR_TUN: &str = "floor0";

/// One running relay (a thread in a node's namespace). Stops on drop.
pub struct FloorRelay {
    stop: Arc<AtomicBool>,
    moved: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

/// Where one relay runs and whom it talks to.
pub struct FloorEnd {
    /// Network namespace of the node.
    pub ns: String,
    /// Its radio interface.
    pub radio: String,
    /// Address (with prefix) of its TUN.
    pub addr: IpPrefix,
    /// MAC of the one peer every packet goes to.
    pub peer: NodeId,
    /// `sendmmsg`/`recvmmsg` of up to 64 frames, or one per syscall.
    pub batched: bool,
    /// Never sleep: poll without a timeout, so no wake-up is ever needed
    /// (a CPU per relay; for the idle round trip's floor).
    pub spin: bool,
}

impl FloorRelay {
    /// Starts the relay and waits until its TUN and socket are open.
    pub fn start(end: FloorEnd) -> Result<FloorRelay, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let moved = Arc::new(AtomicU64::new(0));
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = {
            let (stop, moved) = (stop.clone(), moved.clone());
            std::thread::spawn(move || match open(&end) {
                Ok((tun, link)) => {
                    let _ = ready_tx.send(Ok(()));
                    relay(&tun, &link, &end, &stop, &moved);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
        };
        match ready_rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(())) => Ok(FloorRelay {
                stop,
                moved,
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the floor relay did not start".into()),
        }
    }

    /// Packets moved so far: segments sent to the link plus packets
    /// received from it.
    pub fn moved(&self) -> u64 {
        self.moved.load(Ordering::Relaxed)
    }
}

impl Drop for FloorRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn open(end: &FloorEnd) -> Result<(Tun, RawLink), String> {
    testbed::enter_netns(&end.ns)?;
    let link = RawLink::open(&end.radio, FLOOR_ETHERTYPE)
        .map_err(|e| format!("{}/{}: {e}", end.ns, end.radio))?;
    // The daemons' TUN MTU: the same segments in the same frame sizes.
    let mtu = link.mtu() - DATA_OVERHEAD;
    let tun = Tun::create(FLOOR_TUN, mtu, &[end.addr], true)
        .map_err(|e| format!("{}/{FLOOR_TUN}: {e}", end.ns))?;
    Ok((tun, link))
}

fn relay(tun: &Tun, link: &RawLink, end: &FloorEnd, stop: &AtomicBool, moved: &AtomicU64) {
    let me = NodeId(link.mac());
    let counters = Counters::default();
    let mut tun_rx = RecvBatch::new(BATCH, tun.read_capacity());
    let mut meta = vec![VnetHdr::default(); BATCH];
    let mut link_rx = RecvBatch::new(BATCH, link.frame_capacity());
    let mut send = SendBatch::new(me, FLOOR_ETHERTYPE, link.mtu(), false, BATCH * 48);
    let mut scratch = LinkScratch::new(BATCH * 48);
    let mut tun_scratch = TunWriteScratch::default();
    let mut fds = [
        libc::pollfd {
            fd: tun.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: link.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    while !stop.load(Ordering::Relaxed) {
        let _ = node_lib::sys::poll(&mut fds, if end.spin { 0 } else { 50 });
        loop {
            let mut n_moved = 0;
            // TUN to link: each packet (each TSO segment) one frame.
            let n = tun
                .recv(&mut tun_rx, &mut meta, BATCH, end.batched, &counters)
                .unwrap_or(0);
            if n > 0 {
                send.clear();
                for (k, hdr) in meta.iter().enumerate().take(n) {
                    let packet = tun_rx.get(k);
                    let a = Action::data(
                        end.peer,
                        MessageType::DataUp,
                        1,
                        me,
                        end.peer,
                        Payload::tun(k as u16, packet.len() as u16),
                    );
                    let tcp = matches!(hdr.gso_type & !GSO_ECN, GSO_TCPV4 | GSO_TCPV6);
                    if tcp {
                        let _ = send.push_tcp_segments(&a, packet, hdr.gso_size, None);
                    } else if !hdr.is_gso() {
                        send.push_action(&a);
                    }
                }
                n_moved += link.send(
                    &send,
                    |p| tun_rx.range(p.slot as usize, p.offset as usize, p.len as usize),
                    &mut scratch,
                    end.batched,
                    &counters,
                );
            }
            // Link to TUN: one message per frame, its IP packet after the
            // data header.
            let m = link
                .recv(&mut link_rx, BATCH, &mut scratch, end.batched, &counters)
                .unwrap_or(0);
            if m > 0 {
                tun.send_all(
                    m,
                    |k| {
                        link_rx
                            .get(k)
                            .get(ETH_HEADER_LEN + DATA_OVERHEAD..)
                            .unwrap_or_default()
                    },
                    &mut tun_scratch,
                    &counters,
                );
                n_moved += m;
            }
            if n_moved == 0 {
                break;
            }
            moved.fetch_add(n_moved as u64, Ordering::Relaxed);
        }
    }
}
