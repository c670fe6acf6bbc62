//! Counters shared between the data-plane thread (writer) and the API
//! (reader). Plain relaxed atomics: no lock on the hot path.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a frame, message or packet was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    Truncated,
    UnknownVersion,
    UnknownType,
    Malformed,
    /// No route (no upstream, unknown destination).
    NoRoute,
    /// TTL reached zero.
    TtlExpired,
    /// Would have gone back to the neighbour it came from.
    Loop,
    /// Already seen (broadcast de-duplication, stale beacon).
    Duplicate,
    /// Addressed to another node or for another RSU.
    NotForUs,
    /// Our own frame heard back.
    OwnFrame,
    /// Packet larger than fits a frame.
    TooBig,
    /// Not an IP packet we can route.
    NotIp,
    /// The link refused the frame (interface down, error).
    LinkError,
    /// The TUN refused the packet (queue full, error).
    TunError,
    /// A control message without a valid signature, or signed by a key
    /// that is not trusted, or a handshake that failed.
    AuthFailed,
    /// A captured message played again (stale time, old sequence or counter).
    Replayed,
    /// Sealed data whose tag did not verify (corrupted or forged).
    DecryptFailed,
    /// Sealed data for or from a peer without a current session.
    NoSession,
    /// An unprotected message where the security mode requires protection.
    Unprotected,
    /// Dropped by the kernel before the daemon read it: the link socket's
    /// receive queue was full (the data plane fell behind).
    LinkQueueFull,
    /// Over a rate limit that bounds the CPU spent on costly messages
    /// (handshakes from unknown or too eager sources).
    RateLimited,
    /// Signed under a certificate that is out of its lifetime (or a reply
    /// without a certificate where one is required).
    CertExpired,
}

impl DropReason {
    pub const ALL: [DropReason; 22] = [
        DropReason::Truncated,
        DropReason::UnknownVersion,
        DropReason::UnknownType,
        DropReason::Malformed,
        DropReason::NoRoute,
        DropReason::TtlExpired,
        DropReason::Loop,
        DropReason::Duplicate,
        DropReason::NotForUs,
        DropReason::OwnFrame,
        DropReason::TooBig,
        DropReason::NotIp,
        DropReason::LinkError,
        DropReason::TunError,
        DropReason::AuthFailed,
        DropReason::Replayed,
        DropReason::DecryptFailed,
        DropReason::NoSession,
        DropReason::Unprotected,
        DropReason::LinkQueueFull,
        DropReason::RateLimited,
        DropReason::CertExpired,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::UnknownVersion => "unknown_version",
            DropReason::UnknownType => "unknown_type",
            DropReason::Malformed => "malformed",
            DropReason::NoRoute => "no_route",
            DropReason::TtlExpired => "ttl_expired",
            DropReason::Loop => "loop",
            DropReason::Duplicate => "duplicate",
            DropReason::NotForUs => "not_for_us",
            DropReason::OwnFrame => "own_frame",
            DropReason::TooBig => "too_big",
            DropReason::NotIp => "not_ip",
            DropReason::LinkError => "link_error",
            DropReason::TunError => "tun_error",
            DropReason::AuthFailed => "auth_failed",
            DropReason::Replayed => "replayed",
            DropReason::DecryptFailed => "decrypt_failed",
            DropReason::NoSession => "no_session",
            DropReason::Unprotected => "unprotected",
            DropReason::LinkQueueFull => "link_queue_full",
            DropReason::RateLimited => "rate_limited",
            DropReason::CertExpired => "cert_expired",
        }
    }
}

impl From<crate::wire::WireError> for DropReason {
    fn from(e: crate::wire::WireError) -> Self {
        use crate::wire::WireError;
        match e {
            WireError::Truncated => DropReason::Truncated,
            WireError::UnknownVersion => DropReason::UnknownVersion,
            WireError::UnknownType => DropReason::UnknownType,
            WireError::Malformed => DropReason::Malformed,
        }
    }
}

