//! What a role's state machine is built from: the node's identity and
//! settings, and its security state (built from `params::SecurityConfig`).

use crate::params::RoutingConfig;
use crate::security::Security;
use common::counters::Counters;
use common::ip::IpPrefix;
use common::NodeId;
use std::sync::Arc;

/// What a role's state machine is built from.
pub struct RoleParams {
    /// The node id (configured, or the link MAC).
    pub id: NodeId,
    /// The link MAC: Ethernet source of our frames.
    pub mac: NodeId,
    pub addresses: Vec<IpPrefix>,
    pub routing: RoutingConfig,
    /// Random per process: seeds beacon jitter and an RSU's beacon epoch.
    pub seed: u64,
    /// Where the role counts drops and routing events.
    pub counters: Arc<Counters>,
    /// Identity, trust and sessions; `None` when `[security] mode = "off"`.
    pub security: Option<Security>,
    /// RSU: the operator's preference carried in beacons (`[backbone]
    /// preference`; OBUs prefer higher among otherwise equal RSUs).
    pub preference: u8,
    /// OBU: where its attachment sequence starts. The daemon derives it
    /// from the wall clock (seconds since 2023-11-14), so a restarted OBU
    /// still counts above its previous run and its new attachment wins.
    pub attach_seq_start: u32,
}
