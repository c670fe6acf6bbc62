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
//! is the bulk in the queue. Its send buffer is set to the bound, which
//! the kernel doubles: the socket reports writable (`POLLOUT`) exactly
//! while less than the bound is queued, and a send fails with `EAGAIN`
//! only past twice the bound. Everything else (control, voice, video,
//! small packets of idle flows, frames forwarded for others) goes through
//! the receive socket, unbounded, and so passes the waiting bulk.

use crate::sys::{self, cvt};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

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
        let half = i32::try_from(limit).unwrap_or(i32::MAX);
        // The kernel doubles the value: writable below `limit`, full at
        // twice it. FORCE passes the system's minimum and maximum as root.
        if sys::setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, half).is_err() {
            sys::setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_SNDBUF, half)?;
        }
        // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = ifindex;
        // SAFETY: passes a valid sockaddr_ll and its exact size.
        cvt(unsafe {
            libc::bind(
                raw,
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
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
