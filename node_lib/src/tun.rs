//! The host side: a TUN device (IFF_TUN | IFF_NO_PI), non-blocking, with
//! its addresses and MTU set here. Reads are drained until EAGAIN into a
//! preallocated batch. Closing the device removes it.

use crate::sys::{self, cvt, cvt_size};
use common::batch::RecvBatch;
use common::counters::{Counters, Dir, DropReason, Syscall};
use common::ip::IpPrefix;
use common::offload::{self, TunWrite, VnetHdr, WriteKind, VNET_F_NEEDS_CSUM, VNET_HDR_LEN};
use protocol::plan::Coalesce;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
const IFF_VNET_HDR: libc::c_int = 0x4000;
const TUN_F_CSUM: libc::c_ulong = 0x01;
const TUN_F_TSO4: libc::c_ulong = 0x02;
const TUN_F_TSO6: libc::c_ulong = 0x04;

/// `struct in6_ifreq` from <linux/ipv6.h> (not in the libc crate).
#[repr(C)]
struct In6Ifreq {
    addr: libc::in6_addr,
    prefixlen: u32,
    ifindex: libc::c_int,
}

pub use datapath::TunRead;

pub struct Tun {
    fd: OwnedFd,
    name: String,
    mtu: usize,
    /// Every read and write carries a virtio-net header (IFF_VNET_HDR).
    vnet: bool,
    /// The kernel hands us TSO super-packets and accepts GSO writes.
    offload: bool,
    /// UDP GSO writes (VIRTIO_NET_HDR_GSO_UDP_L4, Linux 6.2+) are used;
    /// turned off for good if the kernel refuses one.
    uso: std::sync::atomic::AtomicBool,
}

/// Reused buffers of the TUN write path (lives on the data-plane thread).
pub struct TunWriteScratch {
    iovs: Vec<libc::iovec>,
    hdr: [u8; 128],
    vnet: [u8; VNET_HDR_LEN],
    /// The plan of [`Tun::send_all`].
    writes: Vec<TunWrite>,
}

impl Default for TunWriteScratch {
    fn default() -> Self {
        TunWriteScratch {
            iovs: Vec::with_capacity(offload::MAX_COALESCE + 2),
            hdr: [0; 128],
            vnet: [0; VNET_HDR_LEN],
            writes: Vec::with_capacity(64),
        }
    }
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
    /// Creates the TUN device `name`, sets its MTU and addresses, brings it
    /// up. With `offload`, asks for virtio-net headers and TSO (IPv4, IPv6);
    /// where the kernel refuses, falls back to plain I/O and says so once.
    pub fn create(name: &str, mtu: usize, addrs: &[IpPrefix], offload: bool) -> io::Result<Tun> {
        if offload {
            match Tun::open(name, mtu, addrs, true) {
                Ok(t) => return Ok(t),
                Err(e) => {
                    tracing::warn!(error = %e, "TUN offload unavailable; using plain TUN I/O")
                }
            }
        }
        Tun::open(name, mtu, addrs, false)
    }

