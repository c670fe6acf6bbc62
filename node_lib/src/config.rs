//! TOML configuration: parsing, defaults and validation.
//!
//! The schema is a public interface (docs/OPERATIONS.md). Unknown keys and
//! out-of-range values are errors that name the key and the allowed range.

use common::ip::IpPrefix;
use common::wire::DEFAULT_ETHERTYPE;
use common::NodeId;
pub use protocol::params::{RoutingConfig, SecurityConfig, SecurityMode};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Exit code for configuration errors (sysexits.h EX_CONFIG).
pub const EX_CONFIG: i32 = 78;

/// Which daemon reads the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleKind {
    Obu,
    Rsu,
}

impl RoleKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            RoleKind::Obu => "obu",
            RoleKind::Rsu => "rsu",
        }
    }
}

// The file as written: `config_file`'s types (shared with the testbed and
// the lab, which write it); here each value is checked and defaulted.
use common::priority::{Class, ClassMap};
use config_file::{
    Api as RawApi, Backbone as RawBackbone, Batching as RawBatching, ConfigFile as RawConfig,
    Dataplane as RawDataplane, Link as RawLink, Log as RawLog, Node as RawNode,
    Priority as RawPriority, Routing as RawRouting, Security as RawSecurity, Tun as RawTun,
};

/// A configuration error, naming the key where there is one (the lab's
/// scenario errors are the same type).
pub type ConfigError = common::keyed_error::KeyedError;

/// Normal scheduling unless asked: realtime priority cuts tail latency
/// under CPU contention but shrinks batches when the sender shares the
/// CPUs, which cost up to half the small-packet and a third of the TCP
/// rate as a default (docs/BENCHMARKS.md).
const DEFAULT_REALTIME_PRIORITY: i64 = 0;

/// The kernel's own slice unless asked (see `DataplaneConfig::slice_us`).
const DEFAULT_SLICE_US: i64 = 0;

/// The rtnetlink protocol number of the routes an RSU exports (named
/// `v2xd` by config/rt_protos.d/v2xd.conf). Free in the kernel's and
/// iproute2's lists; BIRD learns our routes by it.
pub const DEFAULT_ROUTE_PROTOCOL: u8 = 201;

/// `[backbone]` (RSU): kernel routes for attached OBUs and the uplink.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BackboneConfig {
    /// Install a host route via the TUN for each address of each attached
    /// OBU (and remove it when the OBU leaves or expires).
    pub export_routes: bool,
    /// Kernel routing table (254: main).
    pub table: u32,
    /// rtnetlink protocol number of our routes: leftovers of it are
    /// removed at start; BIRD selects our routes by it.
    pub protocol: u8,
    /// Fixed route metric; `None`: the OBU's attachment sequence, so the
    /// newest attachment wins in the backbone (the shipped BIRD filter).
    pub metric: Option<u32>,
    /// The uplink counts as up while this exact prefix is in `table`.
    pub uplink_check: Option<IpPrefix>,
    /// The operator's preference for this RSU, carried in beacons.
    pub preference: u8,
}

impl Default for BackboneConfig {
    fn default() -> Self {
        BackboneConfig {
            export_routes: false,
            table: 254,
            protocol: DEFAULT_ROUTE_PROTOCOL,
            metric: None,
            uplink_check: None,
            preference: 0,
        }
    }
}

/// A prefix with no host bits set (what the kernel takes as a route).
fn route_prefix(key: &str, s: &str) -> Result<IpPrefix, ConfigError> {
    let p: IpPrefix = s.parse().map_err(|e| ConfigError::key(key, e))?;
    let net = common::ip::network(&p);
    if net != p.addr {
        return Err(ConfigError::key(
            key,
            format!("`{s}` has host bits set; the route is {net}/{}", p.len),
        ));
    }
    Ok(p)
}

/// `[backbone]`: RSU only.
fn parse_backbone(b: Option<RawBackbone>, role: RoleKind) -> Result<BackboneConfig, ConfigError> {
    let Some(b) = b else {
        return Ok(BackboneConfig::default());
    };
    if role != RoleKind::Rsu {
        return Err(ConfigError::key(
            "backbone",
            "is for RSUs (an OBU's routes are `tun.routes`)",
        ));
    }
    let d = BackboneConfig::default();
    let protocol = ranged("backbone.protocol", b.protocol, d.protocol as i64, 5, 255)? as u8;
    if matches!(protocol, 8..=18 | 42 | 99 | 186..=192) {
        tracing::debug!(
            protocol,
            "backbone.protocol is a number iproute2 names for another daemon"
        );
    }
    Ok(BackboneConfig {
        export_routes: b.export_routes.unwrap_or(false),
        table: ranged("backbone.table", b.table, 254, 1, u32::MAX as i64)? as u32,
        protocol,
        metric: match b.metric {
            None => None,
            v => Some(ranged("backbone.metric", v, 0, 0, i32::MAX as i64)? as u32),
        },
        uplink_check: b
            .uplink_check
            .map(|s| route_prefix("backbone.uplink_check", &s))
            .transpose()?,
        preference: ranged("backbone.preference", b.preference, 0, 0, 255)? as u8,
    })
}

fn parse_keys(key: &str, v: Option<Vec<String>>) -> Result<Vec<secure::PublicKey>, ConfigError> {
    v.unwrap_or_default()
        .iter()
        .map(|s| secure::PublicKey::from_hex(s).map_err(|e| ConfigError::key(key, e.to_string())))
        .collect()
}

