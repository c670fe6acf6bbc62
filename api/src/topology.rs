//! `/api/v1/topology`: the cell as a tree.

use common::ip::IpPrefix;
use common::NodeId;
use serde::{Deserialize, Serialize};

/// A node of the tree: the RSU at the root (or the OBU asked, for its
/// descendants), OBUs below their parents.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TopologyNode {
    pub id: NodeId,
    /// `"rsu"` at the root, `"obu"` below.
    pub role: String,
    /// What an OBU in the tree shows (absent at the root).
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub obu: Option<TopologyObu>,
    pub children: Vec<TopologyNode>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TopologyObu {
    pub hops: u8,
    pub link_quality_pct: u8,
    pub rtt_us: Option<u64>,
    pub next_hop: NodeId,
    pub addresses: Vec<IpPrefix>,
}

impl TopologyNode {
    /// Nodes in the tree below this one.
    pub fn descendants(&self) -> usize {
        self.children.iter().map(|c| 1 + c.descendants()).sum()
    }
}
