//! Thin, checked wrappers over the few libc calls the I/O layer needs.
//! Every `unsafe` block in the crate's platform code lives in this module,
//! `link.rs` or `tun.rs`, each with the reason it is sound.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Converts a libc return value (-1 = error) into `io::Result`.
pub fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

pub fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// Interface index of `name`, or a clear error if there is none.
pub fn if_index(name: &str) -> io::Result<i32> {
    let c = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name contains NUL"))?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("interface `{name}` does not exist"),
        ));
    }
    Ok(idx as i32)
}

/// An `ifreq` with the name filled in.
pub fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "interface name `{name}` must be 1..{} bytes",
                libc::IFNAMSIZ - 1
            ),
        ));
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    Ok(req)
}

/// A datagram socket of `family` for interface ioctls.
pub fn ctl_socket(family: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the returned fd is owned by OwnedFd below.
    let fd = cvt(unsafe { libc::socket(family, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` is a fresh, valid descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// ioctl with an `ifreq` argument.
pub fn ioctl_ifreq(fd: RawFd, req: libc::c_ulong, ifr: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: every request used with this helper takes a `struct ifreq *`,
    // and `ifr` is a valid, exclusively borrowed ifreq.
    cvt(unsafe { libc::ioctl(fd, req as _, ifr as *mut libc::ifreq) }).map(|_| ())
}

/// MTU of an interface.
pub fn if_mtu(name: &str) -> io::Result<usize> {
    let s = ctl_socket(libc::AF_INET)?;
    let mut r = ifreq(name)?;
    ioctl_ifreq(s.as_raw_fd(), libc::SIOCGIFMTU, &mut r)?;
    // SAFETY: SIOCGIFMTU filled the `ifru_mtu` member of the union.
    Ok(unsafe { r.ifr_ifru.ifru_mtu } as usize)
}

/// Hardware (MAC) address of an interface.
pub fn if_hwaddr(name: &str) -> io::Result<[u8; 6]> {
    let s = ctl_socket(libc::AF_INET)?;
    let mut r = ifreq(name)?;
    ioctl_ifreq(s.as_raw_fd(), libc::SIOCGIFHWADDR, &mut r)?;
    // SAFETY: SIOCGIFHWADDR filled the `ifru_hwaddr` member of the union.
    let sa = unsafe { r.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (d, s) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    Ok(mac)
}

/// Whether the interface is administratively up and has carrier.
pub fn if_running(name: &str) -> io::Result<bool> {
    let s = ctl_socket(libc::AF_INET)?;
    let mut r = ifreq(name)?;
    ioctl_ifreq(s.as_raw_fd(), libc::SIOCGIFFLAGS, &mut r)?;
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    let flags = unsafe { r.ifr_ifru.ifru_flags } as libc::c_int;
    Ok(flags & libc::IFF_UP != 0 && flags & libc::IFF_RUNNING != 0)
}

/// An eventfd used to wake the data-plane loop (shutdown, reload).
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain eventfd(2) call; ownership of the new fd is taken below.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
    // SAFETY: `fd` is a fresh, valid descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn eventfd_signal(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a valid u64 to an eventfd; errors (counter
    // overflow) are harmless since any pending value wakes the reader.
    unsafe { libc::write(fd, &one as *const u64 as *const libc::c_void, 8) };
}

pub fn eventfd_drain(fd: RawFd) {
    let mut v: u64 = 0;
    // SAFETY: reads 8 bytes into a valid u64; EAGAIN when empty is fine.
    unsafe { libc::read(fd, &mut v as *mut u64 as *mut libc::c_void, 8) };
}

/// poll(2) over `fds`, retrying on EINTR. Returns the number ready.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    loop {
        // SAFETY: `fds` is a valid, exclusively borrowed slice of pollfd.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        match cvt(r) {
            Ok(n) => return Ok(n as usize),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Puts the calling thread under SCHED_FIFO at `priority`, so it runs as
/// soon as it is woken instead of waiting behind busy normal tasks. Needs
/// CAP_SYS_NICE or an RLIMIT_RTPRIO of at least `priority` (systemd:
/// `LimitRTPRIO=`).
pub fn set_realtime(priority: u8) -> io::Result<()> {
    set_scheduler(libc::SCHED_FIFO, priority)
}

/// Puts the calling thread back under normal scheduling (SCHED_OTHER),
/// with the kernel's default time slice.
pub fn set_normal_scheduling() -> io::Result<()> {
    set_scheduler(libc::SCHED_OTHER, 0)
}

/// Binds the calling thread to CPU `cpu` (below `libc::CPU_SETSIZE`).
/// Fails (EINVAL) if that CPU is offline or outside the allowed set.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below CPU_SETSIZE (checked above), so the bit lies
    // inside `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of
    // the size passed.
    cvt(unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) })
        .map(|_| ())
}

/// `struct sched_attr` of sched_setattr(2), first layout
/// (`SCHED_ATTR_SIZE_VER0`, 48 bytes; the kernel accepts any known size).
#[repr(C)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
}