fn parse_security(r: RawSecurity, role: RoleKind) -> Result<SecurityConfig, ConfigError> {
    let mode = match r.mode.as_deref() {
        None => SecurityMode::Off,
        Some(m) => m
            .parse()
            .map_err(|why: String| ConfigError::key("security.mode", why))?,
    };
    let cipher = match r.cipher.as_deref() {
        None => secure::CipherSetting::Auto,
        Some(s) => secure::CipherSetting::parse(s).ok_or_else(|| {
            ConfigError::key(
                "security.cipher",
                format!("`{s}` is not one of: auto, aes-256-gcm, chacha20-poly1305"),
            )
        })?,
    };
    let d = SecurityConfig::default();
    let c = SecurityConfig {
        cipher,
        post_quantum: r.post_quantum.unwrap_or(false),
        mode,
        key_file: r.key_file.map(std::path::PathBuf::from),
        trusted_rsus: parse_keys("security.trusted_rsus", r.trusted_rsus)?,
        allowed_obus: parse_keys("security.allowed_obus", r.allowed_obus)?,
        allow_any_obu: r.allow_any_obu.unwrap_or(false),
        max_clock_skew_ms: ranged(
            "security.max_clock_skew_ms",
            r.max_clock_skew_ms,
            d.max_clock_skew_ms as i64,
            100,
            600_000,
        )? as u64,
        rekey_after_secs: ranged(
            "security.rekey_after_secs",
            r.rekey_after_secs,
            d.rekey_after_secs as i64,
            10,
            86_400,
        )? as u64,
        rekey_after_messages: ranged(
            "security.rekey_after_messages",
            r.rekey_after_messages,
            d.rekey_after_messages as i64,
            1000,
            1 << 60,
        )? as u64,
        cert_lifetime_secs: ranged(
            "security.cert_lifetime_secs",
            r.cert_lifetime_secs,
            d.cert_lifetime_secs as i64,
            10,
            86_400,
        )? as u64,
    };
    if mode == SecurityMode::Off {
        return Ok(c);
    }
    if c.key_file.is_none() {
        return Err(ConfigError::key(
            "security.key_file",
            format!(
                "is required when mode = \"{}\" (create one with `{} keygen FILE`)",
                r.mode.as_deref().unwrap_or_default(),
                role.as_str()
            ),
        ));
    }
    match role {
        RoleKind::Obu if c.trusted_rsus.is_empty() => Err(ConfigError::key(
            "security.trusted_rsus",
            "needs at least one RSU public key: an OBU attaches only to trusted RSUs",
        )),
        RoleKind::Rsu if c.allowed_obus.is_empty() && !c.allow_any_obu => Err(ConfigError::key(
            "security.allowed_obus",
            "needs OBU public keys, or set allow_any_obu = true to accept every OBU with a valid key",
        )),
        _ => Ok(c),
    }
}

/// Where the daemon reads its key: systemd's credentials directory when the
/// unit hands the key over that way (`LoadCredential=obu.key:...`, so a
/// root-only key file serves an unprivileged service), else `key_file`.
pub fn key_file_path(configured: &Path) -> std::path::PathBuf {
    if let (Some(dir), Some(name)) = (
        std::env::var_os("CREDENTIALS_DIRECTORY"),
        configured.file_name(),
    ) {
        let p = Path::new(&dir).join(name);
        if p.exists() {
            return p;
        }
    }
    configured.to_path_buf()
}

/// In a secure mode, a `key_file` that does not exist: the error that
/// says to make the key first.
fn missing_key(text: &str, role: RoleKind) -> Result<(), ConfigError> {
    let Ok(v) = toml::from_str::<toml::Value>(text) else {
        return Ok(());
    };
    let sec = &v.get("security");
    let mode = sec.and_then(|s| s.get("mode")).and_then(|m| m.as_str());
    let file = sec.and_then(|s| s.get("key_file")).and_then(|k| k.as_str());
    match (mode, file) {
        (Some("authenticated" | "encrypted"), Some(f)) if !key_file_path(Path::new(f)).exists() => {
            Err(ConfigError::key(
                "security.key_file",
                format!(
                    "{f} does not exist: make this node's key first with `{} keygen {f}` (it also writes {f}.pub, the public key for the peers' trust lists)",
                    role.as_str()
                ),
            ))
        }
        _ => Ok(()),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BatchingConfig {
    pub enabled: bool,
    pub max_batch: usize,
    pub aggregate: bool,
}

/// How the data-plane thread is scheduled.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DataplaneConfig {
    /// SCHED_FIFO priority of the data-plane thread (1..=99); 0: normal
    /// scheduling.
    pub realtime_priority: u8,
    /// When a nonzero `realtime_priority` applies.
    pub realtime: RealtimeMode,
    /// Time slice asked of the kernel's fair scheduler for the data-plane
    /// thread, in microseconds (100..=100000); 0: the kernel's default.
    pub slice_us: u32,
    /// CPU the data-plane thread is bound to; `None`: any.
    pub cpu: Option<u16>,
}

/// When the data-plane thread runs under realtime scheduling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RealtimeMode {
    /// All the time.
    Always,
    /// While other tasks wait for the CPUs and the data plane does not
    /// saturate its own (see `realtime.rs`).
    Auto,
}

/// A validated configuration with defaults applied, in two parts: what a
/// running daemon takes on SIGHUP ([`LiveConfig`]) and what needs a restart
/// ([`FixedConfig`]). A reload applies the new live part; a new file whose
/// fixed part differs is applied only in part, with a warning that names
/// the sections.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Config {
    pub role: RoleKind,
    pub fixed: FixedConfig,
    pub live: LiveConfig,
}

