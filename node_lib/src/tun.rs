//! The host side: a TUN device (IFF_TUN | IFF_NO_PI), non-blocking, with
//! its addresses and MTU set here. Reads are drained until EAGAIN into a
//! preallocated batch. Closing the device removes it.

use crate::sys::{self, cvt, cvt_size};
use common::batch::RecvBatch;
use common::counters::{Counters, Dir, DropReason, Syscall};
use common::ip::IpPrefix;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

/// `struct in6_ifreq` from <linux/ipv6.h> (not in the libc crate).
#[repr(C)]
struct In6Ifreq {
    addr: libc::in6_addr,
    prefixlen: u32,
    ifindex: libc::c_int,
}

pub struct Tun {
    fd: OwnedFd,
    name: String,
    mtu: usize,
}

fn sockaddr_in(a: std::net::Ipv4Addr) -> libc::sockaddr {
    // SAFETY: sockaddr_in is plain old data; all-zero is valid.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as u16;
    sin.sin_addr.s_addr = u32::from(a).to_be();
    // SAFETY: sockaddr_in and sockaddr have the same size (16 bytes) and
    // sockaddr is the generic view the ioctl interface expects.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

impl Tun {
    /// Creates the TUN device `name`, sets its MTU and addresses, brings it up.
    pub fn create(name: &str, mtu: usize, addrs: &[IpPrefix]) -> io::Result<Tun> {
        let path = c"/dev/net/tun";
        // SAFETY: opens a constant NUL-terminated path; the fd is owned below.
        let raw = cvt(unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        })
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open /dev/net/tun: {e}")))?;
        // SAFETY: `raw` is a fresh, valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut req = sys::ifreq(name)?;
        req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        sys::ioctl_ifreq(raw, TUNSETIFF, &mut req).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create TUN `{name}` (needs CAP_NET_ADMIN; name in use?): {e}"),
            )
        })?;
        let tun = Tun {
            fd,
            name: name.to_string(),
            mtu,
        };
        tun.configure(addrs)?;
        Ok(tun)
    }

    fn configure(&self, addrs: &[IpPrefix]) -> io::Result<()> {
        let ctl = sys::ctl_socket(libc::AF_INET)?;
        let c = ctl.as_raw_fd();
        let mut r = sys::ifreq(&self.name)?;
        r.ifr_ifru.ifru_mtu = self.mtu as libc::c_int;
        sys::ioctl_ifreq(c, libc::SIOCSIFMTU, &mut r).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot set MTU {} on `{}`: {e}", self.mtu, self.name),
            )
        })?;
        // Larger queue: bursts from the link side are absorbed, not dropped.
        let mut r = sys::ifreq(&self.name)?;
        r.ifr_ifru.ifru_metric = 1000;
        let _ = sys::ioctl_ifreq(c, libc::SIOCSIFTXQLEN, &mut r);
        let mut r = sys::ifreq(&self.name)?;
        sys::ioctl_ifreq(c, libc::SIOCGIFFLAGS, &mut r)?;
        // SAFETY: SIOCGIFFLAGS filled the flags member, which we update.
        unsafe { r.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
        sys::ioctl_ifreq(c, libc::SIOCSIFFLAGS, &mut r)?;
        let mut v4_done = false;
        for p in addrs {
            match p.addr {
                IpAddr::V4(a) if !v4_done => {
                    // The ioctl interface holds one primary IPv4 address.
                    let mut r = sys::ifreq(&self.name)?;
                    r.ifr_ifru.ifru_addr = sockaddr_in(a);
                    sys::ioctl_ifreq(c, libc::SIOCSIFADDR, &mut r)?;
                    let mask = if p.len == 0 {
                        0
                    } else {
                        u32::MAX << (32 - p.len as u32)
                    };
                    let mut r = sys::ifreq(&self.name)?;
                    r.ifr_ifru.ifru_netmask = sockaddr_in(mask.into());
                    sys::ioctl_ifreq(c, libc::SIOCSIFNETMASK, &mut r)?;
                    v4_done = true;
                }
                IpAddr::V4(_) => {
                    tracing::warn!(address = %p, tun = %self.name, "only the first IPv4 address is set on the TUN; the others are still announced");
                }
                IpAddr::V6(a) => {
                    let ctl6 = sys::ctl_socket(libc::AF_INET6)?;
                    let req = In6Ifreq {
                        addr: libc::in6_addr {
                            s6_addr: a.octets(),
                        },
                        prefixlen: p.len as u32,
                        ifindex: sys::if_index(&self.name)?,
                    };
                    // SAFETY: SIOCSIFADDR on an AF_INET6 socket takes a
                    // `struct in6_ifreq *`; `req` has that exact layout.
                    cvt(unsafe {
                        libc::ioctl(
                            ctl6.as_raw_fd(),
                            libc::SIOCSIFADDR as _,
                            &req as *const In6Ifreq,
                        )
                    })
                    .map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!("cannot add {p} to `{}` (IPv6 disabled?): {e}", self.name),
                        )
                    })?;
                }
            }
        }
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// Reads packets until EAGAIN or `max` (just one when not `batched`).
    pub fn recv(
        &self,
        batch: &mut RecvBatch,
        max: usize,
        batched: bool,
        counters: &Counters,
    ) -> io::Result<usize> {
        batch.clear();
        let max = if batched {
            max.min(batch.capacity())
        } else {
            1
        };
        let mut n = 0;
        while n < max {
            let slot = batch.slot_mut(n);
            counters.syscall(Syscall::TunRead);
            // SAFETY: reads into the valid, exclusively borrowed slot.
            let r = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    slot.as_mut_ptr() as *mut libc::c_void,
                    slot.len(),
                )
            };
            match cvt_size(r) {
                Ok(0) => break,
                Ok(len) => {
                    batch.set_len(n, len);
                    n += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    batch.set_filled(n);
                    if n > 0 {
                        break;
                    }
                    return Err(e);
                }
            }
        }
        batch.set_filled(n);
        counters.batch(Dir::TunRx, n);
        Ok(n)
    }

    /// Writes one IP packet. A full queue or error is counted, never fatal.
    pub fn send(&self, packet: &[u8], counters: &Counters) -> bool {
        counters.syscall(Syscall::TunWrite);
        // SAFETY: writes from a valid borrowed slice.
        let r = unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                packet.as_ptr() as *const libc::c_void,
                packet.len(),
            )
        };
        match cvt_size(r) {
            Ok(_) => {
                Counters::inc(&counters.tun_tx_packets, 1);
                Counters::inc(&counters.tun_tx_bytes, packet.len() as u64);
                true
            }
            Err(_) => {
                Counters::inc(&counters.tun_errors, 1);
                counters.count_drop(DropReason::TunError);
                false
            }
        }
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