/// Puts the calling thread under normal scheduling (SCHED_OTHER) with its
/// nice value kept and, since Linux 6.12, a time slice of `slice`: the
/// EEVDF scheduler gives a task with a shorter slice an earlier deadline, so
/// it preempts busy tasks when woken, yet keeps its fair share and no more.
/// Kernels before 6.12 accept the call and keep their default slice.
pub fn set_fair_scheduling(slice: Duration) -> io::Result<()> {
    // SAFETY: getpriority(2) on the calling thread; -1 is also a valid
    // nice, so errno is cleared first and checked after.
    let nice = unsafe {
        *libc::__errno_location() = 0;
        libc::getpriority(libc::PRIO_PROCESS, 0)
    };
    if nice == -1 && io::Error::last_os_error().raw_os_error() != Some(0) {
        return Err(io::Error::last_os_error());
    }
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        sched_policy: libc::SCHED_OTHER as u32,
        sched_flags: 0,
        sched_nice: nice,
        sched_priority: 0,
        sched_runtime: slice.as_nanos().min(u64::MAX as u128) as u64,
        sched_deadline: 0,
        sched_period: 0,
    };
    // SAFETY: pid 0 is the calling thread; `attr` is a valid, fully
    // initialised sched_attr whose `size` says how much the kernel may read.
    cvt(unsafe {
        libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) as libc::c_int
    })
    .map(|_| ())
}

/// The calling thread's time slice as the kernel reports it in
/// `/proc/thread-self/sched` (`se.slice`, Linux 6.6+), if it does.
pub fn current_slice() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/sched").ok()?;
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "se.slice").then(|| v.trim().parse::<u64>().ok())?
        })
        .map(Duration::from_nanos)
}

fn set_scheduler(policy: libc::c_int, priority: u8) -> io::Result<()> {
    let p = libc::sched_param {
        sched_priority: priority as libc::c_int,
    };
    // SAFETY: pid 0 is the calling thread; `p` is a valid sched_param.
    cvt(unsafe { libc::sched_setscheduler(0, policy, &p) }).map(|_| ())
}

/// The kernel's CPU pressure-stall information (`/proc/pressure/cpu`),
/// kept open and read again from the start for each sample.
pub struct CpuPressure {
    file: std::fs::File,
}

impl CpuPressure {
    pub const PATH: &'static str = "/proc/pressure/cpu";

    /// Opens the file; fails where the kernel has no PSI (built without it
    /// or booted with `psi=0`).
    pub fn open() -> io::Result<CpuPressure> {
        let c = CpuPressure {
            file: std::fs::File::open(Self::PATH)?,
        };
        c.some_total_us()?;
        Ok(c)
    }

    /// Microseconds some task has waited for a CPU since boot.
    pub fn some_total_us(&self) -> io::Result<u64> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 256];
        let n = self.file.read_at(&mut buf, 0)?;
        parse_psi_some_total(&buf[..n]).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("no `some ... total=` line in {}", Self::PATH),
            )
        })
    }
}

/// The `total=` value of the `some` line of a PSI file.
fn parse_psi_some_total(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?;
    let line = text.lines().find(|l| l.starts_with("some "))?;
    let total = line
        .split_whitespace()
        .find_map(|f| f.strip_prefix("total="))?;
    total.parse().ok()
}

/// Binds packet socket `fd` to interface `ifindex` for frames of
/// EtherType `protocol` (host order; 0: it receives nothing).
pub fn bind_packet(fd: RawFd, ifindex: i32, protocol: u16) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex;
    // SAFETY: passes a valid sockaddr_ll and its exact size.
    cvt(unsafe {
        libc::bind(
            fd,
            &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// Sets an integer socket option.
pub fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    val: libc::c_int,
) -> io::Result<()> {
    // SAFETY: passes a pointer to a live c_int and its exact size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &val as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

pub fn is_would_block(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::ENOBUFS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_some_total_is_read_and_bad_text_refused() {
        let text = b"some avg10=0.05 avg60=5.38 avg300=7.58 total=1630651460\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(parse_psi_some_total(text), Some(1_630_651_460));
        assert_eq!(parse_psi_some_total(b"full avg10=0.00 total=7\n"), None);
        assert_eq!(parse_psi_some_total(b"some avg10=0.00 total=x\n"), None);
        assert_eq!(parse_psi_some_total(b"\xff\xfe"), None);
    }
}
