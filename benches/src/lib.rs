//! Helpers shared by the benchmarks.

pub mod link_ceiling;
pub mod wakeup;

use common::action::{Action, Control, Payload};
use common::ip::IpPrefix;
use common::wire::{AddrList, BeaconReplyRepr, BeaconRepr, MessageType};
use common::NodeId;
use std::process::Command;

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
        })),
    }
}

/// A private network namespace with a veth pair `bva`/`bvb`, entered by the
/// calling thread. Removed on drop. `None` (with a message) without root.
pub struct VethPair {
    ns: String,
}

impl VethPair {
    pub fn new() -> Option<VethPair> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: the veth benchmarks need root");
            return None;
        }
        let ns = format!("v2xbench{}", std::process::id());
        let sh = |args: &[&str]| {
            let ok = Command::new(args[0])
                .args(&args[1..])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "`{}` failed", args.join(" "));
        };
        let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        sh(&["ip", "netns", "add", &ns]);
        let pair = VethPair { ns: ns.clone() };
        sh(&[
            "ip", "-n", &ns, "link", "add", "bva", "type", "veth", "peer", "name", "bvb",
        ]);
        sh(&["ip", "-n", &ns, "link", "set", "bva", "up"]);
        sh(&["ip", "-n", &ns, "link", "set", "bvb", "up"]);
        let f = std::fs::File::open(format!("/run/netns/{ns}")).expect("netns file");
        use std::os::fd::AsRawFd;
        // SAFETY: setns on a valid netns fd; affects only this thread.
        let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns failed");
        Some(pair)
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}