/// Direction of a batch, for the batch-size histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    LinkRx,
    LinkTx,
    TunRx,
    TunTx,
}

impl Dir {
    pub const ALL: [Dir; 4] = [Dir::LinkRx, Dir::LinkTx, Dir::TunRx, Dir::TunTx];
    pub fn as_str(&self) -> &'static str {
        match self {
            Dir::LinkRx => "link_rx",
            Dir::LinkTx => "link_tx",
            Dir::TunRx => "tun_rx",
            Dir::TunTx => "tun_tx",
        }
    }
}

/// Syscalls on the data path, counted by operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syscall {
    Recvmmsg,
    Sendmmsg,
    Recvmsg,
    Sendmsg,
    TunRead,
    TunWrite,
    Poll,
}

impl Syscall {
    pub const ALL: [Syscall; 7] = [
        Syscall::Recvmmsg,
        Syscall::Sendmmsg,
        Syscall::Recvmsg,
        Syscall::Sendmsg,
        Syscall::TunRead,
        Syscall::TunWrite,
        Syscall::Poll,
    ];
    pub fn as_str(&self) -> &'static str {
        match self {
            Syscall::Recvmmsg => "recvmmsg",
            Syscall::Sendmmsg => "sendmmsg",
            Syscall::Recvmsg => "recvmsg",
            Syscall::Sendmsg => "sendmsg",
            Syscall::TunRead => "tun_read",
            Syscall::TunWrite => "tun_write",
            Syscall::Poll => "poll",
        }
    }
}

/// Upper bounds of the batch-size histogram buckets (the last is +Inf).
pub const BATCH_BUCKETS: [u64; 8] = [1, 2, 4, 8, 16, 32, 64, 128];

/// A histogram of batch sizes: cumulative-free bucket counts plus sum.
#[derive(Default)]
pub struct BatchHistogram {
    /// `buckets[i]` counts batches with size <= BATCH_BUCKETS[i] and
    /// > BATCH_BUCKETS[i-1]; the extra last bucket counts larger ones.
    pub buckets: [AtomicU64; BATCH_BUCKETS.len() + 1],
    /// Number of batches.
    pub count: AtomicU64,
    /// Packets in all batches.
    pub sum: AtomicU64,
}

