//! What an RSU asks the kernel to route to it: one host route per address
//! of each attached OBU (`[backbone] export_routes`). The role lists the
//! routes; the daemon installs them (rtnetlink) and the routing daemon on
//! the backbone (BIRD) announces them.

use crate::downstream::DownstreamTable;
use common::ip::IpPrefix;
use common::NodeId;
use std::net::IpAddr;

/// One route the RSU wants in the kernel: `prefix` via the RSU's TUN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ExportedRoute {
    /// A host route (/32 or /128): the RSU delivers by exact address.
    pub prefix: IpPrefix,
    pub obu: NodeId,
    /// The OBU's attachment sequence: newer attachments win in the
    /// backbone (the shipped BIRD filter maps the route metric to BGP's
    /// local preference).
    pub attach_seq: u32,
}

/// The host routes for every address of every OBU in `table`, sorted (so
/// two lists compare cheaply). An address two OBUs claim goes to the one
/// that holds it in the address index (the one that claimed it last).
pub fn host_routes(table: &DownstreamTable, out: &mut Vec<ExportedRoute>) {
    out.clear();
    for (obu, r) in table.iter() {
        for p in r.addrs.as_slice() {
            if table.lookup_addr(&p.addr).map(|(o, _)| o) != Some(*obu) {
                continue;
            }
            let len = match p.addr {
                IpAddr::V4(_) => 32,
                IpAddr::V6(_) => 128,
            };
            if let Some(prefix) = IpPrefix::new(p.addr, len) {
                out.push(ExportedRoute {
                    prefix,
                    obu: *obu,
                    attach_seq: r.attach_seq,
                });
            }
        }
    }
    out.sort_unstable();
}
