//! The radio's bulk lane: a second, send-only raw socket on the radio for
//! best effort and background, whose bytes in the kernel are bounded.
//!
//! Why: the kernel's queue on the radio (a qdisc, the driver's ring) is a
//! FIFO the data plane cannot reorder. Whatever bulk sits there, a safety
//! message queued behind it waits for all of it: 15-20 ms under a TCP
//! download on a 12 Mbit/s channel. So bulk is handed to the kernel only
//! as the radio drains it, in the spirit of BQL and mac80211's AQL: the
//! kernel charges each frame's memory to the socket that sent it until the
//! frame leaves the queue, so this socket's send-buffer use (`SIOCOUTQ`)
//! is the bulk in the queue. The data plane hands it more only while that
//! is below the bound, and looks again each millisecond while bulk waits
//! (its send buffer itself stays large: a TCP super-packet cut into 45
//! frames must not block the loop). Everything else (control, voice,
//! video, small packets of idle flows, frames forwarded for others) goes
//! through the receive socket, unbounded.
//!
//! The two sockets also mark their frames for the radio: the receive
//! socket's as voice, the bulk lane's as best effort (`SO_PRIORITY` 256 +
//! the 802.1D user priority, which mac80211 maps to the EDCA access
//! category), so a radio with EDCA queues, or a priority qdisc, lets
//! voice pass bulk in the kernel too.

use crate::sys::{self, cvt};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The bulk lane's send buffer (doubled by the kernel): several TCP
/// super-packets' frames, so a send never waits for room.
const SEND_BUFFER: usize = 1 << 20;

/// Marks the frames socket `fd` sends with `class`'s user priority, for
/// the radio's EDCA queues (256 + UP: mac80211 takes it as the UP). Values
/// above 6 need CAP_NET_ADMIN: without it the plain value is set, which a
/// priority qdisc still reads.
pub fn mark(fd: RawFd, class: common::priority::Class) {
    let up = i32::from(class.user_priority());
    if sys::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_PRIORITY, 256 + up).is_err() {
        let _ = sys::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_PRIORITY, up);
    }
}

/// A send-only raw socket bound to the radio, with a bounded queue.
pub struct BulkLane {
    fd: OwnedFd,
    limit: usize,
}

impl BulkLane {
    /// Opens it on interface `ifindex`; `limit`: the most bytes (socket
    /// memory) it keeps queued in the kernel.
    pub fn open(ifindex: i32, limit: usize) -> io::Result<BulkLane> {
        // Protocol 0: this socket receives nothing.
        // SAFETY: plain socket(2) call; ownership of the fd is taken below.
        let raw = cvt(unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        })?;
        // SAFETY: `raw` is a fresh, valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // Room for a whole super-packet past the bound (the kernel
        // doubles the value); FORCE passes the system's maximum as root.
        let buf = i32::try_from(limit.max(SEND_BUFFER)).unwrap_or(i32::MAX);
        if sys::setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, buf).is_err() {
            let _ = sys::setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_SNDBUF, buf);
        }
        mark(raw, common::priority::Class::BestEffort);
        sys::bind_packet(raw, ifindex, 0)?;
        Ok(BulkLane { fd, limit })
    }

    /// The most bytes it keeps queued.
    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Bytes of socket memory queued in the kernel now.
    pub fn queued(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: SIOCOUTQ (TIOCOUTQ on sockets) writes one int into `n`, which outlives the call.
        let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
        // Unknown (it never fails on a packet socket): take it as full, so
        // bulk waits for POLLOUT rather than flooding the queue.
        if r < 0 {
            self.limit
        } else {
            usize::try_from(n).unwrap_or(0)
        }
    }

    /// Bytes that may be handed to it now.
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.queued())
    }
}