    fn open(name: &str, mtu: usize, addrs: &[IpPrefix], offload: bool) -> io::Result<Tun> {
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
        let vnet_flag = if offload { IFF_VNET_HDR } else { 0 };
        req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI | vnet_flag) as libc::c_short;
        sys::ioctl_ifreq(raw, TUNSETIFF, &mut req).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create TUN `{name}` (needs CAP_NET_ADMIN; name in use?): {e}"),
            )
        })?;
        if offload {
            // What we can take on reads: checksum and TCP segmentation. UDP
            // segmentation (TUN_F_USO*) is deliberately not offered, since
            // reads would then carry UDP super-packets we do not split.
            let tso = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
            // SAFETY: TUNSETOFFLOAD takes its argument by value.
            cvt(unsafe { libc::ioctl(raw, TUNSETOFFLOAD as _, tso) })
                .map_err(|e| io::Error::new(e.kind(), format!("TUNSETOFFLOAD: {e}")))?;
        }
        // UDP GSO on writes needs no flag, only a kernel that knows it.
        let uso = offload && kernel_at_least(6, 2);
        let tun = Tun {
            fd,
            name: name.to_string(),
            mtu,
            vnet: offload,
            offload,
            uso: std::sync::atomic::AtomicBool::new(uso),
        };
        tun.configure(addrs)?;
        if offload {
            tracing::info!(
                tun = name,
                "TUN offload on (virtio-net header, TSO4/6, checksum)"
            );
        }
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

    /// Whether offload (virtio-net headers, TSO/GRO) is active.
    pub fn offload(&self) -> bool {
        self.offload
    }

    /// Whether UDP datagrams are coalesced on write (kernel USO support).
    pub fn udp_offload(&self) -> bool {
        self.uso.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Bytes one read can return: a 64 KiB super-packet with offload.
    pub fn read_capacity(&self) -> usize {
        if self.vnet {
            65536
        } else {
            self.mtu + 64
        }
    }

    /// Reads packets until EAGAIN, `max` packets (just one when not
    /// `batched`), or about `max` link frames' worth of bytes (a batch of
    /// 64 KiB super-packets would otherwise hold back everything else for
    /// milliseconds). With offload, each packet's virtio-net header goes to
    /// `meta[i]`; a checksum the kernel left partial is completed here.
    pub fn recv(
        &self,
        batch: &mut RecvBatch,
        meta: &mut [VnetHdr],
        max: usize,
        batched: bool,
        counters: &Counters,
    ) -> io::Result<usize> {
        batch.clear();
        let max = if batched {
            max.min(batch.capacity()).min(meta.len())
        } else {
            1
        };
        let mut n = 0;
        let mut bytes = 0;
        let byte_budget = max * self.mtu;
        while n < max && bytes < byte_budget {
            match self.read_one(batch.slot_mut(n), counters) {
                Ok(TunRead::Packet(len, hdr)) => {
                    meta[n] = hdr;
                    batch.set_len(n, len);
                    bytes += len;
                    n += 1;
                }
                Ok(TunRead::Dropped) => continue,
                Ok(TunRead::Empty) => break,
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

    /// Reads one packet into `slot` (at least [`Self::read_capacity`]
    /// bytes). With offload, its virtio-net header is returned and a
    /// checksum the kernel left partial is completed.
    pub fn read_one(&self, slot: &mut [u8], counters: &Counters) -> io::Result<TunRead> {
        let mut vh = [0u8; VNET_HDR_LEN];
        loop {
            counters.syscall(Syscall::TunRead);
            let r = if self.vnet {
                let iov = [
                    libc::iovec {
                        iov_base: vh.as_mut_ptr() as *mut libc::c_void,
                        iov_len: VNET_HDR_LEN,
                    },
                    libc::iovec {
                        iov_base: slot.as_mut_ptr() as *mut libc::c_void,
                        iov_len: slot.len(),
                    },
                ];
                // SAFETY: both iovecs point to live, exclusively borrowed buffers.
                unsafe { libc::readv(self.fd.as_raw_fd(), iov.as_ptr(), 2) }
            } else {
                // SAFETY: reads into the valid, exclusively borrowed slot.
                unsafe {
                    libc::read(
                        self.fd.as_raw_fd(),
                        slot.as_mut_ptr() as *mut libc::c_void,
                        slot.len(),
                    )
                }
            };
            let len = match cvt_size(r) {
                Ok(0) => return Ok(TunRead::Empty),
                Ok(len) => len,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(TunRead::Empty),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let len = if self.vnet {
                len.saturating_sub(VNET_HDR_LEN)
            } else {
                len
            };
            let hdr = if self.vnet {
                VnetHdr::parse(&vh)
            } else {
                VnetHdr::default()
            };
            if hdr.flags & VNET_F_NEEDS_CSUM != 0
                && !hdr.is_gso()
                && offload::complete_checksum(
                    &mut slot[..len],
                    hdr.csum_start as usize,
                    hdr.csum_offset as usize,
                )
                .is_err()
            {
                counters.count_drop(DropReason::Malformed);
                return Ok(TunRead::Dropped);
            }
            return Ok(TunRead::Packet(len, hdr));
        }
    }

    /// How deliveries to this TUN may be coalesced: TCP with offload, UDP
    /// too where the kernel takes UDP GSO writes.
    pub fn coalesce(&self) -> Coalesce {
        Coalesce {
            tcp: self.vnet && self.offload,
            udp: self.vnet && self.offload && self.udp_offload(),
        }
    }

    /// Plans and writes IP packets to the TUN (see
    /// [`Tun::write_planned`]), for callers without a send planner.
    pub fn send_all<'a>(
        &self,
        count: usize,
        packet: impl Fn(usize) -> &'a [u8],
        scratch: &mut TunWriteScratch,
        counters: &Counters,
    ) {
        let mut writes = std::mem::take(&mut scratch.writes);
        writes.clear();
        let c = self.coalesce();
        offload::plan_tun_writes(count, &packet, c.tcp, c.udp, &mut writes);
        self.write_planned(&writes, packet, scratch, counters);
        scratch.writes = writes;
    }

    /// Carries out planned TUN writes (`offload::plan_tun_writes`): one
    /// writev per write, a coalesced one as a GSO super-packet with its
    /// payloads gathered in place. Failures are counted, never fatal.
    pub fn write_planned<'a>(
        &self,
        writes: &[TunWrite],
        packet: impl Fn(usize) -> &'a [u8],
        scratch: &mut TunWriteScratch,
        counters: &Counters,
    ) {
        for w in writes {
            if !self.vnet {
                for k in w.start..w.start + w.count {
                    self.send(packet(k), counters);
                }
                continue;
            }
            if matches!(w.kind, WriteKind::Udp(..)) && !self.udp_offload() {
                // UDP GSO was refused earlier in this batch: one by one.
                for start in w.start..w.start + w.count {
                    let single = TunWrite {
                        start,
                        count: 1,
                        kind: WriteKind::Single,
                    };
                    self.write_run(&packet, scratch, single, counters);
                }
                continue;
            }
            self.write_run(&packet, scratch, *w, counters);
        }
    }

    fn write_run<'a>(
        &self,
        packet: &impl Fn(usize) -> &'a [u8],
        scratch: &mut TunWriteScratch,
        run: TunWrite,
        counters: &Counters,
    ) {
        scratch.iovs.clear();
        let segments = run.count;
        let total: usize;
        let coalesced = match run.kind {
            WriteKind::Single => None,
            WriteKind::Tcp(fi, bytes, _) => Some((fi.h.hdr_len(), bytes)),
            WriteKind::Udp(fi, bytes) => Some((fi.hdr_len(), bytes)),
        };
        match coalesced {
            None => {
                let p = packet(run.start);
                scratch.vnet = VnetHdr::default().emit();
                scratch.iovs.push(libc::iovec {
                    iov_base: scratch.vnet.as_ptr() as *mut libc::c_void,
                    iov_len: VNET_HDR_LEN,
                });
                scratch.iovs.push(libc::iovec {
                    iov_base: p.as_ptr() as *mut libc::c_void,
                    iov_len: p.len(),
                });
                total = p.len();
            }
            Some((hl, bytes)) => {
                let first = packet(run.start);
                if hl > scratch.hdr.len() {
                    counters.count_drop(DropReason::Malformed);
                    return;
                }
                scratch.hdr[..hl].copy_from_slice(&first[..hl]);
                let vh = match run.kind {
                    WriteKind::Tcp(fi, _, psh) => {
                        offload::coalesced_header(&mut scratch.hdr[..hl], &fi, bytes, psh)
                    }
                    WriteKind::Udp(fi, _) => {
                        offload::udp_coalesced_header(&mut scratch.hdr[..hl], &fi, bytes)
                    }
                    WriteKind::Single => return,
                };
                scratch.vnet = vh.emit();
                scratch.iovs.push(libc::iovec {
                    iov_base: scratch.vnet.as_ptr() as *mut libc::c_void,
                    iov_len: VNET_HDR_LEN,
                });
                scratch.iovs.push(libc::iovec {
                    iov_base: scratch.hdr.as_ptr() as *mut libc::c_void,
                    iov_len: hl,
                });
                for k in run.start..run.start + run.count {
                    let p = &packet(k)[hl..];
                    scratch.iovs.push(libc::iovec {
                        iov_base: p.as_ptr() as *mut libc::c_void,
                        iov_len: p.len(),
                    });
                }
                total = hl + bytes;
                Counters::inc(&counters.gro_writes, 1);
                Counters::inc(&counters.gro_segments, segments as u64);
            }
        }
        counters.syscall(Syscall::TunWrite);
        // SAFETY: every iovec points into a live borrowed packet or into
        // `scratch`, none of which change during the call; writev only reads.
        let r = unsafe {
            libc::writev(
                self.fd.as_raw_fd(),
                scratch.iovs.as_ptr(),
                scratch.iovs.len() as libc::c_int,
            )
        };
        match cvt_size(r) {
            Ok(_) => {
                Counters::inc(&counters.tun_tx_packets, segments as u64);
                Counters::inc(&counters.tun_tx_bytes, total as u64);
            }
            Err(e)
                if matches!(run.kind, WriteKind::Udp(..))
                    && e.raw_os_error() == Some(libc::EINVAL) =>
            {
                // This kernel does not take UDP GSO writes after all: stop
                // trying and deliver this run one datagram at a time.
                self.uso.store(false, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!("TUN refused a UDP GSO write; writing UDP datagrams one by one");
                for k in run.start..run.start + run.count {
                    let single = TunWrite {
                        start: k,
                        count: 1,
                        kind: WriteKind::Single,
                    };
                    self.write_run(packet, scratch, single, counters);
                }
            }
            Err(_) => {
                Counters::inc(&counters.tun_errors, 1);
                for _ in 0..segments {
                    counters.count_drop(DropReason::TunError);
                }
            }
        }
    }

    /// Writes one IP packet (no virtio-net header). A full queue or error is
    /// counted, never fatal.
    fn send(&self, packet: &[u8], counters: &Counters) -> bool {
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

/// Whether the running kernel is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    // SAFETY: utsname is plain old data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: passes a valid, exclusively borrowed utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return false;
    }
    let release: String = u
        .release
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8 as char)
        .collect();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|x| x.parse::<u32>().ok());
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The TUN device as the data path's host side, with its write arrays.
pub struct TunPort {
    pub tun: Tun,
    scratch: TunWriteScratch,
}

impl TunPort {
    pub fn new(tun: Tun) -> TunPort {
        TunPort {
            tun,
            scratch: TunWriteScratch::default(),
        }
    }
}

impl datapath::TunDevice for TunPort {
    fn read_one(&mut self, slot: &mut [u8], counters: &Counters) -> io::Result<TunRead> {
        self.tun.read_one(slot, counters)
    }

    fn coalesce(&self) -> Coalesce {
        self.tun.coalesce()
    }

    fn write_planned<'a>(
        &mut self,
        writes: &[TunWrite],
        packet: &dyn Fn(usize) -> &'a [u8],
        counters: &Counters,
    ) {
        self.tun
            .write_planned(writes, packet, &mut self.scratch, counters);
    }
}