/// What a daemon reads once, at start: devices, addresses, batching, the
/// API, the backbone, and its identity (security mode and key).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FixedConfig {
    #[serde(rename = "node.id")]
    pub node_id: Option<NodeId>,
    #[serde(rename = "link.interface")]
    pub link_interface: String,
    #[serde(rename = "link.ethertype")]
    pub ethertype: u16,
    /// `[link] phy_rate_mbps`, in kbit/s: the radio's data rate for the
    /// airtime estimates.
    #[serde(rename = "link.phy_rate_mbps")]
    pub phy_rate_kbps: u64,
    /// `[link] bulk_queue_bytes`: the most bytes of best effort and
    /// background the radio's queue in the kernel holds (0: no bound).
    #[serde(rename = "link.bulk_queue_bytes")]
    pub bulk_queue_bytes: usize,
    /// `[priority]`: the class of each DSCP, of control and broadcast.
    #[serde(rename = "[priority]")]
    pub priority: ClassMap,
    #[serde(rename = "tun.name")]
    pub tun_name: String,
    #[serde(rename = "tun.addresses")]
    pub tun_addresses: Vec<IpPrefix>,
    /// `None`: link MTU minus protocol overhead.
    #[serde(rename = "tun.mtu")]
    pub tun_mtu: Option<usize>,
    #[serde(rename = "tun.offload")]
    pub tun_offload: bool,
    /// Routes installed via the TUN while the daemon runs (e.g. a default
    /// route through the V2X network on an OBU).
    #[serde(rename = "tun.routes")]
    pub tun_routes: Vec<IpPrefix>,
    #[serde(rename = "[batching]")]
    pub batching: BatchingConfig,
    #[serde(rename = "[dataplane]")]
    pub dataplane: DataplaneConfig,
    /// `None`: API disabled (`listen = ""`).
    #[serde(rename = "api.listen")]
    pub api_listen: Option<SocketAddr>,
    #[serde(rename = "log.format")]
    pub log_format: LogFormat,
    #[serde(rename = "[backbone]")]
    pub backbone: BackboneConfig,
    /// `[security] mode` and `key_file`: a new identity is a new node.
    #[serde(rename = "security.mode and security.key_file")]
    pub identity: (SecurityMode, Option<PathBuf>),
}

/// What SIGHUP applies to a running daemon: routing timers and limits, the
/// log filter, trust lists and session limits.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LiveConfig {
    pub routing: RoutingConfig,
    pub log_level: String,
    /// Applied on reload only while `FixedConfig::identity` is unchanged.
    pub security: SecurityConfig,
}

impl FixedConfig {
    /// The configuration file's names of the parts that differ from
    /// `other` (for the reload warning; serialized under those names).
    pub fn differences(&self, other: &FixedConfig) -> Vec<String> {
        let (a, b) = (
            serde_json::to_value(self).unwrap_or_default(),
            serde_json::to_value(other).unwrap_or_default(),
        );
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
            return Vec::new();
        };
        a.iter()
            .filter(|(k, v)| b.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .collect()
    }
}

fn ranged(key: &str, v: Option<i64>, default: i64, min: i64, max: i64) -> Result<i64, ConfigError> {
    match v {
        None => Ok(default),
        Some(x) if (min..=max).contains(&x) => Ok(x),
        Some(x) => Err(ConfigError::key(
            key,
            format!("{x} is out of range (allowed {min}..={max})"),
        )),
    }
}

fn required<T>(key: &str, v: Option<T>) -> Result<T, ConfigError> {
    v.ok_or_else(|| ConfigError::key(key, "is required"))
}

/// `[node]`: the optional id.
fn parse_node(node: RawNode) -> Result<Option<NodeId>, ConfigError> {
    let node_id = match node.id {
        None => None,
        Some(s) => {
            let id: NodeId = s
                .parse()
                .map_err(|e| ConfigError::key("node.id", format!("`{s}`: {e}")))?;
            if id.is_group() || id == NodeId::default() {
                return Err(ConfigError::key(
                    "node.id",
                    format!("`{s}` is a group or zero address; use a unicast MAC"),
                ));
            }
            Some(id)
        }
    };
    Ok(node_id)
}

/// `[link]` (required): interface, EtherType and PHY rate (kbit/s).
/// `[link]`, validated.
struct LinkSection {
    interface: String,
    ethertype: u16,
    phy_rate_kbps: u64,
    bulk_queue_bytes: usize,
}

/// The default bound on the bulk lane's bytes in the kernel: two full
/// frames' socket memory (about 2.3 KiB each), so the radio never waits
/// for the data plane, and a safety message waits behind at most about
/// two frames of bulk (2 ms at 12 Mbit/s). docs/OPERATIONS.md section 3.
pub const DEFAULT_BULK_QUEUE_BYTES: usize = 4608;

fn parse_link(link: Option<RawLink>) -> Result<LinkSection, ConfigError> {
    let link = required("link", link)?;
    let link_interface = required("link.interface", link.interface)?;
    if link_interface.is_empty() || link_interface.len() > 15 {
        return Err(ConfigError::key(
            "link.interface",
            "must be 1..=15 characters",
        ));
    }
    let ethertype = ranged(
        "link.ethertype",
        link.ethertype,
        DEFAULT_ETHERTYPE as i64,
        0x0600,
        0xffff,
    )? as u16;
    let rate = link.phy_rate_mbps.unwrap_or(6.0);
    if !(1.0..=10_000.0).contains(&rate) {
        return Err(ConfigError::key(
            "link.phy_rate_mbps",
            format!(
                "{rate} is out of range (allowed 1..=10000; 802.11p at 10 MHz: 3 to 27, usually 6)"
            ),
        ));
    }
    let bulk_queue_bytes = ranged(
        "link.bulk_queue_bytes",
        link.bulk_queue_bytes,
        DEFAULT_BULK_QUEUE_BYTES as i64,
        0,
        16 << 20,
    )? as usize;
    if (1..2048).contains(&bulk_queue_bytes) {
        return Err(ConfigError::key(
            "link.bulk_queue_bytes",
            format!("{bulk_queue_bytes} is less than one frame; 0 turns the bound off, else at least 2048"),
        ));
    }
    Ok(LinkSection {
        interface: link_interface,
        ethertype,
        phy_rate_kbps: (rate * 1000.0).round() as u64,
        bulk_queue_bytes,
    })
}

