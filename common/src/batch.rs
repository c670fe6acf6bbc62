//! Preallocated batches of packets, filled and drained by the I/O layer.
//!
//! * [`RecvBatch`]: fixed slots that recvmmsg (link) or repeated reads (TUN)
//!   fill; no allocation per packet.
//! * [`SendBatch`]: frames to send, each a list of segments (header bytes
//!   kept here, payloads referenced where they lie) for one gather sendmmsg.
//!   Small messages for the same next hop share a frame when aggregation is on.

use crate::action::{Action, Payload, Sealer, Sealing};
use crate::offload::{OffloadError, Segmenter};
use crate::wire::{
    emit_data_header, BroadcastRepr, EthernetRepr, HeaderRepr, MessageType, BROADCAST_OVERHEAD,
    DATA_OVERHEAD, ETH_HEADER_LEN, FLAG_SEALED, HEADER_LEN, SEALED_OVERHEAD, SEALED_PREFIX_LEN,
};
use crate::NodeId;
use std::ops::Range;

/// Fixed-size slots in one contiguous allocation.
pub struct RecvBatch {
    data: Vec<u8>,
    slot_size: usize,
    lens: Vec<u32>,
    filled: usize,
}

impl RecvBatch {
    pub fn new(slots: usize, slot_size: usize) -> RecvBatch {
        RecvBatch {
            data: vec![0; slots * slot_size],
            slot_size,
            lens: vec![0; slots],
            filled: 0,
        }
    }
    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.lens.len()
    }
    pub fn slot_size(&self) -> usize {
        self.slot_size
    }
    /// Number of filled slots.
    pub fn len(&self) -> usize {
        self.filled
    }
    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }
    pub fn clear(&mut self) {
        self.filled = 0;
    }
    /// All slots as mutable chunks, for the receive syscall to fill.
    pub fn slots_mut(&mut self) -> std::slice::ChunksExactMut<'_, u8> {
        self.data.chunks_exact_mut(self.slot_size)
    }
    /// One slot, whole.
    pub fn slot_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.data[i * self.slot_size..(i + 1) * self.slot_size]
    }
    /// Marks slots `0..n` as filled with the lengths set by [`Self::set_len`].
    pub fn set_filled(&mut self, n: usize) {
        self.filled = n.min(self.capacity());
    }
    pub fn set_len(&mut self, i: usize, len: usize) {
        self.lens[i] = len.min(self.slot_size) as u32;
    }
    /// The bytes of filled slot `i`.
    pub fn get(&self, i: usize) -> &[u8] {
        let start = i * self.slot_size;
        &self.data[start..start + self.lens[i] as usize]
    }
    /// The filled bytes of slot `i`, writable (sealed data is opened in place).
    pub fn get_mut(&mut self, i: usize) -> &mut [u8] {
        let start = i * self.slot_size;
        &mut self.data[start..start + self.lens[i] as usize]
    }
    /// Bytes `[offset, offset+len)` of slot `i`, or `None` if out of range.
    pub fn range(&self, i: usize, offset: usize, len: usize) -> Option<&[u8]> {
        if i >= self.filled || offset + len > self.lens[i] as usize {
            return None;
        }
        let start = i * self.slot_size + offset;
        Some(&self.data[start..start + len])
    }
}

/// A piece of a frame: bytes kept in the batch's header store, or a payload
/// referenced in a receive batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment {
    Header { offset: u32, len: u32 },
    Payload(Payload),
}

/// One frame to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub dst: NodeId,
    /// Its segments in [`SendBatch::segments`].
    pub segments: Range<usize>,
    /// Bytes after the Ethernet header.
    pub payload_len: usize,
    /// Messages carried.
    pub messages: u16,
    /// Of them, sealed data: a receiver drops a copy of these by their
    /// counters, so a frame of nothing else may be sent twice.
    pub sealed: u16,
}

/// Where a batch stood before an add: header, segment and frame counts,
/// and the last segment and frame as they were (an add may extend both
/// in place: a header joining the previous header segment, a message
/// joining the previous frame).
#[derive(Clone)]
struct Checkpoint {
    headers: usize,
    segments: usize,
    frames: usize,
    last_segment: Option<Segment>,
    last_frame: Option<Frame>,
}

