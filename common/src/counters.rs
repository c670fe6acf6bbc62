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
    /// A handshake refused because the two nodes' `[security] cipher` or
    /// `post_quantum` settings have nothing in common (logged at both).
    Incompatible,
    /// Best effort or background shed by the data plane: its queue was
    /// full while the radio's bulk lane was too (the channel carries less
    /// than arrives); the oldest of the lowest class goes first.
    Shed,
}

impl DropReason {
    pub const ALL: [DropReason; 24] = [
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
        DropReason::Incompatible,
        DropReason::Shed,
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
            DropReason::Incompatible => "incompatible",
            DropReason::Shed => "shed",
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

/// Which daemons export a counter as a Prometheus metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exported {
    /// Both daemons (one of them may never count it).
    Both,
    /// Only an OBU's `/metrics` has it.
    ObuOnly,
    /// In `/api/v1/stats` only (derived, or exported otherwise).
    No,
}

/// One counter of the table: where `/api/v1/stats` shows it, its
/// Prometheus family (the sample gets `_total`), and what it means. The
/// JSON stats, `/metrics`, `show stats` and the docs' counter list
/// (docs/OPERATIONS.md, checked by a test) are all made from [`TABLE`].
#[derive(Clone, Copy, Debug)]
pub struct CounterDef {
    pub section: &'static str,
    pub key: &'static str,
    pub metric: &'static str,
    pub exported: Exported,
    pub help: &'static str,
    pub read: fn(&Counters) -> u64,
}

impl CounterDef {
    /// `section.key`, as docs and `show stats` name it.
    pub fn name(&self) -> String {
        format!("{}.{}", self.section, self.key)
    }
}

/// The table of plain counters, one line each:
/// `field: "section" "key" => "metric" Exported, "help"`. The macro makes
/// the field in [`Counters`] and the [`TABLE`] entry from the same line.
macro_rules! counter_table {
    ($( $field:ident : $section:literal $key:literal => $metric:literal $exported:ident, $help:literal; )*) => {
        /// All counters of one node.
        #[derive(Default)]
        pub struct Counters {
            $( #[doc = $help] pub $field: AtomicU64, )*
            /// Airtime estimates (`common::airtime`), µs: our own frames by
            /// kind (control, data), and the frames we heard.
            pub airtime_tx_us: [AtomicU64; 2],
            pub airtime_rx_us: AtomicU64,
            pub drops: [AtomicU64; DropReason::ALL.len()],
            /// Every drop counted, whatever its reason (for per-class
            /// drops: the planner reads it before and after an action).
            pub drops_total: AtomicU64,
            /// Per priority class (`common::priority::Class::ALL` order):
            /// packets planned onto the link (a super-packet once), packets
            /// dropped on the way,
            /// and packets waiting in the TUN backlog (a gauge).
            pub class_tx_packets: [AtomicU64; 4],
            pub class_dropped: [AtomicU64; 4],
            pub class_queued: [AtomicU64; 4],
            pub syscalls: [AtomicU64; Syscall::ALL.len()],
            pub batches: [BatchHistogram; Dir::ALL.len()],
        }

        /// Every counter `/api/v1/stats` shows outside `drops`,
        /// `batching.syscalls` and `batching.batches`: the plain ones, then
        /// those derived from others.
        pub const TABLE: &[CounterDef] = &[
            $( CounterDef {
                section: $section,
                key: $key,
                metric: $metric,
                exported: Exported::$exported,
                help: $help,
                read: |c| c.$field.load(Ordering::Relaxed),
            }, )*
            CounterDef {
                section: "batching",
                key: "syscalls_total",
                metric: "v2x_syscalls",
                exported: Exported::No,
                help: "Sum of all `batching.syscalls` counters (exported by operation).",
                read: |c| Syscall::ALL.iter().map(|&s| c.syscalls(s)).sum(),
            },
            CounterDef {
                section: "batching",
                key: "packets_moved",
                metric: "",
                exported: Exported::No,
                help: "`link.rx_frames + link.tx_frames + tun.rx_packets + tun.tx_packets`; `syscalls_total / packets_moved` is the syscall cost per packet.",
                read: |c| {
                    Counters::get(&c.link_rx_frames)
                        + Counters::get(&c.link_tx_frames)
                        + Counters::get(&c.tun_rx_packets)
                        + Counters::get(&c.tun_tx_packets)
                },
            },
            CounterDef {
                section: "airtime",
                key: "tx_control_us",
                metric: "v2x_airtime_seconds",
                exported: Exported::No,
                help: "Estimated airtime of our frames carrying only control messages, µs (exported in seconds, `kind=\"control\"`).",
                read: |c| Counters::get(&c.airtime_tx_us[0]),
            },
            CounterDef {
                section: "airtime",
                key: "tx_data_us",
                metric: "v2x_airtime_seconds",
                exported: Exported::No,
                help: "Estimated airtime of our frames carrying data, µs (exported in seconds, `kind=\"data\"`).",
                read: |c| Counters::get(&c.airtime_tx_us[1]),
            },
            CounterDef {
                section: "airtime",
                key: "rx_us",
                metric: "v2x_airtime_heard_seconds",
                exported: Exported::No,
                help: "Estimated airtime of the frames this node heard, µs (exported in seconds).",
                read: |c| Counters::get(&c.airtime_rx_us),
            },
        ];
    };
}

counter_table! {
    link_rx_frames: "link" "rx_frames" => "v2x_link_rx_frames" Both, "Frames received on the radio link.";
    link_rx_bytes: "link" "rx_bytes" => "v2x_link_rx_bytes" Both, "Bytes received on the radio link (Ethernet frames, header included).";
    link_rx_messages: "link" "rx_messages" => "v2x_link_rx_messages" Both, "Protocol messages received (several per aggregated frame).";
    link_tx_frames: "link" "tx_frames" => "v2x_link_tx_frames" Both, "Frames sent on the radio link.";
    link_tx_bytes: "link" "tx_bytes" => "v2x_link_tx_bytes" Both, "Bytes sent on the radio link (Ethernet frames, header included).";
    link_tx_messages: "link" "tx_messages" => "v2x_link_tx_messages" Both, "Protocol messages sent.";
    link_repeated_frames: "link" "repeated_frames" => "v2x_link_repeated_frames" Both, "Frames sent a second time: small sealed data to a neighbour heard weakly (`[routing] repeat_below_pct`); the receiver drops the copy it does not need as a `duplicate`.";
    link_errors: "link" "errors" => "v2x_link_errors" Both, "Errors from the link socket (failed receives and sends).";
    tun_rx_packets: "tun" "rx_packets" => "v2x_tun_rx_packets" Both, "IP packets read from the TUN device (sent by the host; a super-packet is one).";
    tun_rx_bytes: "tun" "rx_bytes" => "v2x_tun_rx_bytes" Both, "Bytes read from the TUN device.";
    tun_tx_packets: "tun" "tx_packets" => "v2x_tun_tx_packets" Both, "IP packets written to the TUN device (delivered to the host; every coalesced segment counts).";
    tun_tx_bytes: "tun" "tx_bytes" => "v2x_tun_tx_bytes" Both, "Bytes written to the TUN device.";
    tun_errors: "tun" "errors" => "v2x_tun_errors" Both, "Errors from the TUN device (each also counts as a `tun_error` drop).";
    aggregated_frames: "batching" "aggregated_frames" => "v2x_aggregated_frames" Both, "Frames that carried more than one message.";
    aggregated_messages: "batching" "aggregated_messages" => "v2x_aggregated_messages" Both, "Messages that shared a frame with an earlier one.";
    partial_sends: "batching" "partial_sends" => "v2x_partial_sends" Both, "sendmmsg calls that sent fewer frames than asked.";
    send_retries: "batching" "send_retries" => "v2x_send_retries" Both, "Sends retried after a full socket queue.";
    tso_packets: "offload" "tso_packets" => "v2x_offload_tso_packets" Both, "TUN super-packets (TSO) cut into link-MTU segments.";
    tso_segments: "offload" "tso_segments" => "v2x_offload_tso_segments" Both, "Segments cut from TUN super-packets.";
    gro_writes: "offload" "gro_writes" => "v2x_offload_gro_writes" Both, "TUN writes that carried coalesced TCP segments or UDP datagrams.";
    gro_segments: "offload" "gro_segments" => "v2x_offload_gro_segments" Both, "Segments and datagrams delivered through coalesced TUN writes.";
    relayed: "routing" "relayed" => "v2x_relayed" Both, "Data messages forwarded for other nodes (only an OBU relays).";
    v2v_turnaround: "routing" "v2v_turnaround" => "v2x_v2v_turnaround" Both, "RSU: upstream data turned around toward another attached OBU.";
    upstream_changes: "routing" "upstream_changes" => "v2x_upstream_changes" ObuOnly, "OBU: upstream changes, including the first choice and the loss of all upstreams.";
    failovers: "routing" "failovers" => "v2x_failovers" ObuOnly, "OBU: upstream changes forced because the path in use stopped working (its next hop timed out, or leads away from the RSU now).";
    hold_downs: "routing" "hold_downs" => "v2x_hold_downs" ObuOnly, "OBU: next hops that timed out and were held down (ranked below every other path for 2 s).";
    handshakes: "routing" "handshakes" => "v2x_security_handshakes" Both, "Security handshakes completed (sessions established or renewed).";
    handshakes_refused: "security" "handshakes_refused" => "v2x_handshakes_refused" Both, "RSU: handshakes not answered because its handshake budget was spent (each also a `rate_limited` drop); OBU: handshakes the RSU refused for mismatched settings.";
    sessions_confirmed: "security" "sessions_confirmed" => "v2x_sessions_confirmed" ObuOnly, "OBU, encrypted: keepalives sent because our RSU sealed data for us that we could not open (it still used a session we had dropped); at most one a second.";
    restarts_seen: "routing" "restarts_seen" => "v2x_restarts_seen" Both, "OBU: RSU restarts noticed from the epoch in its beacons; encrypted, each renews the session at once.";
    seq_resyncs: "routing" "seq_resyncs" => "v2x_seq_resyncs" Both, "Sequence windows re-synchronised after a source's numbers jumped out of them.";
    handovers: "routing" "handovers" => "v2x_handovers" Both, "OBU: changes of RSU made before breaking (attached to the new RSU, then left the old one).";
    obus_left: "routing" "obus_left" => "v2x_obus_left" Both, "RSU: OBUs that left for another RSU; their routes were withdrawn at once.";
    certs_issued: "security" "certs_issued" => "v2x_certs_issued" Both, "RSU: certificates sent to attached OBUs (secure modes).";
    certs_accepted: "security" "certs_accepted" => "v2x_certs_accepted" Both, "OBU: certificates for our own key accepted from a trusted RSU.";
    obus_revoked: "security" "revoked" => "v2x_revoked" Both, "After a trust-list reload: OBUs cut (RSU), RSUs left (OBU).";
    broadcasts_verified: "security" "broadcasts_verified" => "v2x_broadcasts_verified" Both, "Signed broadcasts whose certificate and signature checked out.";
    backbone_installs: "backbone" "installs" => "v2x_backbone_route_installs" Both, "Kernel routes added or replaced (RSU exports, OBU `[tun] routes`).";
    backbone_removals: "backbone" "removals" => "v2x_backbone_route_removals" Both, "Kernel routes removed (OBU left or expired, a new metric, the daemon stopping).";
    backbone_failures: "backbone" "failures" => "v2x_backbone_route_failures" Both, "Kernel route operations that failed (each is retried within a second).";
}

/// The counter list of docs/OPERATIONS.md, made from [`TABLE`] (a test
/// keeps the file equal to it).
pub fn markdown() -> String {
    let mut out = String::from(
        "| `/api/v1/stats` | Prometheus sample | Role | Meaning |\n|---|---|---|---|\n",
    );
    for d in TABLE {
        let (sample, role) = match d.exported {
            Exported::Both => (format!("`{}_total`", d.metric), "both"),
            Exported::ObuOnly => (format!("`{}_total`", d.metric), "**OBU only**"),
            Exported::No => ("–".to_string(), "both"),
        };
        out.push_str(&format!(
            "| `{}` | {sample} | {role} | {} |\n",
            d.name(),
            d.help
        ));
    }
    out
}

/// The table's counters of one section, in table order.
pub fn section(name: &str) -> impl Iterator<Item = &'static CounterDef> + '_ {
    TABLE.iter().filter(move |d| d.section == name)
}

/// The sections of [`TABLE`], in the order they first appear.
pub fn sections() -> Vec<&'static str> {
    let mut out: Vec<&str> = Vec::new();
    for d in TABLE {
        if !out.contains(&d.section) {
            out.push(d.section);
        }
    }
    out
}

impl Counters {
    pub fn count_drop(&self, r: DropReason) {
        add(&self.drops[r as usize], 1);
        add(&self.drops_total, 1);
    }
    pub fn count_drops(&self, r: DropReason, n: u64) {
        add(&self.drops[r as usize], n);
        add(&self.drops_total, n);
    }
    /// Sets the TUN backlog's waiting packets per class.
    pub fn set_class_queued(&self, queued: [usize; 4]) {
        for (c, n) in self.class_queued.iter().zip(queued) {
            c.store(n as u64, Ordering::Relaxed);
        }
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