/// `[priority]`: each listed DSCP (0..=63, in at most one class) goes to
/// its class; control and broadcast by name.
fn parse_priority(p: RawPriority) -> Result<ClassMap, ConfigError> {
    let mut map = ClassMap::default();
    let mut seen = [None::<&str>; 64];
    let lists = [
        ("priority.voice", p.voice, Class::Voice),
        ("priority.video", p.video, Class::Video),
        ("priority.background", p.background, Class::Background),
    ];
    for (key, list, class) in lists {
        let Some(list) = list else {
            continue;
        };
        // A class given replaces its default list: those leave to best effort.
        let old = map.dscps(class);
        map.assign(&old, Class::BestEffort);
        let mut dscps = Vec::with_capacity(list.len());
        for d in list {
            let Some(d) = u8::try_from(d).ok().filter(|d| *d < 64) else {
                return Err(ConfigError::key(key, format!("{d} is not a DSCP (0..=63)")));
            };
            if let Some(other) = seen[usize::from(d)].replace(key) {
                return Err(ConfigError::key(key, format!("DSCP {d} is in {other} too")));
            }
            dscps.push(d);
        }
        map.assign(&dscps, class);
    }
    let class = |key: &str, v: Option<String>, default: Class| -> Result<Class, ConfigError> {
        v.map_or(Ok(default), |v| {
            v.parse()
                .map_err(|e: common::priority::UnknownClass| ConfigError::key(key, e.to_string()))
        })
    };
    map.control = class("priority.control", p.control, map.control)?;
    map.broadcast = class("priority.broadcast", p.broadcast, map.broadcast)?;
    Ok(map)
}

/// `[tun]`, validated.
struct TunSection {
    name: String,
    addresses: Vec<IpPrefix>,
    mtu: Option<usize>,
    offload: bool,
    routes: Vec<IpPrefix>,
}

