//! The least a relay of this design has to do, as a yardstick for the
//! daemons: read the TUN (with offload), cut TCP super-packets into
//! link-MTU segments with their checksums, hand the frames to the radio's
//! packet socket; read frames from the socket, coalesce, write the TUN.
//! Small packets share frames (aggregation, as in the daemons: the TCP
//! ACKs of a bulk transfer are most of the frames on the way back).
//! Nothing else: no routing, no neighbours, no beacons, no backlog, no
//! control plane, one fixed peer. It uses the data plane's own I/O pieces
//! (`Tun`, `RawLink`, `SendBatch`), so the difference between it and the
//! daemons is the daemons' own logic, and what it costs is what the I/O
//! of this design costs on this machine.

use crate::Error;
use common::action::{Action, Payload};
use common::batch::{RecvBatch, SendBatch};
use common::counters::{Counters, DropReason};
use common::ip::IpPrefix;
use common::offload::VnetHdr;
use common::wire::{Body, MessageType, Messages, DATA_OVERHEAD, ETH_HEADER_LEN};
use common::NodeId;
use node_lib::link::{LinkScratch, RawLink};
use node_lib::tun::{Tun, TunWriteScratch};
use protocol::inbound::{link_payload, tun_payload};
use protocol::plan::push_super_packet;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// The data plane's counters, kept by the relay's I/O (frames, drops,
    /// TSO).
    counters: Arc<Counters>,
    /// Whether its TUN runs with offload (it asks for it).
    offload: bool,
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
    pub fn start(end: FloorEnd) -> Result<FloorRelay, Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = {
            let (stop, counters) = (stop.clone(), counters.clone());
            std::thread::spawn(move || match open(&end) {
                Ok((tun, link)) => {
                    let _ = ready_tx.send(Ok(tun.offload()));
                    relay(&tun, &link, &end, &stop, &counters);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
        };
        let ready = ready_rx
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| {
                Err(Error::Timeout {
                    what: "start of the floor relay".into(),
                    secs: 5,
                })
            });
        match ready {
            Ok(offload) => Ok(FloorRelay {
                stop,
                counters,
                offload,
                thread: Some(thread),
            }),
            Err(e) => {
                // Late or not: never leave it running detached.
                stop.store(true, Ordering::Relaxed);
                let _ = thread.join();
                Err(e)
            }
        }
    }

    /// Whether its TUN runs with offload (TSO reads, coalesced writes).
    pub fn offload(&self) -> bool {
        self.offload
    }

    /// The data plane's counters of this relay's I/O.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Packets it dropped, for any reason.
    pub fn drops(&self) -> u64 {
        DropReason::ALL
            .iter()
            .map(|&r| self.counters.drops(r))
            .sum()
    }

    /// Frames sent to the link so far (a full TSO segment is one frame;
    /// small packets may share one).
    pub fn frames_sent(&self) -> u64 {
        Counters::get(&self.counters.link_tx_frames)
    }

    /// Frames received from the link so far.
    pub fn frames_received(&self) -> u64 {
        Counters::get(&self.counters.link_rx_frames)
    }

    /// Packets moved so far, both ways.
    pub fn moved(&self) -> u64 {
        self.frames_sent() + self.frames_received()
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

/// The two relays of a 1-hop testbed (node 0 the server side at
/// 10.98.0.1, node 1 at 10.98.0.2, both /24 on their TUN), each sending
/// everything to the other over `radio0`.
pub fn start_pair(tb: &testbed::Testbed, spin: bool) -> Result<Vec<FloorRelay>, Error> {
    if tb.nodes.len() != 2 {
        return Err(Error::Setup(
            "the floor relays need a 1-hop testbed (two nodes)".into(),
        ));
    }
    let mac = |i: usize| -> Result<NodeId, Error> {
        let m = &tb.nodes[i].mac;
        m.parse().map_err(|_| Error::Setup(format!("bad MAC {m}")))
    };
    (0..2)
        .map(|i| {
            FloorRelay::start(FloorEnd {
                ns: tb.nodes[i].ns.clone(),
                radio: "radio0".into(),
                addr: format!("10.98.0.{}/24", i + 1)
                    .parse()
                    .map_err(|e| Error::Setup(format!("{e:?}")))?,
                peer: mac(1 - i)?,
                batched: true,
                spin,
            })
        })
        .collect()
}

fn open(end: &FloorEnd) -> Result<(Tun, RawLink), Error> {
    testbed::enter_netns(&end.ns)?;
    let link = RawLink::open(&end.radio, FLOOR_ETHERTYPE)
        .map_err(Error::io(format!("{}/{}", end.ns, end.radio)))?;
    // The daemons' TUN MTU: the same segments in the same frame sizes.
    let mtu = link.mtu() - DATA_OVERHEAD;
    let tun = Tun::create(FLOOR_TUN, mtu, &[end.addr], true)
        .map_err(Error::io(format!("{}/{FLOOR_TUN}", end.ns)))?;
    Ok((tun, link))
}

fn relay(tun: &Tun, link: &RawLink, end: &FloorEnd, stop: &AtomicBool, counters: &Counters) {
    let me = NodeId(link.mac());
    let mut tun_rx = RecvBatch::new(BATCH, tun.read_capacity());
    let mut meta = vec![VnetHdr::default(); BATCH];
    let mut link_rx = RecvBatch::new(BATCH, link.frame_capacity());
    let mut send = SendBatch::new(me, FLOOR_ETHERTYPE, link.mtu(), true, BATCH * 48);
    let mut to_tun: Vec<Payload> = Vec::with_capacity(BATCH * 32);
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
        if fds.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
            return;
        }
        // Until both sides are empty (or we are told to stop).
        while !stop.load(Ordering::Relaxed) {
            // TUN to link: each packet (each TSO segment) one message;
            // small ones share frames.
            let n = tun
                .recv(&mut tun_rx, &mut meta, BATCH, end.batched, counters)
                .unwrap_or(0);
            if n > 0 {
                send.clear();
                for (k, hdr) in meta.iter().enumerate().take(n) {
                    let packet = tun_rx.get(k);
                    let Ok(len) = u16::try_from(packet.len()) else {
                        counters.count_drop(DropReason::TooBig);
                        continue;
                    };
                    let a = Action::data(
                        end.peer,
                        MessageType::DataUp,
                        1,
                        me,
                        end.peer,
                        tun_payload(k as u16, len as usize),
                    );
                    if hdr.is_gso() {
                        push_super_packet(&mut send, &a, Some(packet), *hdr, counters, None);
                    } else if !send.push_action(&a) {
                        counters.count_drop(DropReason::TooBig);
                    }
                }
                link.send(
                    &send,
                    |p| tun_rx.range(p.slot as usize, p.offset as usize, p.len as usize),
                    &mut scratch,
                    (end.batched, common::priority::Lane::Priority),
                    counters,
                );
            }
            // Link to TUN: the IP packet of every data message.
            let m = link
                .recv(&mut link_rx, BATCH, &mut scratch, end.batched, counters)
                .unwrap_or(0);
            if m > 0 {
                to_tun.clear();
                for k in 0..m {
                    let frame = link_rx.get(k).get(ETH_HEADER_LEN..).unwrap_or_default();
                    for msg in Messages::new(frame) {
                        match msg {
                            Ok(msg) => {
                                if let Body::Data(d) = msg.body {
                                    to_tun.push(link_payload(k as u16, &msg, d.payload.len()));
                                }
                            }
                            Err(_) => {
                                counters.count_drop(DropReason::Malformed);
                                break;
                            }
                        }
                    }
                }
                tun.send_all(
                    to_tun.len(),
                    |i| {
                        let p = &to_tun[i];
                        link_rx
                            .range(p.slot as usize, p.offset as usize, p.len as usize)
                            .unwrap_or_default()
                    },
                    &mut tun_scratch,
                    counters,
                );
                Counters::inc(&counters.link_rx_frames, m as u64);
            }
            if n + m == 0 {
                break;
            }
        }
    }
}