/// Frames being assembled for one batched send.
pub struct SendBatch {
    src: NodeId,
    ethertype: u16,
    /// Most bytes after the Ethernet header (the link MTU).
    mtu: usize,
    aggregate: bool,
    headers: Vec<u8>,
    segments: Vec<Segment>,
    frames: Vec<Frame>,
}

impl SendBatch {
    /// `frames_hint` sizes the preallocation; the batch grows if needed and
    /// keeps its capacity afterwards.
    pub fn new(
        src: NodeId,
        ethertype: u16,
        mtu: usize,
        aggregate: bool,
        frames_hint: usize,
    ) -> Self {
        SendBatch {
            src,
            ethertype,
            mtu,
            aggregate,
            headers: Vec::with_capacity(frames_hint * 64),
            segments: Vec::with_capacity(frames_hint * 4),
            frames: Vec::with_capacity(frames_hint),
        }
    }

    pub fn clear(&mut self) {
        self.headers.clear();
        self.segments.clear();
        self.frames.clear();
    }

    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }
    /// Header bytes referenced by `Segment::Header`.
    pub fn header_bytes(&self, offset: u32, len: u32) -> &[u8] {
        &self.headers[offset as usize..(offset + len) as usize]
    }
    pub fn mtu(&self) -> usize {
        self.mtu
    }
    pub fn set_aggregate(&mut self, on: bool) {
        self.aggregate = on;
    }
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Adds one message: `header_len` bytes written by `write_header`, then
    /// the optional payload. Returns false (nothing added) if the message
    /// alone exceeds the MTU.
    pub fn push(
        &mut self,
        dst: NodeId,
        header_len: usize,
        write_header: impl FnOnce(&mut [u8]),
        payload: Option<Payload>,
    ) -> bool {
        let msg_len = header_len + payload.map_or(0, |p| p.len as usize);
        if msg_len > self.mtu {
            return false;
        }
        let joins_last = self.aggregate
            && self
                .frames
                .last()
                .is_some_and(|f| f.dst == dst && f.payload_len + msg_len <= self.mtu);
        let start = self.headers.len();
        if !joins_last {
            self.headers.resize(start + ETH_HEADER_LEN, 0);
            EthernetRepr {
                dst,
                src: self.src,
                ethertype: self.ethertype,
            }
            .emit(&mut self.headers[start..]);
            self.frames.push(Frame {
                dst,
                segments: self.segments.len()..self.segments.len(),
                payload_len: 0,
                messages: 0,
                sealed: 0,
            });
        }
        let hdr_start = self.headers.len();
        self.headers.resize(hdr_start + header_len, 0);
        write_header(&mut self.headers[hdr_start..]);
        let hdr_seg_len = (self.headers.len() - start) as u32;
        // Header bytes that follow the previous header segment directly extend it.
        match self.segments.last_mut() {
            Some(Segment::Header { offset, len })
                if joins_last && (*offset + *len) as usize == start =>
            {
                *len += hdr_seg_len
            }
            _ => self.segments.push(Segment::Header {
                offset: start as u32,
                len: hdr_seg_len,
            }),
        }
        if let Some(p) = payload {
            if p.len > 0 {
                self.segments.push(Segment::Payload(p));
            }
        }
        let f = self.frames.last_mut().expect("a frame was just ensured");
        f.segments.end = self.segments.len();
        f.payload_len += msg_len;
        f.messages += 1;
        true
    }
}