/// `[tun]` (required): name, addresses, MTU, offload.
fn parse_tun(tun: Option<RawTun>) -> Result<TunSection, ConfigError> {
    let tun = required("tun", tun)?;
    let tun_name = required("tun.name", tun.name)?;
    if tun_name.is_empty()
        || tun_name.len() > 15
        || tun_name.contains('/')
        || tun_name.contains(char::is_whitespace)
    {
        return Err(ConfigError::key(
            "tun.name",
            "must be 1..=15 characters, no '/' or spaces",
        ));
    }
    let addrs = required("tun.addresses", tun.addresses)?;
    if addrs.is_empty() || addrs.len() > common::wire::MAX_ADDRS {
        return Err(ConfigError::key(
            "tun.addresses",
            format!(
                "needs 1..={} entries, got {}",
                common::wire::MAX_ADDRS,
                addrs.len()
            ),
        ));
    }
    let tun_addresses = addrs
        .iter()
        .map(|a| {
            a.parse::<IpPrefix>()
                .map_err(|e| ConfigError::key("tun.addresses", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let min_mtu = if tun_addresses.iter().any(|p| p.addr.is_ipv6()) {
        1280
    } else {
        576
    };
    let tun_mtu = match tun.mtu {
        None => None,
        Some(m) => Some(ranged("tun.mtu", Some(m), 0, min_mtu, 65535)? as usize),
    };
    let routes = tun
        .routes
        .unwrap_or_default()
        .iter()
        .map(|r| route_prefix("tun.routes", r))
        .collect::<Result<Vec<_>, _>>()?;
    if routes.len() > 256 {
        return Err(ConfigError::key("tun.routes", "at most 256 routes"));
    }
    Ok(TunSection {
        name: tun_name,
        addresses: tun_addresses,
        mtu: tun_mtu,
        offload: tun.offload.unwrap_or(true),
        routes,
    })
}

/// `[routing]`: timers and limits.
fn parse_routing(r: RawRouting) -> Result<RoutingConfig, ConfigError> {
    let beacon_interval_ms = ranged(
        "routing.beacon_interval_ms",
        r.beacon_interval_ms,
        100,
        10,
        60_000,
    )?;
    let neighbor_timeout_ms = ranged(
        "routing.neighbor_timeout_ms",
        r.neighbor_timeout_ms,
        3 * beacon_interval_ms,
        2 * beacon_interval_ms,
        600_000,
    )?;
    let routing = RoutingConfig {
        beacon_interval_ms: beacon_interval_ms as u64,
        neighbor_timeout_ms: neighbor_timeout_ms as u64,
        max_hops: ranged("routing.max_hops", r.max_hops, 8, 1, 32)? as u8,
        candidates: ranged("routing.candidates", r.candidates, 3, 1, 16)? as usize,
        broadcast_ttl: ranged("routing.broadcast_ttl", r.broadcast_ttl, 1, 1, 32)? as u8,
        handover_leave_ms: ranged(
            "routing.handover_leave_ms",
            r.handover_leave_ms,
            100,
            0,
            60_000,
        )? as u64,
        reply_interval_ms: ranged(
            "routing.reply_interval_ms",
            r.reply_interval_ms,
            1000,
            0,
            60_000,
        )? as u64,
        suppress_rebroadcasts: r.suppress_rebroadcasts.unwrap_or(true),
        repeat_below_pct: ranged("routing.repeat_below_pct", r.repeat_below_pct, 80, 0, 100)? as u8,
    };
    Ok(routing)
}

/// `[batching]`.
fn parse_batching(b: RawBatching) -> Result<BatchingConfig, ConfigError> {
    let batching = BatchingConfig {
        enabled: b.enabled.unwrap_or(true),
        max_batch: ranged("batching.max_batch", b.max_batch, 64, 1, 1024)? as usize,
        aggregate: b.aggregate.unwrap_or(true),
    };
    Ok(batching)
}

/// `[dataplane]`: how the data-plane thread is scheduled.
fn parse_dataplane(d: RawDataplane) -> Result<DataplaneConfig, ConfigError> {
    let dataplane = DataplaneConfig {
        realtime_priority: ranged(
            "dataplane.realtime_priority",
            d.realtime_priority,
            DEFAULT_REALTIME_PRIORITY,
            0,
            99,
        )? as u8,
        cpu: match d.cpu {
            None => None,
            v => Some(ranged("dataplane.cpu", v, 0, 0, 1023)? as u16),
        },
        slice_us: match d.slice_us {
            Some(0) => 0,
            v => ranged("dataplane.slice_us", v, DEFAULT_SLICE_US, 100, 100_000)? as u32,
        },
        realtime: match d.realtime.as_deref() {
            None | Some("auto") => RealtimeMode::Auto,
            Some("always") => RealtimeMode::Always,
            Some(other) => {
                return Err(ConfigError::key(
                    "dataplane.realtime",
                    format!("`{other}` is not one of: auto, always"),
                ))
            }
        },
    };
    Ok(dataplane)
}

/// `[api]`: the listen address, `None` when disabled.
fn parse_api(api: RawApi) -> Result<Option<SocketAddr>, ConfigError> {
    let api_listen = match api.listen.as_deref() {
        None => Some(SocketAddr::from(([127, 0, 0, 1], 9100))),
        Some("") => None,
        Some(s) => Some(s.parse().map_err(|_| {
            ConfigError::key(
                "api.listen",
                format!("`{s}` is not ADDRESS:PORT (e.g. 127.0.0.1:9100), or \"\" to disable"),
            )
        })?),
    };
    Ok(api_listen)
}

/// `[log]`: level (or filter) and format.
fn parse_log(log: RawLog) -> Result<(String, LogFormat), ConfigError> {
    let log_level = log.level.unwrap_or_else(|| "info".to_string());
    if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
        return Err(ConfigError::key(
            "log.level",
            format!(
                "`{log_level}` is not a level (error, warn, info, debug, trace) or tracing filter"
            ),
        ));
    }
    let log_format = match log.format.as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            return Err(ConfigError::key(
                "log.format",
                format!("`{other}` is not one of: text, json"),
            ))
        }
    };
    Ok((log_level, log_format))
}

impl Config {
    pub fn from_file(path: &Path, role: RoleKind) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            key: None,
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        let parsed = Config::parse(&text, role);
        // A node's first step is making its key (its public key then goes
        // into its peers' trust lists): a missing key is reported before
        // anything else in [security], such as placeholder trust lists.
        let security_ok = match &parsed {
            Ok(_) => true,
            Err(e) => e.key.as_deref().is_some_and(|k| k.starts_with("security.")),
        };
        if security_ok {
            missing_key(&text, role)?;
        }
        parsed
    }

    /// What the daemon runs with: the file, read and validated, then the
    /// environment's overrides ([`Config::with_env`]).
    pub fn load(path: &Path, role: RoleKind) -> Result<Config, ConfigError> {
        Ok(Config::from_file(path, role)?.with_env())
    }

    /// Parses and validates TOML text: the file alone, no environment.
    pub fn parse(text: &str, role: RoleKind) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError {
            key: None,
            message: e.to_string().trim_end().to_string(),
        })?;
        let link = parse_link(raw.link)?;
        let tun = parse_tun(raw.tun)?;
        let (log_level, log_format) = parse_log(raw.log.unwrap_or_default())?;
        let security = parse_security(raw.security.unwrap_or_default(), role)?;
        let mut c = Config {
            role,
            fixed: FixedConfig {
                node_id: parse_node(raw.node.unwrap_or_default())?,
                link_interface: link.interface,
                ethertype: link.ethertype,
                phy_rate_kbps: link.phy_rate_kbps,
                bulk_queue_bytes: link.bulk_queue_bytes,
                priority: parse_priority(raw.priority.unwrap_or_default())?,
                tun_name: tun.name,
                tun_addresses: tun.addresses,
                tun_mtu: tun.mtu,
                tun_offload: tun.offload,
                tun_routes: tun.routes,
                batching: parse_batching(raw.batching.unwrap_or_default())?,
                dataplane: parse_dataplane(raw.dataplane.unwrap_or_default())?,
                api_listen: parse_api(raw.api.unwrap_or_default())?,
                log_format,
                backbone: parse_backbone(raw.backbone, role)?,
                identity: (security.mode, security.key_file.clone()),
            },
            live: LiveConfig {
                routing: parse_routing(raw.routing.unwrap_or_default())?,
                log_level,
                security,
            },
        };
        if c.fixed.backbone.export_routes && !c.fixed.tun_routes.is_empty() {
            return Err(ConfigError::key(
                "tun.routes",
                "cannot be used with [backbone] export_routes: the RSU then manages the routes of its protocol itself; add other routes with `ip route`",
            ));
        }
        c.settle_batching();
        Ok(c)
    }

    /// The environment's overrides, all applied here and nowhere else:
    /// `V2XD_DISABLE_BATCHING=1` (or `true`) turns batching off, as
    /// `[batching] enabled = false` would.
    pub fn with_env(mut self) -> Config {
        if std::env::var("V2XD_DISABLE_BATCHING").is_ok_and(|v| v == "1" || v == "true") {
            self.fixed.batching.enabled = false;
        }
        self.settle_batching();
        self
    }

    /// Batching off means one syscall per packet everywhere: no frame
    /// aggregation and no TUN offload either.
    fn settle_batching(&mut self) {
        if !self.fixed.batching.enabled {
            self.fixed.batching.aggregate = false;
            self.fixed.tun_offload = false;
        }
    }

    /// The TUN MTU to use on a link of `link_mtu`, or an error naming both
    /// numbers when the configured one does not fit.
    pub fn effective_tun_mtu(&self, link_mtu: usize) -> Result<usize, ConfigError> {
        let overhead = common::wire::MAX_DATA_OVERHEAD + self.live.security.data_overhead();
        let max = link_mtu.saturating_sub(overhead);
        // A post-quantum first handshake message travels in one frame.
        let pq_init = common::wire::HEADER_LEN + 20 + secure::peers::POST_QUANTUM_INIT_NOISE_LEN;
        let sec = &self.live.security;
        if sec.mode == SecurityMode::Encrypted && sec.post_quantum && link_mtu < pq_init {
            return Err(ConfigError::key(
                "security.post_quantum",
                format!(
                    "needs a link MTU of at least {pq_init} bytes (its handshake carries an ML-KEM-768 key), but link `{}` has {link_mtu}",
                    self.fixed.link_interface
                ),
            ));
        }
        match self.fixed.tun_mtu {
            Some(m) if m > max => Err(ConfigError::key(
                "tun.mtu",
                format!(
                    "{m} + {overhead} bytes of protocol overhead = {} exceeds the MTU {link_mtu} of link `{}`; use tun.mtu <= {max} or raise the link MTU",
                    m + overhead,
                    self.fixed.link_interface
                ),
            )),
            Some(m) => Ok(m),
            None if max < 576 => Err(ConfigError::key(
                "tun.mtu",
                format!("link `{}` MTU {link_mtu} minus {overhead} bytes of overhead leaves {max}, below the IP minimum 576", self.fixed.link_interface),
            )),
            None => Ok(max),
        }
    }
}

