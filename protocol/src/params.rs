//! The plain settings a role is built from: routing timers and limits,
//! and the security settings. The daemon fills them from its TOML file
//! (`node_lib::config`); the simulator fills them directly.

use std::time::Duration;

/// Routing timers and limits (reloadable on SIGHUP).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RoutingConfig {
    pub beacon_interval_ms: u64,
    pub neighbor_timeout_ms: u64,
    pub max_hops: u8,
    pub candidates: usize,
    pub broadcast_ttl: u8,
    /// OBU, make-before-break handover: how long after attaching to a new
    /// RSU it tells the old one that it left (the old RSU then withdraws
    /// its routes). Longer than the backbone takes to carry the new route
    /// to the core, shorter than the neighbour timeout.
    pub handover_leave_ms: u64,
    /// OBU: a reply refreshes its route at least this often; changes (a new
    /// upstream or RSU, a handover) are answered at once. 0: a reply to
    /// every beacon of the upstream RSU (as before 0.2).
    pub reply_interval_ms: u64,
    /// OBU: rebroadcast a beacon only where it adds coverage (contention:
    /// a short random wait, silent if two copies at our hop count were
    /// heard meanwhile), always for children and for a neighbour that
    /// solicited. `false`: every first copy is rebroadcast.
    pub suppress_rebroadcasts: bool,
    /// Encrypted mode: small sealed frames to a neighbour heard directly
    /// below this reception (percent of its beacons; an RSU takes what its
    /// OBU reported) are sent twice. 0: never.
    pub repeat_below_pct: u8,
}

impl RoutingConfig {
    pub fn beacon_interval(&self) -> Duration {
        Duration::from_millis(self.beacon_interval_ms)
    }
    pub fn neighbor_timeout(&self) -> Duration {
        Duration::from_millis(self.neighbor_timeout_ms)
    }
    pub fn handover_leave(&self) -> Duration {
        Duration::from_millis(self.handover_leave_ms)
    }
    pub fn reply_interval(&self) -> Duration {
        Duration::from_millis(self.reply_interval_ms)
    }
    /// How long a downstream route lives without a reply refreshing it:
    /// two refresh intervals and a neighbour timeout (one reply may be
    /// lost), at least 2 x the neighbour timeout.
    pub fn route_timeout(&self) -> Duration {
        let nt = self.neighbor_timeout();
        (2 * self.reply_interval() + nt).max(2 * nt)
    }
    /// How long a silent neighbour is kept (and the routes through it).
    /// With replies on every beacon, the neighbour timeout; with a refresh
    /// interval, OBUs may be silent between replies: the route timeout.
    pub fn neighbor_expiry(&self) -> Duration {
        if self.reply_interval_ms == 0 {
            self.neighbor_timeout()
        } else {
            self.route_timeout()
        }
    }
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            beacon_interval_ms: 100,
            neighbor_timeout_ms: 300,
            max_hops: 8,
            candidates: 3,
            broadcast_ttl: 1,
            handover_leave_ms: 100,
            reply_interval_ms: 1000,
            suppress_rebroadcasts: true,
            repeat_below_pct: 80,
        }
    }
}

/// `[security] mode`: the configuration file's own type.
pub use config_file::SecurityMode;

/// `[security]`, validated.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SecurityConfig {
    pub mode: SecurityMode,
    pub key_file: Option<std::path::PathBuf>,
    /// OBU: RSU keys it may attach to.
    #[serde(serialize_with = "keys_hex")]
    pub trusted_rsus: Vec<secure::PublicKey>,
    /// RSU: OBU keys it accepts (unless `allow_any_obu`).
    #[serde(serialize_with = "keys_hex")]
    pub allowed_obus: Vec<secure::PublicKey>,
    pub allow_any_obu: bool,
    pub max_clock_skew_ms: u64,
    pub rekey_after_secs: u64,
    pub rekey_after_messages: u64,
    /// RSU: lifetime of the certificates it issues its OBUs (renewed at
    /// half-life). Bounds how long relays may honour a revoked key.
    pub cert_lifetime_secs: u64,
    /// Encrypted mode: the data AEAD, agreed in the handshake.
    #[serde(serialize_with = "cipher_name")]
    pub cipher: secure::CipherSetting,
    /// Encrypted mode: hybrid X25519 + ML-KEM-768 handshakes; peers must agree.
    pub post_quantum: bool,
}

fn cipher_name<S: serde::Serializer>(c: &secure::CipherSetting, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(c.as_str())
}

fn keys_hex<S: serde::Serializer>(keys: &[secure::PublicKey], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(keys.iter().map(|k| k.to_string()))
}

impl SecurityConfig {
    /// Extra bytes per data packet this mode adds on the wire.
    pub fn data_overhead(&self) -> usize {
        match self.mode {
            SecurityMode::Encrypted => common::wire::SEALED_OVERHEAD,
            _ => 0,
        }
    }
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            mode: SecurityMode::Off,
            key_file: None,
            trusted_rsus: Vec::new(),
            allowed_obus: Vec::new(),
            allow_any_obu: false,
            max_clock_skew_ms: 5000,
            rekey_after_secs: 120,
            rekey_after_messages: 1 << 60,
            cert_lifetime_secs: 600,
            cipher: secure::CipherSetting::Auto,
            post_quantum: false,
        }
    }
}

/// The first attachment sequence of an OBU process started at `unix_secs`:
/// seconds since 2023-11-14 (1 700 000 000), below 2^31 until 2091 (BIRD
/// reads route metrics as signed 32-bit numbers).
pub fn attach_seq_start(unix_secs: u64) -> u32 {
    (unix_secs.saturating_sub(1_700_000_000) & 0x7fff_ffff) as u32
}