impl SendBatch {
    /// Adds the wire message an action asks for. Returns false for a TUN
    /// action or a message too big for a frame (the caller counts it).
    pub fn push_action(&mut self, a: &Action) -> bool {
        match *a {
            Action::SendControl { dst, ttl, ref msg } => {
                self.push(dst, msg.wire_len(), |h| msg.emit(ttl, h), None)
            }
            Action::SendData {
                next_hop,
                kind,
                ttl,
                origin,
                dest,
                payload,
                sealing,
            } => {
                let flags = match sealing {
                    Sealing::Plain => 0,
                    Sealing::Relay => FLAG_SEALED,
                    // Needs the plaintext and a sealer: `push_sealed`.
                    Sealing::Seal => return false,
                };
                let body_len = DATA_OVERHEAD - HEADER_LEN + payload.len as usize;
                let pushed = self.push(
                    next_hop,
                    DATA_OVERHEAD,
                    |h| emit_data_header(h, kind, flags, ttl, body_len, origin, dest),
                    Some(payload),
                );
                if pushed && sealing == Sealing::Relay {
                    self.mark_sealed();
                }
                pushed
            }
            Action::SendBroadcast {
                ttl,
                origin,
                seq,
                payload,
            } => {
                let body_len = BROADCAST_OVERHEAD - HEADER_LEN + payload.len as usize;
                self.push(
                    NodeId::BROADCAST,
                    BROADCAST_OVERHEAD,
                    |h| {
                        HeaderRepr {
                            msg_type: MessageType::Broadcast,
                            flags: 0,
                            ttl,
                            body_len: body_len as u16,
                        }
                        .emit(h);
                        BroadcastRepr::emit_fixed(origin, seq, &mut h[HEADER_LEN..]);
                    },
                    Some(payload),
                )
            }
            Action::DeliverTun { .. } => false,
        }
    }

    /// Adds a data action to be sealed here (`Sealing::Seal`): the whole
    /// message is built in the header store, `plaintext` copied in and
    /// sealed in place. Returns false (nothing added) if it does not fit a
    /// frame or the sealer has no session.
    pub fn push_sealed(&mut self, a: &Action, plaintext: &[u8], sealer: &mut dyn Sealer) -> bool {
        let Action::SendData {
            next_hop,
            kind,
            ttl,
            origin,
            dest,
            ..
        } = *a
        else {
            return false;
        };
        let undo = self.checkpoint();
        let body_len = DATA_OVERHEAD - HEADER_LEN + SEALED_OVERHEAD + plaintext.len();
        let mut sealed = false;
        let pushed = self.push(
            next_hop,
            HEADER_LEN + body_len,
            |h| {
                emit_data_header(h, kind, FLAG_SEALED, ttl, body_len, origin, dest);
                let t = DATA_OVERHEAD + SEALED_PREFIX_LEN;
                h[t..t + plaintext.len()].copy_from_slice(plaintext);
                sealed = sealer.seal(dest, h);
            },
            None,
        );
        if pushed && !sealed {
            self.undo(undo);
        } else if pushed {
            self.mark_sealed();
        }
        pushed && sealed
    }

    /// The message just pushed is sealed data.
    fn mark_sealed(&mut self) {
        if let Some(f) = self.frames.last_mut() {
            f.sealed += 1;
        }
    }

    /// Sends again every frame made only of sealed data, at most
    /// `max_len` bytes after the Ethernet header, to a neighbour for which
    /// `weak` holds: the copies go after everything else in the batch
    /// (sharing the originals' bytes), at most `budget` of them and as
    /// long as the batch has room without growing. Call once a batch is
    /// complete. Returns the copies added.
    pub fn repeat(&mut self, weak: impl Fn(NodeId) -> bool, max_len: usize, budget: u32) -> u32 {
        let planned = self.frames.len();
        let mut added = 0;
        for i in 0..planned {
            if self.frames.len() == self.frames.capacity() || added == budget {
                break;
            }
            let f = &self.frames[i];
            if f.messages > 0 && f.sealed == f.messages && f.payload_len <= max_len && weak(f.dst) {
                let copy = f.clone();
                self.frames.push(copy);
                added += 1;
            }
        }
        added
    }