/// Fuzz target body (`fuzz/fuzz_targets/config.rs`, and the saved inputs
/// replayed by `tests/fuzz_regressions.rs`): any bytes, as the file of
/// either role; must never panic.
pub fn fuzz(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        for role in [RoleKind::Obu, RoleKind::Rsu] {
            if let Ok(c) = Config::parse(text, role) {
                let _ = c.effective_tun_mtu(1500);
                let _ = c.fixed.differences(&c.fixed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = r#"
        [link]
        interface = "veth0"
        [tun]
        name = "v2x0"
        addresses = ["10.42.0.2/24", "fd42::2/64"]
    "#;

    #[test]
    fn backbone_and_tun_routes() {
        let c = Config::parse(MIN, RoleKind::Rsu).unwrap();
        assert_eq!(c.fixed.backbone, BackboneConfig::default());
        assert!(!c.fixed.backbone.export_routes && c.fixed.tun_routes.is_empty());
        let text = format!(
            "{MIN}\nroutes = [\"0.0.0.0/0\", \"fd00::/8\"]\n[backbone]\nexport_routes = false\ntable = 100\nprotocol = 222\nmetric = 5\nuplink_check = \"0.0.0.0/0\"\npreference = 7\n"
        );
        let c = Config::parse(&text, RoleKind::Rsu).unwrap();
        assert_eq!(c.fixed.tun_routes.len(), 2);
        let b = &c.fixed.backbone;
        assert!(!b.export_routes);
        assert_eq!(
            (b.table, b.protocol, b.metric, b.preference),
            (100, 222, Some(5), 7)
        );
        assert_eq!(b.uplink_check, Some("0.0.0.0/0".parse().unwrap()));
        // Errors name the key and say why.
        for (extra, key, why) in [
            (
                "\n[backbone]\nexport_routes = true\n",
                "backbone",
                "for RSUs",
            ),
            ("routes = [\"10.0.0.1/8\"]\n", "tun.routes", "host bits"),
        ] {
            let e = Config::parse(&format!("{MIN}{extra}"), RoleKind::Obu).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert!(e.message.contains(why), "{e}");
        }
        for (extra, key) in [
            ("protocol = 2", "backbone.protocol"),
            ("preference = 256", "backbone.preference"),
            ("uplink_check = \"default\"", "backbone.uplink_check"),
            ("metric = -1", "backbone.metric"),
        ] {
            let e =
                Config::parse(&format!("{MIN}\n[backbone]\n{extra}\n"), RoleKind::Rsu).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
        }
        let e = Config::parse(
            &format!("{MIN}\n[routing]\nhandover_leave_ms = -1\n"),
            RoleKind::Obu,
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("routing.handover_leave_ms"));
        let e = Config::parse(
            &format!("{MIN}\n[routing]\nrepeat_below_pct = 101\n"),
            RoleKind::Rsu,
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("routing.repeat_below_pct"));
        // Both would manage the same routes.
        let both = format!("{MIN}routes = [\"10.0.0.0/8\"]\n[backbone]\nexport_routes = true\n");
        let e = Config::parse(&both, RoleKind::Rsu).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("tun.routes"), "{e}");
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = Config::parse(MIN, RoleKind::Obu).unwrap();
        assert_eq!(c.fixed.ethertype, 0x88b5);
        assert_eq!(c.live.routing, RoutingConfig::default());
        assert!(c.fixed.batching.enabled && c.fixed.batching.aggregate);
        assert_eq!(c.fixed.batching.max_batch, 64);
        assert_eq!(c.fixed.dataplane.realtime_priority, 0);
        assert_eq!(c.fixed.dataplane.realtime, RealtimeMode::Auto);
        assert_eq!(
            (c.fixed.dataplane.slice_us, c.fixed.dataplane.cpu),
            (0, None)
        );
        assert_eq!(c.fixed.api_listen, Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(c.fixed.tun_addresses.len(), 2);
        assert_eq!(
            c.effective_tun_mtu(1500).unwrap(),
            1500 - common::wire::MAX_DATA_OVERHEAD
        );
    }

    #[test]
    fn neighbor_timeout_defaults_to_three_intervals() {
        let c = Config::parse(
            &format!("{MIN}\n[routing]\nbeacon_interval_ms = 50\n"),
            RoleKind::Rsu,
        )
        .unwrap();
        assert_eq!(c.live.routing.neighbor_timeout_ms, 150);
    }

    fn err(extra: &str) -> ConfigError {
        Config::parse(&format!("{MIN}\n{extra}\n"), RoleKind::Obu).unwrap_err()
    }

    #[test]
    fn priority_classes_and_the_bulk_lane() {
        let c = Config::parse(MIN, RoleKind::Obu).unwrap();
        assert_eq!(c.fixed.priority, ClassMap::default());
        assert_eq!(c.fixed.bulk_queue_bytes, DEFAULT_BULK_QUEUE_BYTES);
        let text = format!(
            "{MIN}\n[link]\n[priority]\nvoice = [46]\nbackground = [0, 8]\ncontrol = \"video\"\n"
        );
        // `[link]` twice is a TOML error: put the key in the first one.
        let text = text.replace("[link]\n[priority]", "[priority]");
        let text = text.replace(
            "interface = \"veth0\"",
            "interface = \"veth0\"\nbulk_queue_bytes = 0",
        );
        let c = Config::parse(&text, RoleKind::Obu).unwrap();
        let p = &c.fixed.priority;
        assert_eq!(p.of_dscp(46), Class::Voice);
        // A list given replaces the class's defaults.
        assert_eq!(p.of_dscp(40), Class::BestEffort);
        assert_eq!(p.of_dscp(0), Class::Background);
        assert_eq!(p.of_dscp(34), Class::Video);
        assert_eq!((p.control, p.broadcast), (Class::Video, Class::Voice));
        assert_eq!(c.fixed.bulk_queue_bytes, 0);
        let e = err("[priority]\nvoice = [64]");
        assert_eq!(e.key.as_deref(), Some("priority.voice"));
        let e = err("[priority]\nvoice = [46]\nvideo = [46]");
        assert_eq!(e.key.as_deref(), Some("priority.video"));
        assert!(e.message.contains("priority.voice"), "{e}");
        let e = err("[priority]\nbroadcast = \"urgent\"");
        assert_eq!(e.key.as_deref(), Some("priority.broadcast"));
        assert!(e.message.contains("voice, video"), "{e}");
    }

    #[test]
    fn errors_name_the_key_and_range() {
        let e = err("[routing]\nbeacon_interval_ms = 5");
        assert_eq!(e.key.as_deref(), Some("routing.beacon_interval_ms"));
        assert!(e.to_string().contains("10..=60000"), "{e}");
        let e = err("[batching]\nmax_batch = 0");
        assert_eq!(e.key.as_deref(), Some("batching.max_batch"));
        let e = err("[dataplane]\nrealtime_priority = 100");
        assert_eq!(e.key.as_deref(), Some("dataplane.realtime_priority"));
        assert!(e.to_string().contains("0..=99"), "{e}");
        let e = err("[dataplane]\nrealtime = \"sometimes\"");
        assert_eq!(e.key.as_deref(), Some("dataplane.realtime"));
        assert!(e.to_string().contains("auto, always"), "{e}");
        let e = err("[dataplane]\nslice_us = 50");
        assert_eq!(e.key.as_deref(), Some("dataplane.slice_us"));
        assert!(e.to_string().contains("100..=100000"), "{e}");
        let e = err("[dataplane]\ncpu = -1");
        assert_eq!(e.key.as_deref(), Some("dataplane.cpu"));
        assert!(e.to_string().contains("0..=1023"), "{e}");
        let c = Config::parse(
            &format!("{MIN}\n[dataplane]\nslice_us = 0\ncpu = 1\n"),
            RoleKind::Obu,
        )
        .unwrap();
        assert_eq!(
            (c.fixed.dataplane.slice_us, c.fixed.dataplane.cpu),
            (0, Some(1))
        );
        let e = err("[dataplane]\nbusy_poll = true");
        assert!(e.to_string().contains("busy_poll"), "{e}");
        let e = err("[log]\nformat = \"xml\"");
        assert_eq!(e.key.as_deref(), Some("log.format"));
        let e = err("[api]\nlisten = \"nonsense\"");
        assert_eq!(e.key.as_deref(), Some("api.listen"));
        let e = err("[node]\nid = \"ff:ff:ff:ff:ff:ff\"");
        assert_eq!(e.key.as_deref(), Some("node.id"));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = err("[routing]\nbeacon_intervall_ms = 100");
        assert!(e.to_string().contains("beacon_intervall_ms"), "{e}");
        let e = err("[bogus]\nx = 1");
        assert!(e.to_string().contains("bogus"), "{e}");
    }

    #[test]
    fn required_keys_are_named() {
        let e = Config::parse(
            "[tun]\nname = \"a\"\naddresses = [\"10.0.0.1/24\"]",
            RoleKind::Obu,
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("link"));
        let e = Config::parse(
            "[link]\ninterface = \"x\"\n[tun]\nname = \"a\"",
            RoleKind::Obu,
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("tun.addresses"));
        let e = Config::parse(
            "[link]\ninterface = \"x\"\n[tun]\nname = \"a\"\naddresses = [\"10.0.0.1\"]",
            RoleKind::Obu,
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("tun.addresses"));
    }

    #[test]
    fn mtu_check_names_both_numbers() {
        let c = Config::parse(
            &MIN.replace("name = \"v2x0\"", "name = \"v2x0\"\nmtu = 1500"),
            RoleKind::Obu,
        )
        .unwrap();
        let e = c.effective_tun_mtu(1500).unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("1500")
                && s.contains(&format!("{}", 1500 + common::wire::MAX_DATA_OVERHEAD)),
            "{s}"
        );
        assert_eq!(c.effective_tun_mtu(2000).unwrap(), 1500);
    }

    #[test]
    fn cipher_and_post_quantum_are_parsed_and_checked() {
        let key = secure::Identity::from_seed(&[1; 32]).public().to_string();
        let base = format!("{MIN}\n[security]\nmode = \"encrypted\"\nkey_file = \"/k\"\ntrusted_rsus = [\"{key}\"]\n");
        let c = Config::parse(&base, RoleKind::Obu).unwrap();
        assert_eq!(c.live.security.cipher, secure::CipherSetting::Auto);
        assert!(!c.live.security.post_quantum);
        for name in ["auto", "aes-256-gcm", "chacha20-poly1305"] {
            let c = Config::parse(&format!("{base}cipher = \"{name}\"\n"), RoleKind::Obu).unwrap();
            assert_eq!(c.live.security.cipher.as_str(), name);
        }
        let e =
            Config::parse(&format!("{base}cipher = \"aes-128-gcm\"\n"), RoleKind::Obu).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("security.cipher"));
        assert!(e.to_string().contains("aes-128-gcm"), "{e}");
        let c = Config::parse(&format!("{base}post_quantum = true\n"), RoleKind::Obu).unwrap();
        assert!(c.live.security.post_quantum);
        assert!(c.effective_tun_mtu(1500).is_ok());
        // Its handshake needs a frame of 1353 bytes.
        let e = c.effective_tun_mtu(1280).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("security.post_quantum"));
        assert!(e.to_string().contains("1280"), "{e}");
    }

    #[test]
    fn security_section_is_validated() {
        let key = secure::Identity::from_seed(&[1; 32]).public().to_string();
        let c = Config::parse(
            &format!("{MIN}\n[security]\nmode = \"encrypted\"\nkey_file = \"/k\"\ntrusted_rsus = [\"{key}\"]\n"),
            RoleKind::Obu,
        )
        .unwrap();
        assert_eq!(c.live.security.mode, SecurityMode::Encrypted);
        assert_eq!(c.live.security.trusted_rsus.len(), 1);
        // Encrypted data costs 28 more bytes of MTU.
        assert_eq!(
            c.effective_tun_mtu(1500).unwrap(),
            1500 - common::wire::MAX_DATA_OVERHEAD - 28
        );
        let e = err("[security]\nmode = \"encrypted\"\ntrusted_rsus = []");
        assert_eq!(e.key.as_deref(), Some("security.key_file"));
        let e = err("[security]\nmode = \"encrypted\"\nkey_file = \"/k\"");
        assert_eq!(e.key.as_deref(), Some("security.trusted_rsus"));
        let e = err("[security]\nmode = \"secret\"");
        assert_eq!(e.key.as_deref(), Some("security.mode"));
        let e = err("[security]\ntrusted_rsus = [\"abcd\"]");
        assert_eq!(e.key.as_deref(), Some("security.trusted_rsus"));
        let e = Config::parse(
            &format!("{MIN}\n[security]\nmode = \"authenticated\"\nkey_file = \"/k\"\n"),
            RoleKind::Rsu,
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("security.allowed_obus"));
        let e = err("[security]\nrekey_after_secs = 1");
        assert_eq!(e.key.as_deref(), Some("security.rekey_after_secs"));
    }

    #[test]
    fn the_environment_overrides_only_through_with_env() {
        let c = Config::parse(MIN, RoleKind::Obu).unwrap();
        assert!(c.fixed.batching.enabled && c.fixed.batching.aggregate && c.fixed.tun_offload);
        // Parsing alone never reads the environment.
        std::env::set_var("V2XD_DISABLE_BATCHING", "1");
        let parsed = Config::parse(MIN, RoleKind::Obu).unwrap();
        let loaded = parsed.clone().with_env();
        std::env::remove_var("V2XD_DISABLE_BATCHING");
        assert!(parsed.fixed.batching.enabled);
        assert!(
            !loaded.fixed.batching.enabled
                && !loaded.fixed.batching.aggregate
                && !loaded.fixed.tun_offload
        );
    }

    #[test]
    fn disabling_batching_disables_aggregation() {
        let c = Config::parse(
            &format!("{MIN}\n[batching]\nenabled = false\n"),
            RoleKind::Obu,
        )
        .unwrap();
        assert!(!c.fixed.batching.enabled && !c.fixed.batching.aggregate && !c.fixed.tun_offload);
    }

    #[test]
    fn a_reload_names_what_needs_a_restart() {
        let a = Config::parse(MIN, RoleKind::Obu).unwrap();
        let text = MIN
            .replace("veth0", "veth1")
            .replace("[tun]\n", "[tun]\nmtu = 1300\n");
        let mut b = Config::parse(&text, RoleKind::Obu).unwrap();
        assert_eq!(
            a.fixed.differences(&b.fixed),
            ["link.interface", "tun.mtu"],
            "{a:?} / {b:?}"
        );
        b.live.log_level = "debug".into();
        assert_eq!(b.fixed.differences(&b.fixed.clone()), Vec::<String>::new());
        assert_ne!(a.live, b.live);
    }
}
