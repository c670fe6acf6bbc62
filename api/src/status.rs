//! `/readyz` and `/api/v1/status`.

use common::ip::IpPrefix;
use common::NodeId;
use serde::{Deserialize, Serialize};

/// `/readyz`: 200 with `ready: true` once the link is up and the role is
/// ready (an RSU at once, an OBU once it has an upstream); 503 before.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Readiness {
    pub ready: bool,
    pub link_up: bool,
    pub role_ready: bool,
}

/// `/api/v1/status`: what the node is and the configuration in force.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Status {
    /// `"obu"` or `"rsu"`.
    pub role: String,
    pub id: NodeId,
    pub mac: NodeId,
    pub version: String,
    pub uptime_seconds: f64,
    pub link: LinkStatus,
    pub tun: TunStatus,
    pub dataplane: DataplaneStatus,
    pub config: StatusConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinkStatus {
    pub interface: String,
    pub mtu: usize,
    /// As configured, `0x88b5`.
    pub ethertype: String,
    pub up: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TunStatus {
    pub name: String,
    pub mtu: usize,
    pub addresses: Vec<IpPrefix>,
    /// Whether TUN offload is on (it falls back when the kernel refuses).
    pub offload: bool,
    /// Whether UDP datagrams are coalesced on TUN writes (kernel USO).
    pub udp_offload: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataplaneStatus {
    /// Whether the data-plane thread runs under realtime scheduling now.
    pub realtime: bool,
    pub realtime_switches: u64,
}

/// The reloadable sections in force, as their TOML tables (the schema is
/// the configuration file's, docs/OPERATIONS.md section 2).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusConfig {
    pub routing: serde_json::Value,
    pub batching: serde_json::Value,
    pub dataplane: serde_json::Value,
    pub log_level: String,
}
