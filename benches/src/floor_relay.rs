//! The least a relay of this design has to do, as a yardstick for the
//! daemons: read the TUN (with offload), cut TCP super-packets into
//! link-MTU segments with their checksums, hand the frames to the radio's
//! packet socket; read frames from the socket, coalesce, write the TUN.
//! Small packets share frames (aggregation, as in the daemons: the TCP
//! ACKs of a bulk transfer are most of the frames on the way back).
//! Nothing else: no routing, no neighbours, no beacons, no backlog, no
//! control plane, one fixed peer. It uses the data plane's
//! own I/O pieces (`Tun`, `RawLink`, `SendBatch`), so the difference
//! between it and the daemons is the daemons' own logic, and what it
//! costs is what the I/O of this design costs on this machine: a bound
//! that no implementation of the design can beat here.

use common::action::{Action, Payload, Source};
use common::batch::{RecvBatch, SendBatch};
use common::counters::Counters;
use common::ip::IpPrefix;
use common::offload::{VnetHdr, GSO_ECN, GSO_TCPV4, GSO_TCPV6};
use common::wire::{Body, MessageType, Messages, DATA_OVERHEAD, ETH_HEADER_LEN};
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
    /// Frames sent to the link, frames received from it.
    moved: Arc<[AtomicU64; 2]>,
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
        let moved = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
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

    /// Frames sent to the link so far (one per packet or TSO segment).
    pub fn frames_sent(&self) -> u64 {
        self.moved[0].load(Ordering::Relaxed)
    }

    /// Frames received from the link so far.
    pub fn frames_received(&self) -> u64 {
        self.moved[1].load(Ordering::Relaxed)
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
pub fn start_pair(tb: &testbed::Testbed, spin: bool) -> Result<Vec<FloorRelay>, String> {
    let mac = |i: usize| -> Result<NodeId, String> {
        let m = &tb.nodes[i].mac;
        let b: Vec<u8> = m
            .split(':')
            .filter_map(|x| u8::from_str_radix(x, 16).ok())
            .collect();
        Ok(NodeId(b.try_into().map_err(|_| format!("bad MAC {m}"))?))
    };
    if tb.nodes.len() != 2 {
        return Err("the floor relays need a 1-hop testbed (two nodes)".into());
    }
    (0..2)
        .map(|i| {
            FloorRelay::start(FloorEnd {
                ns: tb.nodes[i].ns.clone(),
                radio: "radio0".into(),
                addr: format!("10.98.0.{}/24", i + 1)
                    .parse()
                    .map_err(|e| format!("{e:?}"))?,
                peer: mac(1 - i)?,
                batched: true,
                spin,
            })
        })
        .collect()
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

fn relay(tun: &Tun, link: &RawLink, end: &FloorEnd, stop: &AtomicBool, moved: &[AtomicU64; 2]) {
    let me = NodeId(link.mac());
    let counters = Counters::default();
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
        loop {
            let (mut sent, mut received) = (0, 0);
            // TUN to link: each packet (each TSO segment) one message;
            // small ones share frames.
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
                sent = link.send(
                    &send,
                    |p| tun_rx.range(p.slot as usize, p.offset as usize, p.len as usize),
                    &mut scratch,
                    end.batched,
                    &counters,
                );
            }
            // Link to TUN: the IP packet of every data message.
            let m = link
                .recv(&mut link_rx, BATCH, &mut scratch, end.batched, &counters)
                .unwrap_or(0);
            if m > 0 {
                to_tun.clear();
                for k in 0..m {
                    let frame = link_rx.get(k).get(ETH_HEADER_LEN..).unwrap_or_default();
                    for msg in Messages::new(frame).flatten() {
                        if let (Body::Data(d), Some(at)) = (msg.body, msg.payload_offset()) {
                            to_tun.push(Payload {
                                source: Source::Link,
                                slot: k as u16,
                                offset: (ETH_HEADER_LEN + at) as u16,
                                len: d.payload.len() as u16,
                            });
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
                    &counters,
                );
                received = m;
            }
            if n + m == 0 {
                break;
            }
            moved[0].fetch_add(sent as u64, Ordering::Relaxed);
            moved[1].fetch_add(received as u64, Ordering::Relaxed);
        }
    }
}
