//! After warm-up, forwarding allocates nothing: the role state machines,
//! frame parsing, the send-batch build (with aggregation) and, as root, the
//! real link send/receive on a veth pair. Counted by a global allocator.

use common::action::{Action, Payload, Source};
use common::batch::{RecvBatch, SendBatch};
use common::counters::Counters;
use common::wire::DEFAULT_ETHERTYPE;
use protocol::role::Role;
use sim::{addr, ipv4_packet, Sim, MTU};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

struct Counting;

thread_local! {
    // Per thread, so tests running in parallel do not count each other.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn note_alloc() {
    let _ = ARMED.try_with(|a| {
        if a.get() {
            let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: delegates every call to the system allocator unchanged; only
// counts allocations while armed.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note_alloc();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count<T>(f: impl FnOnce() -> T) -> (T, u64) {
    ALLOCS.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (r, ALLOCS.with(|c| c.get()))
}

/// Serialises `batch`'s frames into `frames`, payloads from `payload`.
fn materialise<'a>(
    batch: &SendBatch,
    frames: &mut [Vec<u8>],
    payload: impl Fn(&Payload) -> &'a [u8],
) -> usize {
    let n = batch.frames().len();
    for (f, bytes) in frames.iter_mut().enumerate().take(n) {
        bytes.clear();
        let fr = &batch.frames()[f];
        for seg in &batch.segments()[fr.segments.clone()] {
            match seg {
                common::batch::Segment::Header { offset, len } => {
                    bytes.extend_from_slice(batch.header_bytes(*offset, *len))
                }
                common::batch::Segment::Payload(p) => bytes.extend_from_slice(payload(p)),
            }
        }
    }
    n
}

/// `n` TUN packets at the far OBU of a 2-hop chain go up through the relay
/// to the RSU, as frames really built (aggregated) and parsed at each hop.
struct Path {
    s: Sim,
    out: Vec<Action>,
    far_batch: SendBatch,
    relay_batch: SendBatch,
    far_frames: Vec<Vec<u8>>,
    relay_frames: Vec<Vec<u8>>,
    packets: Vec<Vec<u8>>,
}

impl Path {
    fn new(n: usize) -> Path {
        let mut s = Sim::new(Default::default());
        let r = s.add_rsu();
        let a = s.add_obu();
        let b = s.add_obu();
        s.link(r, a);
        s.link(a, b);
        s.run_for(Duration::from_secs(1));
        assert!(s.upstream(b).is_some());
        let packets = (0..n)
            .map(|i| ipv4_packet(addr(b), "192.0.2.1".parse().unwrap(), i as u8, 64))
            .collect();
        Path {
            far_batch: SendBatch::new(s.nodes[b].mac, DEFAULT_ETHERTYPE, MTU, true, 2 * n),
            relay_batch: SendBatch::new(s.nodes[a].mac, DEFAULT_ETHERTYPE, MTU, true, 2 * n),
            out: Vec::with_capacity(4 * n),
            far_frames: (0..2 * n).map(|_| Vec::with_capacity(MTU + 14)).collect(),
            relay_frames: (0..2 * n).map(|_| Vec::with_capacity(MTU + 14)).collect(),
            packets,
            s,
        }
    }

    /// Returns how many packets reached the RSU's TUN (DeliverTun actions).
    fn run(&mut self) -> usize {
        let now = self.s.now;
        let (r, a, b) = (0, 1, 2);
        let Path {
            s,
            out,
            far_batch,
            relay_batch,
            far_frames,
            relay_frames,
            packets,
        } = self;
        out.clear();
        for (i, p) in packets.iter().enumerate() {
            if let sim::Machine::Obu(o) = &mut s.nodes[b].machine {
                o.on_tun(now, i as u16, p, out);
            }
        }
        far_batch.clear();
        for act in out.iter() {
            far_batch.push_action(act);
        }
        let nf = materialise(far_batch, far_frames, |p| {
            &packets[p.slot as usize][..p.len as usize]
        });
        assert!(nf < packets.len(), "small messages were aggregated");
        out.clear();
        for (f, frame) in far_frames.iter_mut().enumerate().take(nf) {
            if let sim::Machine::Obu(o) = &mut s.nodes[a].machine {
                o.on_frame(now, f as u16, frame, out);
            }
        }
        relay_batch.clear();
        for act in out.iter() {
            relay_batch.push_action(act);
        }
        let nr = materialise(relay_batch, relay_frames, |p| {
            &far_frames[p.slot as usize][p.offset as usize..(p.offset + p.len) as usize]
        });
        out.clear();
        for (f, frame) in relay_frames.iter_mut().enumerate().take(nr) {
            if let sim::Machine::Rsu(rsu) = &mut s.nodes[r].machine {
                rsu.on_frame(now, f as u16, frame, out);
            }
        }
        out.iter()
            .filter(|x| matches!(x, Action::DeliverTun { .. }))
            .count()
    }
}

#[test]
fn forwarding_allocates_nothing_after_warm_up() {
    let n = 64;
    let mut p = Path::new(n);
    for _ in 0..3 {
        assert_eq!(p.run(), n);
    }
    let (delivered, allocs) = count(|| (0..100).map(|_| p.run()).sum::<usize>());
    assert_eq!(delivered, 100 * n);
    assert_eq!(
        allocs,
        0,
        "allocations while forwarding {} packets over two hops",
        100 * n
    );
}

/// The TUN backlog (small packets ahead of bulk, bulk in bounded turns)
/// with a mix of bulk and pings: nothing allocated per packet.
#[test]
fn tun_backlog_allocates_nothing_after_warm_up() {
    use common::offload::VnetHdr;
    use common::wire::MessageType;
    use datapath::tun_backlog::TunBacklog;
    let bulk = ipv4_packet(addr(1), addr(2), 1, 1_380);
    let ping = ipv4_packet(addr(1), addr(3), 2, 64);
    let mut b = TunBacklog::new(64, 2048, 8 * 1_400);
    let mut actions: Vec<Action> = Vec::with_capacity(8);
    let mut round = |b: &mut TunBacklog| -> usize {
        let mut sent = 0;
        b.clear_fresh();
        for k in 0..48 {
            let p = if k % 8 == 7 { &ping } else { &bulk };
            assert!(b.push_packet(p, VnetHdr::default()));
        }
        for k in 0..b.fresh().len() {
            let slot = b.fresh()[k];
            let (hop, me) = (
                common::NodeId([2, 0, 0, 0, 0, 1]),
                common::NodeId([2, 0, 0, 0, 0, 2]),
            );
            let payload = Payload::tun(slot, b.packet(slot).len() as u16);
            actions.push(Action::data(hop, MessageType::DataUp, 8, me, hop, payload));
            b.file(slot, &mut actions);
        }
        b.clear_fresh();
        while b.has_bulk() || sent == 0 {
            b.take_bulk(usize::MAX);
            sent += b.to_send().0.len() + b.to_send_bulk().0.len();
            b.sent();
        }
        sent
    };
    for _ in 0..3 {
        assert_eq!(round(&mut b), 48);
    }
    let (sent, allocs) = count(|| (0..100).map(|_| round(&mut b)).sum::<usize>());
    assert_eq!(sent, 100 * 48);
    assert_eq!(allocs, 0, "allocations while queueing {sent} packets");
    assert_eq!(b.free_slots(), 64);
}

#[test]
fn real_link_send_and_receive_allocate_nothing() {
    let Some(scratch) = testbed::ScratchNetns::with_veth("v2xnoalloc", "na", "nb") else {
        return;
    };
    let ns = scratch.name().to_string();
    let (tx, rx) = std::thread::spawn(move || {
        testbed::enter_netns(&ns).unwrap();
        let tx = node_lib::link::RawLink::open("na", DEFAULT_ETHERTYPE).unwrap();
        let rx = node_lib::link::RawLink::open("nb", DEFAULT_ETHERTYPE).unwrap();
        (tx, rx)
    })
    .join()
    .unwrap();
    let counters = Counters::default();
    let mut send = SendBatch::new(
        common::NodeId(tx.mac()),
        DEFAULT_ETHERTYPE,
        tx.mtu(),
        true,
        64,
    );
    let mut recv = RecvBatch::new(64, rx.frame_capacity());
    let mut s1 = node_lib::link::LinkScratch::new(64);
    let mut s2 = node_lib::link::LinkScratch::new(64);
    let ip = [0x45u8; 64];
    let dst = common::NodeId(rx.mac());
    let mut round = |send: &mut SendBatch| {
        send.clear();
        for _ in 0..32 {
            send.push_action(&Action::SendData {
                next_hop: dst,
                kind: common::wire::MessageType::DataUp,
                ttl: 4,
                origin: dst,
                dest: dst,
                payload: Payload {
                    source: Source::Tun,
                    slot: 0,
                    offset: 0,
                    len: 64,
                },
                sealing: Default::default(),
            });
        }
        let frames = send.frames().len();
        assert_eq!(
            tx.send(
                send,
                |_| Some(&ip[..]),
                &mut s1,
                (true, common::priority::Lane::Priority),
                &counters
            ),
            frames
        );
        let mut got = 0;
        while got < frames {
            got += rx.recv(&mut recv, 64, &mut s2, true, &counters).unwrap();
        }
        got
    };
    for _ in 0..3 {
        round(&mut send);
    }
    let (frames, allocs) = count(|| (0..200).map(|_| round(&mut send)).sum::<usize>());
    assert!(frames >= 200);
    assert_eq!(
        allocs, 0,
        "allocations in link send/receive of {frames} frames"
    );
}
