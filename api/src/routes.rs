//! `/api/v1/neighbors` and `/api/v1/routes`.

use common::ip::IpPrefix;
use common::NodeId;
use serde::{Deserialize, Serialize};

/// A node heard on the link (`/api/v1/neighbors` lists them by id).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Neighbor {
    pub id: NodeId,
    pub last_heard_ms: u64,
    pub frames: u64,
}

/// `/api/v1/routes`: an RSU's or an OBU's tables.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Routes {
    Rsu(RsuRoutes),
    Obu(ObuRoutes),
}

impl Routes {
    /// The OBUs reached through this node: an RSU's cell, an OBU's
    /// descendants.
    pub fn downstream(&self) -> &[DownstreamRoute] {
        match self {
            Routes::Rsu(r) => &r.obus,
            Routes::Obu(o) => &o.downstream,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RsuRoutes {
    /// Every attached OBU, sorted by id.
    pub obus: Vec<DownstreamRoute>,
    /// What beacons announce: the uplink is up (always true without an
    /// uplink check).
    pub uplink: bool,
    pub preference: u8,
    /// The kernel routes kept (`null`: no `[backbone]` export, uplink
    /// check or `[tun] routes`).
    #[serde(default)]
    pub backbone: Option<BackboneStatus>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ObuRoutes {
    pub upstream: Option<Upstream>,
    /// Every way to every RSU heard, sorted by RSU, hops, next hop.
    pub candidates: Vec<Candidate>,
    /// The OBUs this one relays for.
    pub downstream: Vec<DownstreamRoute>,
}

/// An OBU's chosen way to its RSU.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Upstream {
    pub rsu: NodeId,
    pub next_hop: NodeId,
    pub hops: u8,
    /// Grows with every change of RSU (the newest attachment wins).
    pub attach_seq: u32,
}

/// A way to an RSU an OBU could take.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Candidate {
    pub rsu: NodeId,
    pub uplink: bool,
    pub preference: u8,
    pub next_hop: NodeId,
    pub hops: u8,
    /// Share of the expected beacons heard lately, 0..1.
    pub reception_ratio: f64,
    pub last_heard_ms: u64,
}

/// An OBU reached downstream (from an RSU, or from a relaying OBU).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DownstreamRoute {
    pub id: NodeId,
    pub next_hop: NodeId,
    pub hops: u8,
    pub addresses: Vec<IpPrefix>,
    pub rsu: NodeId,
    pub age_ms: u64,
    pub rtt_us: Option<u64>,
    pub attach_seq: u32,
    /// The link MAC of the OBU's upstream (the RSU's for one hop).
    pub parent: NodeId,
    /// The OBU's beacon reception from its parent, percent.
    pub link_quality_pct: u8,
}

/// The kernel routes a daemon keeps (an RSU's backbone exports, an OBU's
/// `[tun] routes`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BackboneStatus {
    pub export_routes: bool,
    pub table: u32,
    pub protocol: u8,
    /// `None`: no `uplink_check`.
    pub uplink: Option<bool>,
    pub uplink_check: Option<IpPrefix>,
    /// Routes in the kernel now.
    pub routes: Vec<InstalledRoute>,
    /// Wanted but not installed (failing; retried every second).
    pub pending: usize,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstalledRoute {
    pub prefix: IpPrefix,
    pub metric: u32,
    /// The OBU it leads to (RSU exports), and its attachment sequence.
    pub obu: Option<NodeId>,
    pub attach_seq: Option<u32>,
}
