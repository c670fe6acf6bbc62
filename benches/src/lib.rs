//! Helpers shared by the benchmarks.

pub mod error;
pub mod floor_relay;
pub mod link_ceiling;
pub mod wakeup;

pub use error::Error;

use common::action::{Action, Control, Payload};
use common::ip::IpPrefix;
use common::wire::{AddrList, BeaconReplyRepr, BeaconRepr, MessageType};
use common::NodeId;

pub const A: NodeId = NodeId([2, 0, 0, 0, 0, 1]);
pub const B: NodeId = NodeId([2, 0, 0, 0, 0, 2]);

pub fn data_action(len: u16) -> Action {
    Action::data(B, MessageType::DataUp, 16, A, B, Payload::tun(0, len))
}

pub fn beacon_action() -> Action {
    Action::SendControl {
        dst: NodeId::BROADCAST,
        ttl: 1,
        msg: Control::Beacon(BeaconRepr {
            rsu: A,
            seq: 1,
            hops: 0,
            timestamp_us: 1,
            interval_ms: 100,
            epoch: 7,
            uplink: true,
            preference: 0,
        }),
    }
}

pub fn reply_action() -> Action {
    let addrs: Vec<IpPrefix> = ["10.42.0.2/24", "fd42::2/64"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    Action::SendControl {
        dst: B,
        ttl: 8,
        msg: Control::BeaconReply(Box::new(BeaconReplyRepr {
            obu: A,
            rsu: B,
            seq: 1,
            timestamp_us: 1,
            hops: 1,
            addrs: AddrList::from_slice(&addrs).unwrap(),
            attach_seq: 0,
            leaving: false,
            cert: None,
            parent: NodeId::default(),
            quality_pct: 0,
        })),
    }
}

/// A private network namespace with a veth pair `bva`/`bvb`, entered by the
/// calling thread. Removed on drop. `None` (with a message) without root.
pub struct VethPair {
    _ns: testbed::ScratchNetns,
}

impl VethPair {
    pub fn new() -> Option<VethPair> {
        let ns = testbed::ScratchNetns::with_veth("v2xbench", "bva", "bvb")?;
        ns.enter();
        Some(VethPair { _ns: ns })
    }
}
