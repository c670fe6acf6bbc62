//! The radio side: an AF_PACKET raw socket bound to one interface and
//! EtherType, with batched receive (recvmmsg) and gather send (sendmmsg).

use crate::bulk_lane::BulkLane;
use crate::sys::{self, cvt, cvt_size};
use common::action::Payload;
use common::airtime::{kind_of, Airtime, FrameKind};
use common::batch::{RecvBatch, Segment, SendBatch};
use common::counters::{Counters, Dir, DropReason, Syscall};
use common::priority::Lane;
use common::wire::ETH_HEADER_LEN;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

const SOL_PACKET: libc::c_int = 263;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
/// How long one send waits in total for a full socket or driver queue
/// before the remaining frames are counted as dropped.
const SEND_WAIT_LIMIT: Duration = Duration::from_millis(50);

/// A raw link socket.
pub struct RawLink {
    fd: OwnedFd,
    ifname: String,
    ifindex: i32,
    mac: [u8; 6],
    mtu: usize,
    ethertype: u16,
    /// The bounded socket for best effort and background, if any.
    bulk: Option<BulkLane>,
}

/// Classic BPF program: accept only frames whose EtherType is `ethertype`.
fn ethertype_filter(ethertype: u16) -> [libc::sock_filter; 4] {
    const BPF_LD_H_ABS: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_ABS) as u16;
    const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    [
        libc::sock_filter {
            code: BPF_LD_H_ABS,
            jt: 0,
            jf: 0,
            k: 12,
        },
        libc::sock_filter {
            code: BPF_JEQ_K,
            jt: 0,
            jf: 1,
            k: ethertype as u32,
        },
        libc::sock_filter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: 0x0004_0000,
        },
        libc::sock_filter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: 0,
        },
    ]
}

impl RawLink {
    /// Opens the raw socket on `ifname` for `ethertype`: BPF filter, own
    /// outgoing frames ignored, bound to the interface.
    pub fn open(ifname: &str, ethertype: u16) -> io::Result<RawLink> {
        let ifindex = sys::if_index(ifname)?;
        let mac = sys::if_hwaddr(ifname)?;
        let mtu = sys::if_mtu(ifname)?;
        let proto = ethertype.to_be() as libc::c_int;
        // SAFETY: plain socket(2) call; ownership of the fd is taken below.
        let raw = cvt(unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                proto,
            )
        })
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open raw socket (needs CAP_NET_RAW): {e}"),
            )
        })?;
        // SAFETY: `raw` is a fresh, valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let filter = ethertype_filter(ethertype);
        let prog = libc::sock_fprog {
            len: filter.len() as u16,
            filter: filter.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points to `filter`, which outlives the call; the
        // kernel copies the program.
        cvt(unsafe {
            libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                &prog as *const libc::sock_fprog as *const libc::c_void,
                std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        })?;
        // Control, voice, video and small packets: voice to the radio.
        crate::bulk_lane::mark(raw, common::priority::Class::Voice);
        // Kernel 4.20+; older kernels fall back to the source-MAC check.
        let _ = sys::setsockopt_int(raw, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1);
        // Generous buffers absorb bursts; FORCE works as root, plain as fallback.
        for (force, plain) in [
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        ] {
            if sys::setsockopt_int(raw, libc::SOL_SOCKET, force, 4 << 20).is_err() {
                let _ = sys::setsockopt_int(raw, libc::SOL_SOCKET, plain, 4 << 20);
            }
        }
        sys::bind_packet(raw, ifindex, ethertype)?;
        let link = RawLink {
            fd,
            ifname: ifname.to_string(),
            ifindex,
            mac,
            mtu,
            ethertype,
            bulk: None,
        };
        link.drain_stale();
        Ok(link)
    }

    /// Frames queued before bind/filter may come from any interface: drop
    /// them (bounded: under steady traffic the queue may never be empty).
    fn drain_stale(&self) {
        let mut buf = [0u8; 64];
        for _ in 0..1024 {
            // SAFETY: receives into a valid, exclusively borrowed buffer.
            let r = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            if r < 0 {
                break;
            }
        }
    }

    /// Sends best effort and background through a bulk lane that keeps
    /// at most `limit` bytes in the kernel (`bulk_lane`); 0: none, they
    /// share the one socket.
    pub fn set_bulk_lane(&mut self, limit: usize) -> io::Result<()> {
        self.bulk = match limit {
            0 => None,
            _ => Some(BulkLane::open(self.ifindex, limit)?),
        };
        Ok(())
    }

    /// The bulk lane's bound (0: none).
    pub fn bulk_limit(&self) -> usize {
        self.bulk.as_ref().map_or(0, BulkLane::limit)
    }

    /// Bytes the bulk lane takes now (`usize::MAX` without one).
    pub fn bulk_room(&self) -> usize {
        self.bulk.as_ref().map_or(usize::MAX, BulkLane::room)
    }

    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }
    /// Link MTU: most bytes after the Ethernet header.
    pub fn mtu(&self) -> usize {
        self.mtu
    }
    pub fn ifname(&self) -> &str {
        &self.ifname
    }
    pub fn ifindex(&self) -> i32 {
        self.ifindex
    }
    pub fn ethertype(&self) -> u16 {
        self.ethertype
    }
    /// Receive slot size: a whole frame at the link MTU.
    pub fn frame_capacity(&self) -> usize {
        self.mtu + ETH_HEADER_LEN + 4
    }

    /// Frames the kernel dropped since the last call because this socket's
    /// receive queue was full (the data plane fell behind). Reading the
    /// kernel's count resets it.
    pub fn take_queue_drops(&self) -> io::Result<u32> {
        // SAFETY: tpacket_stats is plain old data; all-zero is valid.
        let mut st: libc::tpacket_stats = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: `st` and `len` are valid for writes and `len` holds the
        // size of `st`; the kernel writes at most that many bytes.
        cvt(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                SOL_PACKET,
                libc::PACKET_STATISTICS,
                &mut st as *mut libc::tpacket_stats as *mut libc::c_void,
                &mut len,
            )
        })?;
        Ok(st.tp_drops)
    }
}