    /// Where the batch stands, for [`SendBatch::undo`].
    fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            headers: self.headers.len(),
            segments: self.segments.len(),
            frames: self.frames.len(),
            last_segment: self.segments.last().copied(),
            last_frame: self.frames.last().cloned(),
        }
    }

    /// Takes the batch back to a checkpoint (a message or super-packet that
    /// could not be added whole).
    fn undo(&mut self, c: Checkpoint) {
        self.headers.truncate(c.headers);
        self.segments.truncate(c.segments);
        self.frames.truncate(c.frames);
        // Without this a header segment extended by the undone add would
        // reach past the truncated header store (a panic when sent).
        if let (Some(prev), Some(cur)) = (c.last_segment, self.segments.last_mut()) {
            *cur = prev;
        }
        if let (Some(prev), Some(cur)) = (c.last_frame, self.frames.last_mut()) {
            *cur = prev;
        }
    }

    /// Adds a data action whose payload is a TCP super-packet (TUN offload)
    /// as one data message per segment of at most `gso_size` payload bytes:
    /// each segment's rewritten IP + TCP headers go into the header store,
    /// its payload is referenced in place. Returns the number of segments.
    ///
    /// With a `sealer` (encrypted mode) every segment is copied whole into
    /// the header store and sealed there.
    pub fn push_tcp_segments(
        &mut self,
        a: &Action,
        packet: &[u8],
        gso_size: u16,
        sealer: Option<&mut dyn Sealer>,
    ) -> Result<usize, OffloadError> {
        let (dst, kind, ttl, origin, dest, payload) = match *a {
            Action::SendData {
                next_hop,
                kind,
                ttl,
                origin,
                dest,
                payload,
                ..
            } => (next_hop, kind, ttl, origin, dest, payload),
            _ => return Err(OffloadError::Unsupported),
        };
        let mut sealer = sealer;
        let mut seg = Segmenter::new(packet, gso_size)?;
        // All segments or none: a half-sent super-packet helps nobody.
        let undo = self.checkpoint();
        let hl = seg.header_len();
        let count = seg.count();
        let mss = gso_size as usize;
        for i in 0..count {
            let start = hl + i * mss;
            let len = mss.min(packet.len().saturating_sub(start));
            let mut ok = true;
            let pushed = match sealer.as_deref_mut() {
                None => {
                    let body_len = DATA_OVERHEAD - HEADER_LEN + hl + len;
                    self.push(
                        dst,
                        DATA_OVERHEAD + hl,
                        |h| {
                            emit_data_header(h, kind, 0, ttl, body_len, origin, dest);
                            ok = seg.next_into(&mut h[DATA_OVERHEAD..]) == Some(start..start + len);
                        },
                        (len > 0).then_some(Payload {
                            offset: payload.offset + start as u16,
                            len: len as u16,
                            ..payload
                        }),
                    )
                }
                Some(sealer) => {
                    let text = hl + len;
                    let body_len = DATA_OVERHEAD - HEADER_LEN + SEALED_OVERHEAD + text;
                    self.push(
                        dst,
                        DATA_OVERHEAD + SEALED_OVERHEAD + text,
                        |h| {
                            emit_data_header(h, kind, FLAG_SEALED, ttl, body_len, origin, dest);
                            let t = DATA_OVERHEAD + SEALED_PREFIX_LEN;
                            ok = seg.next_into(&mut h[t..]) == Some(start..start + len);
                            h[t + hl..t + text].copy_from_slice(&packet[start..start + len]);
                            ok = ok && sealer.seal(dest, h);
                        },
                        None,
                    )
                }
            };
            if pushed && ok && sealer.is_some() {
                self.mark_sealed();
            }
            if !pushed || !ok {
                self.undo(undo.clone());
                return Err(if pushed {
                    OffloadError::Malformed
                } else {
                    OffloadError::TooBig
                });
            }
        }
        Ok(count)
    }

    /// The whole frame `i` as contiguous bytes (for tests and debugging;
    /// the I/O layer sends segments by gather instead).
    pub fn frame_bytes<'a>(
        &'a self,
        i: usize,
        payload: impl Fn(&Payload) -> Option<&'a [u8]>,
    ) -> Option<Vec<u8>> {
        let f = self.frames.get(i)?;
        let mut v = Vec::with_capacity(ETH_HEADER_LEN + f.payload_len);
        for s in &self.segments[f.segments.clone()] {
            match s {
                Segment::Header { offset, len } => {
                    v.extend_from_slice(self.header_bytes(*offset, *len))
                }
                Segment::Payload(p) => v.extend_from_slice(payload(p)?),
            }
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Source;

    fn payload(len: u16) -> Option<Payload> {
        Some(Payload {
            source: Source::Tun,
            slot: 0,
            offset: 0,
            len,
        })
    }

    /// Seals for `ok` only, leaving the plaintext as it is.
    struct SealFor(NodeId);
    impl Sealer for SealFor {
        fn seal(&mut self, peer: NodeId, _msg: &mut [u8]) -> bool {
            peer == self.0
        }
        fn can_seal(&self, peer: NodeId) -> bool {
            peer == self.0
        }
    }

    fn sealed_data(next_hop: NodeId, dest: NodeId) -> Action {
        Action::SendData {
            next_hop,
            kind: MessageType::DataUp,
            ttl: 8,
            origin: NodeId([2; 6]),
            dest,
            payload: Payload::EMPTY,
            sealing: Sealing::Seal,
        }
    }

    /// A sealed message that cannot be sealed (no session with its
    /// destination) after one that joined a frame's header segment leaves
    /// the batch as it was: every segment within the header store and the
    /// frame unchanged. (It once left the joined segment reaching past the
    /// store, and the send panicked.)
    #[test]
    fn a_refused_seal_after_a_joined_one_leaves_the_batch_whole() {
        let hop = NodeId([2, 0, 0, 0, 0, 1]);
        let (ok, gone) = (NodeId([2, 0, 0, 0, 0, 7]), NodeId([2, 0, 0, 0, 0, 8]));
        let mut sealer = SealFor(ok);
        let mut s = SendBatch::new(NodeId([2; 6]), 0x88b5, 1500, true, 4);
        assert!(s.push_sealed(&sealed_data(hop, ok), &[1; 100], &mut sealer));
        assert!(s.push_sealed(&sealed_data(hop, ok), &[2; 100], &mut sealer));
        let before: Vec<Segment> = s.segments().to_vec();
        let frame = s.frames()[0].clone();
        assert!(!s.push_sealed(&sealed_data(hop, gone), &[3; 300], &mut sealer));
        assert_eq!(s.segments(), &before[..]);
        assert_eq!(s.frames()[0], frame);
        // The next message joins cleanly and every byte is in the store.
        assert!(s.push_sealed(&sealed_data(hop, ok), &[4; 10], &mut sealer));
        for seg in s.segments() {
            if let Segment::Header { offset, len } = *seg {
                assert!((offset + len) as usize <= s.headers.len());
            }
        }
        let bytes = s.frame_bytes(0, |_| None).expect("all header bytes");
        assert_eq!(bytes.len(), ETH_HEADER_LEN + s.frames()[0].payload_len);
        assert_eq!(s.frames()[0].messages, 3);
    }

    /// Only frames of nothing but sealed data, small enough, to a weak
    /// neighbour are sent twice; the copy is the same bytes, after the
    /// rest of the batch.
    #[test]
    fn only_small_sealed_frames_to_a_weak_neighbour_are_repeated() {
        let (weak, strong) = (NodeId([2, 0, 0, 0, 0, 1]), NodeId([2, 0, 0, 0, 0, 2]));
        let dest = NodeId([2, 0, 0, 0, 0, 7]);
        let mut sealer = SealFor(dest);
        let mut s = SendBatch::new(NodeId([2; 6]), 0x88b5, 1500, true, 16);
        // 0: sealed, small, weak. 1: sealed, to a strong neighbour.
        assert!(s.push_sealed(&sealed_data(weak, dest), &[1; 100], &mut sealer));
        assert!(s.push_sealed(&sealed_data(strong, dest), &[2; 100], &mut sealer));
        // 2: sealed, then plain data joins it: mixed, not repeated.
        s.set_aggregate(false);
        assert!(s.push_sealed(&sealed_data(weak, dest), &[3; 100], &mut sealer));
        s.set_aggregate(true);
        let plain = Action::data(weak, MessageType::DataUp, 8, dest, dest, Payload::EMPTY);
        assert!(s.push_action(&plain));
        // 3: sealed but large.
        s.set_aggregate(false);
        assert!(s.push_sealed(&sealed_data(weak, dest), &[4; 900], &mut sealer));
        // 4: relayed sealed data (sealed elsewhere), small, weak.
        let mut relay = sealed_data(weak, dest);
        if let Action::SendData { sealing, .. } = &mut relay {
            *sealing = Sealing::Relay;
        }
        assert!(s.push_action(&relay));
        assert_eq!(s.frames().len(), 5);
        assert_eq!(s.frames()[2].sealed, 1);
        assert_eq!(s.frames()[2].messages, 2);

        assert_eq!(s.repeat(|n| n == weak, 512, 100), 2);
        assert_eq!(s.frames().len(), 7);
        assert_eq!(s.frames()[5], s.frames()[0]);
        assert_eq!(s.frames()[6], s.frames()[4]);
        assert_eq!(s.frame_bytes(5, |_| None), s.frame_bytes(0, |_| None));
    }

    /// The copies never make the batch grow past what it holds, nor go
    /// past their budget.
    #[test]
    fn repeats_stop_where_the_batch_is_full() {
        let weak = NodeId([2, 0, 0, 0, 0, 1]);
        let mut sealer = SealFor(weak);
        let mut s = SendBatch::new(NodeId([2; 6]), 0x88b5, 1500, false, 4);
        let room = s.frames.capacity();
        for k in 0..room - 1 {
            assert!(s.push_sealed(&sealed_data(weak, weak), &[k as u8; 50], &mut sealer));
        }
        assert_eq!(s.repeat(|_| true, 512, 100), 1);
        assert_eq!(s.frames().len(), room);
        // Nor past the budget.
        s.clear();
        for k in 0..2 {
            assert!(s.push_sealed(&sealed_data(weak, weak), &[k; 50], &mut sealer));
        }
        assert!(s.frames.capacity() >= 4, "room for both copies");
        assert_eq!(s.repeat(|_| true, 512, 1), 1);
        assert_eq!(s.frames().len(), 3);
    }

    #[test]
    fn aggregates_same_destination_up_to_mtu() {
        let a = NodeId([2, 0, 0, 0, 0, 1]);
        let b = NodeId([2, 0, 0, 0, 0, 2]);
        let mut s = SendBatch::new(NodeId([2; 6]), 0x88b5, 200, true, 4);
        assert!(s.push(a, 18, |h| h.fill(1), payload(64)));
        assert!(s.push(a, 18, |h| h.fill(2), payload(64)));
        assert_eq!(s.frames().len(), 1);
        // A third would exceed 200 bytes: new frame.
        assert!(s.push(a, 18, |h| h.fill(3), payload(64)));
        assert_eq!(s.frames().len(), 2);
        assert!(s.push(b, 18, |h| h.fill(4), payload(10)));
        assert_eq!(s.frames().len(), 3);
        assert_eq!(s.frames()[0].messages, 2);
        assert_eq!(s.frames()[0].payload_len, 164);
        // Too big for any frame.
        assert!(!s.push(b, 18, |_| {}, payload(190)));
    }

    #[test]
    fn no_aggregation_when_off() {
        let a = NodeId([2, 0, 0, 0, 0, 1]);
        let mut s = SendBatch::new(NodeId([2; 6]), 0x88b5, 1500, false, 4);
        for _ in 0..3 {
            assert!(s.push(a, 18, |_| {}, payload(64)));
        }
        assert_eq!(s.frames().len(), 3);
        s.clear();
        assert!(s.is_empty());
    }

    #[test]
    fn pushed_actions_parse_back() {
        use crate::action::Control;
        use crate::wire::{BeaconRepr, Body, EthernetFrame, Messages};
        let me = NodeId([2, 0, 0, 0, 0, 9]);
        let hop = NodeId([2, 0, 0, 0, 0, 1]);
        let ip = [0x45u8; 30];
        let mut s = SendBatch::new(me, 0x88b5, 1500, true, 4);
        let beacon = BeaconRepr {
            rsu: me,
            seq: 1,
            hops: 0,
            timestamp_us: 5,
            interval_ms: 100,
            epoch: 7,
            uplink: true,
            preference: 0,
        };
        assert!(s.push_action(&Action::SendControl {
            dst: hop,
            ttl: 1,
            msg: Control::Beacon(beacon)
        }));
        assert!(s.push_action(&Action::SendData {
            next_hop: hop,
            kind: MessageType::DataDown,
            ttl: 9,
            origin: me,
            dest: hop,
            payload: Payload {
                source: crate::action::Source::Tun,
                slot: 0,
                offset: 0,
                len: 30
            },
            sealing: Default::default(),
        }));
        assert_eq!(s.frames().len(), 1);
        let bytes = s.frame_bytes(0, |_| Some(&ip[..])).unwrap();
        let f = EthernetFrame::new_checked(&bytes[..]).unwrap();
        assert_eq!(f.dst(), hop);
        assert_eq!(f.src(), me);
        let msgs: Vec<_> = Messages::new(f.payload()).map(|m| m.unwrap()).collect();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].body, Body::Beacon(beacon));
        match msgs[1].body {
            Body::Data(d) => assert_eq!(d.payload, &ip[..]),
            _ => panic!("expected data"),
        }
        assert!(!s.push_action(&Action::DeliverTun {
            payload: Payload {
                source: crate::action::Source::Tun,
                slot: 0,
                offset: 0,
                len: 1
            }
        }));
    }

    /// A TCP/IPv4 super-packet (20 + 20 header bytes) and a data action
    /// that carries it from the TUN.
    fn tcp_super_packet(payload: impl IntoIterator<Item = u8>) -> (Vec<u8>, Action, NodeId) {
        let mut sup = vec![0u8; 40];
        sup[0] = 0x45;
        sup[9] = 6;
        sup[32] = 5 << 4;
        sup[33] = 0x10;
        sup.extend(payload);
        let total = sup.len() as u16;
        sup[2..4].copy_from_slice(&total.to_be_bytes());
        let me = NodeId([2, 0, 0, 0, 0, 9]);
        let a = Action::SendData {
            next_hop: me,
            kind: MessageType::DataUp,
            ttl: 3,
            origin: me,
            dest: me,
            payload: Payload {
                source: crate::action::Source::Tun,
                slot: 0,
                offset: 0,
                len: total,
            },
            sealing: Default::default(),
        };
        (sup, a, me)
    }

    #[test]
    fn tcp_super_packet_is_cut_into_mtu_frames_that_parse_back() {
        use crate::wire::{Body, EthernetFrame, Messages};
        let (sup, a, me) = tcp_super_packet((0..4000u32).map(|i| i as u8));
        let mut s = SendBatch::new(me, 0x88b5, 1500, true, 8);
        assert_eq!(s.push_tcp_segments(&a, &sup, 1400, None), Ok(3));
        assert_eq!(
            s.frames().len(),
            3,
            "three segments do not fit one frame together"
        );
        let mut payload = Vec::new();
        for f in 0..3 {
            let bytes = s
                .frame_bytes(f, |p| {
                    sup.get(p.offset as usize..(p.offset + p.len) as usize)
                })
                .unwrap();
            assert!(bytes.len() <= 1514);
            let fr = EthernetFrame::new_checked(&bytes[..]).unwrap();
            for m in Messages::new(fr.payload()) {
                match m.unwrap().body {
                    Body::Data(d) => payload.extend_from_slice(&d.payload[40..]),
                    _ => panic!("data expected"),
                }
            }
        }
        assert_eq!(payload, sup[40..]);
    }

    #[test]
    fn a_super_packet_that_does_not_fit_leaves_the_batch_as_it_was() {
        let (sup, a, me) = tcp_super_packet([7u8; 3000]);
        let mut s = SendBatch::new(me, 0x88b5, 1000, true, 8);
        assert!(s.push(me, 18, |h| h.fill(1), payload(100)));
        let before = (s.frames().to_vec(), s.segments().to_vec());
        // Segments of 1400 bytes cannot fit a 1000-byte link MTU.
        assert_eq!(
            s.push_tcp_segments(&a, &sup, 1400, None),
            Err(OffloadError::TooBig)
        );
        assert_eq!((s.frames().to_vec(), s.segments().to_vec()), before);
        assert_eq!(s.push_tcp_segments(&a, &sup, 900, None), Ok(4));
    }

    #[test]
    fn recv_batch_ranges_are_checked() {
        let mut r = RecvBatch::new(2, 100);
        r.slot_mut(1)[..3].copy_from_slice(&[1, 2, 3]);
        r.set_len(1, 3);
        r.set_filled(2);
        assert_eq!(r.get(1), &[1, 2, 3]);
        assert_eq!(r.range(1, 1, 2), Some(&[2u8, 3][..]));
        assert_eq!(r.range(1, 2, 2), None);
        assert_eq!(r.range(2, 0, 0), None);
    }
}