impl BatchHistogram {
    pub fn observe(&self, size: usize) {
        let size = size as u64;
        let i = BATCH_BUCKETS
            .iter()
            .position(|&b| size <= b)
            .unwrap_or(BATCH_BUCKETS.len());
        add(&self.buckets[i], 1);
        add(&self.count, 1);
        add(&self.sum, size);
    }
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// All counters of one node.
#[derive(Default)]
pub struct Counters {
    pub link_rx_frames: AtomicU64,
    pub link_rx_bytes: AtomicU64,
    pub link_rx_messages: AtomicU64,
    pub link_tx_frames: AtomicU64,
    pub link_tx_bytes: AtomicU64,
    pub link_tx_messages: AtomicU64,
    pub tun_rx_packets: AtomicU64,
    pub tun_rx_bytes: AtomicU64,
    pub tun_tx_packets: AtomicU64,
    pub tun_tx_bytes: AtomicU64,
    /// Frames that carried more than one message.
    pub aggregated_frames: AtomicU64,
    /// Messages that rode in a frame with others (beyond the first).
    pub aggregated_messages: AtomicU64,
    /// sendmmsg calls that sent fewer frames than asked.
    pub partial_sends: AtomicU64,
    /// Sends retried after EAGAIN/ENOBUFS.
    pub send_retries: AtomicU64,
    pub link_errors: AtomicU64,
    pub tun_errors: AtomicU64,
    /// Upstream data turned around at the RSU toward another OBU.
    pub v2v_turnaround: AtomicU64,
    /// Data messages forwarded as a relay.
    pub relayed: AtomicU64,
    pub upstream_changes: AtomicU64,
    /// Security handshakes completed (sessions established or renewed).
    pub handshakes: AtomicU64,
    /// Restarts of a peer noticed (an RSU beacon with a new epoch): its
    /// sequence windows start afresh and, encrypted, the session is renewed.
    pub restarts_seen: AtomicU64,
    /// Sequence windows re-synchronised after a source's numbers jumped out
    /// of them (a restart not otherwise seen, or the end of a forgery).
    pub seq_resyncs: AtomicU64,
    /// OBU: changes of RSU while the old one was still heard
    /// (make-before-break: attached to the new one, then left the old).
    pub handovers: AtomicU64,
    /// RSU: OBUs that told us they left for another RSU (routes withdrawn).
    pub obus_left: AtomicU64,
    /// Secure modes. RSU: certificates sent to OBUs. OBU: certificates of
    /// our own accepted from an RSU.
    pub certs_issued: AtomicU64,
    pub certs_accepted: AtomicU64,
    /// Trust lists reloaded. RSU: OBUs cut (session and routes removed).
    /// OBU: RSUs left because their keys are no longer trusted.
    pub obus_revoked: AtomicU64,
    /// Signed broadcasts whose certificate and signature checked out.
    pub broadcasts_verified: AtomicU64,
    /// RSU, `[backbone] export_routes`: kernel routes added or replaced,
    /// removed, and operations that failed (retried).
    pub backbone_installs: AtomicU64,
    pub backbone_removals: AtomicU64,
    pub backbone_failures: AtomicU64,
    /// Airtime estimates (`common::airtime`), µs: our own frames by kind
    /// (control, data), and the frames we heard.
    pub airtime_tx_us: [AtomicU64; 2],
    pub airtime_rx_us: AtomicU64,
    /// TUN offload: super-packets read and cut into segments.
    pub tso_packets: AtomicU64,
    pub tso_segments: AtomicU64,
    /// TUN offload: segments coalesced into super-packets on write.
    pub gro_writes: AtomicU64,
    pub gro_segments: AtomicU64,
    pub drops: [AtomicU64; DropReason::ALL.len()],
    pub syscalls: [AtomicU64; Syscall::ALL.len()],
    pub batches: [BatchHistogram; Dir::ALL.len()],
}

impl Counters {
    pub fn count_drop(&self, r: DropReason) {
        add(&self.drops[r as usize], 1);
    }
    pub fn count_drops(&self, r: DropReason, n: u64) {
        add(&self.drops[r as usize], n);
    }
    pub fn drops(&self, r: DropReason) -> u64 {
        self.drops[r as usize].load(Ordering::Relaxed)
    }
    pub fn syscall(&self, s: Syscall) {
        add(&self.syscalls[s as usize], 1);
    }
    pub fn syscalls(&self, s: Syscall) -> u64 {
        self.syscalls[s as usize].load(Ordering::Relaxed)
    }
    pub fn batch(&self, d: Dir, size: usize) {
        if size > 0 {
            self.batches[d as usize].observe(size);
        }
    }
    pub fn histogram(&self, d: Dir) -> &BatchHistogram {
        &self.batches[d as usize]
    }
    pub fn inc(c: &AtomicU64, n: u64) {
        add(c, n);
    }
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets() {
        let h = BatchHistogram::default();
        for s in [1, 2, 3, 64, 65, 500] {
            h.observe(s);
        }
        let b: Vec<u64> = h
            .buckets
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect();
        assert_eq!(b, vec![1, 1, 1, 0, 0, 0, 1, 1, 1]);
        assert_eq!(h.sum.load(Ordering::Relaxed), 635);
        assert_eq!(h.count.load(Ordering::Relaxed), 6);
    }

    #[test]
    fn drop_reason_index_matches_all() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        for (i, s) in Syscall::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
    }
}