impl AsRawFd for RawLink {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Preallocated syscall argument arrays. Holds raw pointers, so it lives on
/// the data-plane thread that uses it (it is deliberately not `Send`).
pub struct LinkScratch {
    msgs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    /// Per frame: first iovec, iovec count, messages carried, and its
    /// airtime estimate (µs) and kind.
    frame_iovs: Vec<(usize, usize, u16, u32, FrameKind)>,
    /// The airtime model of the link's PHY rate (`[link] phy_rate_mbps`).
    pub airtime: Airtime,
    /// recvmmsg headers, one per slot of the receive batch they were built
    /// for. Built once and reused: the kernel writes back only `msg_len`,
    /// `msg_flags` and `msg_controllen`, so a lone frame touches one header
    /// instead of rebuilding all of them (idle latency is made of such
    /// cold cache lines).
    rx_msgs: Vec<libc::mmsghdr>,
    rx_iovs: Vec<libc::iovec>,
    /// The receive batch the headers point into: first byte, slot size.
    rx_for: (usize, usize),
}

impl LinkScratch {
    pub fn new(max_frames: usize) -> LinkScratch {
        LinkScratch {
            // SAFETY: mmsghdr/iovec are plain old data; zeroed is valid.
            msgs: (0..max_frames)
                .map(|_| unsafe { std::mem::zeroed() })
                .collect(),
            iovs: Vec::with_capacity(max_frames * 8),
            frame_iovs: Vec::with_capacity(max_frames),
            airtime: Airtime::new(6000),
            rx_msgs: Vec::new(),
            rx_iovs: Vec::new(),
            rx_for: (0, 0),
        }
    }

    /// Points the receive headers at the slots of `batch` unless they
    /// already do; returns how many there are.
    fn rx_headers_for(&mut self, batch: &mut RecvBatch) -> usize {
        let slots = batch.capacity();
        let key = (batch.slot_mut(0).as_mut_ptr() as usize, batch.slot_size());
        if self.rx_for == key && self.rx_msgs.len() == slots {
            return slots;
        }
        // The iovecs are complete before any header points at them, and
        // neither vector grows afterwards, so the pointers stay valid.
        self.rx_iovs = batch.slots_mut().map(iovec_mut).collect();
        self.rx_msgs = self
            .rx_iovs
            .iter_mut()
            .map(|iov| {
                // SAFETY: mmsghdr is plain old data; zeroed is a valid empty header.
                let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                m.msg_hdr.msg_iov = iov as *mut libc::iovec;
                m.msg_hdr.msg_iovlen = 1;
                m
            })
            .collect();
        self.rx_for = key;
        slots
    }
}

fn iovec_mut(b: &mut [u8]) -> libc::iovec {
    libc::iovec {
        iov_base: b.as_mut_ptr() as *mut libc::c_void,
        iov_len: b.len(),
    }
}

fn iovec(b: &[u8]) -> libc::iovec {
    libc::iovec {
        iov_base: b.as_ptr() as *mut libc::c_void,
        iov_len: b.len(),
    }
}

impl RawLink {
    /// Receives up to `max` frames into `batch` (cleared first) without
    /// blocking: one recvmmsg when `batched`, else one recv per frame.
    /// Truncated frames get length 0 and are counted.
    pub fn recv(
        &self,
        batch: &mut RecvBatch,
        max: usize,
        scratch: &mut LinkScratch,
        batched: bool,
        counters: &Counters,
    ) -> io::Result<usize> {
        batch.clear();
        if batch.capacity() == 0 {
            return Ok(0);
        }
        let max = max.min(batch.capacity()).max(1);
        if !batched {
            let slot = batch.slot_mut(0);
            let cap = slot.len();
            counters.syscall(Syscall::Recvmsg);
            // SAFETY: receives into the valid, exclusively borrowed slot.
            let r = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    slot.as_mut_ptr() as *mut libc::c_void,
                    cap,
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            let n = match cvt_size(r) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
                Err(e) => return Err(e),
            };
            if n > cap {
                counters.count_drop(DropReason::TooBig);
                batch.set_len(0, 0);
            } else {
                batch.set_len(0, n);
            }
            batch.set_filled(1);
            counters.batch(Dir::LinkRx, 1);
            return Ok(1);
        }
        let max = max.min(scratch.rx_headers_for(batch));
        counters.syscall(Syscall::Recvmmsg);
        // SAFETY: each of the first `max` entries of `rx_msgs` points to one
        // iovec in `rx_iovs`, which covers one slot of `batch` (checked by
        // `rx_headers_for` just now: same buffer, same slot size); `batch`
        // is exclusively borrowed for this call and the vectors are not
        // touched meanwhile.
        let r = unsafe {
            libc::recvmmsg(
                self.fd.as_raw_fd(),
                scratch.rx_msgs.as_mut_ptr(),
                max as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        let n = match cvt(r) {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) => return Err(e),
        };
        for i in 0..n {
            let m = &scratch.rx_msgs[i];
            if m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                counters.count_drop(DropReason::TooBig);
                batch.set_len(i, 0);
            } else {
                batch.set_len(i, m.msg_len as usize);
            }
        }
        batch.set_filled(n);
        counters.batch(Dir::LinkRx, n);
        Ok(n)
    }

    /// Sends every frame of `batch` into `lane`, its payload segments
    /// resolved by `payload`. Partial sends continue where they stopped; a
    /// full queue is waited for (bounded); frames the link refuses are
    /// counted as dropped. Returns the number of frames sent.
    pub fn send<'a>(
        &self,
        batch: &'a SendBatch,
        payload: impl Fn(&Payload) -> Option<&'a [u8]>,
        scratch: &mut LinkScratch,
        (batched, lane): (bool, Lane),
        counters: &Counters,
    ) -> usize {
        let fd = match (lane, &self.bulk) {
            (Lane::Bulk, Some(b)) => b.fd(),
            _ => self.fd.as_raw_fd(),
        };
        gather(batch, payload, scratch, counters);
        let total = scratch.frame_iovs.len();
        let mut sent = 0;
        let mut first_wait: Option<Instant> = None;
        while sent < total {
            let chunk = if batched {
                (total - sent).min(scratch.msgs.len())
            } else {
                1
            };
            match send_chunk(fd, scratch, (sent, chunk), batched, counters) {
                Ok(n) => {
                    count_sent(scratch, sent, n, counters);
                    if batched && n < chunk {
                        Counters::inc(&counters.partial_sends, 1);
                    }
                    sent += n;
                }
                Err(e)
                    if sys::is_would_block(&e)
                        && first_wait.get_or_insert_with(Instant::now).elapsed()
                            < SEND_WAIT_LIMIT =>
                {
                    wait_for_room(fd, &e, counters);
                }
                Err(e) => {
                    // EMSGSIZE and friends hit only the first frame: drop it
                    // and go on; a down link or timeout drops the rest.
                    Counters::inc(&counters.link_errors, 1);
                    let fatal =
                        !matches!(e.raw_os_error(), Some(libc::EMSGSIZE) | Some(libc::EINVAL));
                    let lost = if fatal { total - sent } else { 1 };
                    for &(_, _, messages, ..) in &scratch.frame_iovs[sent..sent + lost] {
                        counters.count_drops(DropReason::LinkError, messages as u64);
                    }
                    sent += lost;
                    if fatal {
                        tracing::debug!(error = %e, lost, "link send failed");
                        return sent - lost;
                    }
                }
            }
        }
        total
    }
}

/// One syscall for frames `sent .. sent + chunk` of the gathered batch:
/// `sendmmsg`, or `sendmsg` for a lone frame (sendmmsg's header-array
/// pass costs more than it saves for one, batch_io bench). The frames
/// the kernel took.
fn send_chunk(
    fd: RawFd,
    scratch: &mut LinkScratch,
    (sent, chunk): (usize, usize),
    batched: bool,
    counters: &Counters,
) -> io::Result<usize> {
    for i in 0..chunk {
        let (start, len, ..) = scratch.frame_iovs[sent + i];
        let m = &mut scratch.msgs[i];
        // SAFETY: msghdr is plain old data; zeroed is a valid empty header.
        m.msg_hdr = unsafe { std::mem::zeroed() };
        m.msg_hdr.msg_iov = scratch.iovs[start..].as_mut_ptr();
        m.msg_hdr.msg_iovlen = len as _;
        m.msg_len = 0;
    }
    if batched && chunk > 1 {
        counters.syscall(Syscall::Sendmmsg);
        // SAFETY: the first `chunk` msgs point into `iovs`, whose
        // entries point to header bytes in the send batch and payloads
        // in receive batches, all borrowed by `send` and unchanged here.
        cvt(unsafe {
            libc::sendmmsg(
                fd,
                scratch.msgs.as_mut_ptr(),
                chunk as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        })
        .map(|n| n as usize)
    } else {
        counters.syscall(Syscall::Sendmsg);
        // SAFETY: as above, for the single header in msgs[0].
        cvt_size(unsafe { libc::sendmsg(fd, &scratch.msgs[0].msg_hdr, libc::MSG_DONTWAIT) })
            .map(|_| 1)
    }
}

/// A full queue on `fd`: waits for room (bounded by the caller's limit).
fn wait_for_room(fd: RawFd, e: &io::Error, counters: &Counters) {
    Counters::inc(&counters.send_retries, 1);
    if e.raw_os_error() == Some(libc::ENOBUFS) {
        // The driver queue is full; the socket looks writable anyway,
        // so give the queue real time to drain.
        std::thread::sleep(Duration::from_micros(500));
    } else {
        let mut pfd = [libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        }];
        counters.syscall(Syscall::Poll);
        let _ = sys::poll(&mut pfd, 10);
    }
}

/// Gathers every frame of `batch` into `scratch`: one iovec per header or
/// payload segment, and per frame its iovecs, messages, airtime and kind.
/// A frame whose payload reference does not resolve (a bug upstream) is
/// counted as dropped rather than sent corrupt.
fn gather<'a>(
    batch: &'a SendBatch,
    payload: impl Fn(&Payload) -> Option<&'a [u8]>,
    scratch: &mut LinkScratch,
    counters: &Counters,
) {
    scratch.iovs.clear();
    scratch.frame_iovs.clear();
    for f in batch.frames() {
        let start = scratch.iovs.len();
        let mut ok = true;
        let kind = match batch.segments()[f.segments.clone()].first() {
            Some(Segment::Header { offset, len }) => kind_of(batch.header_bytes(*offset, *len)),
            _ => FrameKind::Control,
        };
        let eth_len = f.payload_len + ETH_HEADER_LEN;
        let airtime = scratch.airtime.frame_us(eth_len, f.dst.is_group(), kind) as u32;
        for seg in &batch.segments()[f.segments.clone()] {
            let bytes = match seg {
                Segment::Header { offset, len } => Some(batch.header_bytes(*offset, *len)),
                Segment::Payload(p) => payload(p),
            };
            match bytes {
                Some(b) => scratch.iovs.push(iovec(b)),
                None => ok = false,
            }
        }
        if ok {
            scratch
                .frame_iovs
                .push((start, scratch.iovs.len() - start, f.messages, airtime, kind));
        } else {
            scratch.iovs.truncate(start);
            counters.count_drops(DropReason::Malformed, f.messages as u64);
        }
    }
}

/// Counts frames `sent .. sent + n`, which the kernel took.
fn count_sent(scratch: &LinkScratch, sent: usize, n: usize, counters: &Counters) {
    for i in 0..n {
        let (start, len, messages, airtime, kind) = scratch.frame_iovs[sent + i];
        Counters::inc(&counters.airtime_tx_us[kind as usize], airtime as u64);
        let bytes: usize = scratch.iovs[start..start + len]
            .iter()
            .map(|v| v.iov_len)
            .sum();
        Counters::inc(&counters.link_tx_bytes, bytes as u64);
        Counters::inc(&counters.link_tx_messages, messages as u64);
        if messages > 1 {
            Counters::inc(&counters.aggregated_frames, 1);
            Counters::inc(&counters.aggregated_messages, messages as u64 - 1);
        }
    }
    Counters::inc(&counters.link_tx_frames, n as u64);
    // Histogram: frames per send syscall.
    counters.batch(Dir::LinkTx, n);
}

/// The raw socket as the data path's link, with its syscall arrays (sized
/// for a receive batch and for the frames one flush may send).
pub struct LinkPort {
    pub raw: RawLink,
    scratch: LinkScratch,
}

impl LinkPort {
    /// `frames`: the most frames one receive or send takes;
    /// `phy_rate_kbps`: the radio's rate, for the airtime of frames sent.
    pub fn new(raw: RawLink, frames: usize, phy_rate_kbps: u64) -> LinkPort {
        let mut scratch = LinkScratch::new(frames);
        scratch.airtime = Airtime::new(phy_rate_kbps);
        LinkPort { raw, scratch }
    }
}

impl datapath::LinkDevice for LinkPort {
    fn recv(
        &mut self,
        batch: &mut RecvBatch,
        max: usize,
        batched: bool,
        counters: &Counters,
    ) -> io::Result<usize> {
        self.raw
            .recv(batch, max, &mut self.scratch, batched, counters)
    }

    fn send<'a>(
        &mut self,
        frames: &'a SendBatch,
        payload: &dyn Fn(&Payload) -> Option<&'a [u8]>,
        batched: bool,
        counters: &Counters,
        lane: Lane,
    ) -> usize {
        self.raw.send(
            frames,
            payload,
            &mut self.scratch,
            (batched, lane),
            counters,
        )
    }

    fn bulk_room(&self) -> usize {
        self.raw.bulk_room()
    }

    fn has_bulk_lane(&self) -> bool {
        self.raw.bulk_limit() > 0
    }
}
