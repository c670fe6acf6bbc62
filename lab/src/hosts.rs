//! The air across hosts. Each host has its own air bridge with the ports
//! of the nodes it holds; the bridges are joined by the kernel's VXLAN
//! (one VNI, UDP 4789) over the hosts' own network, so a frame a node
//! sends reaches every host as it would cross one bridge. Each host's
//! nftables table decides only for its own receivers (keyed by the
//! sender's MAC, which survives the tunnel; see `air`).
//!
//! On one machine (`[lab] hosts = N`) the hosts are namespaces: host 0 is
//! the testbed's air namespace, hosts 1.. are new namespaces that take the
//! ports of their nodes (node `i` is on host `i % N`), each joined to host 0
//! by a veth "underlay" carrying a VXLAN link (a star: frames between two
//! other hosts pass host 0's bridge). The underlay's MTU leaves room for
//! VXLAN's 50 bytes so that a full 1500-byte radio frame crosses whole.

use testbed::{ns_exec, Testbed};

/// VXLAN's own bytes (outer Ethernet, IPv4, UDP, VXLAN headers).
pub const VXLAN_OVERHEAD: u32 = 50;
/// The VXLAN network id of the air.
pub const VNI: u32 = 4242;

/// The hosts of one lab: per host its air namespace, per node its host.
pub struct Hosts {
    /// Host k's air namespace (host 0: the testbed's).
    pub air: Vec<String>,
    /// Node i is on host `host_of[i]`.
    pub host_of: Vec<usize>,
    /// Namespaces this made (hosts 1..), removed on drop.
    made: Vec<String>,
}

impl Hosts {
    /// Everything on one host: the testbed's air.
    pub fn one(tb: &Testbed) -> Hosts {
        Hosts {
            air: vec![tb.air.clone()],
            host_of: vec![0; tb.nodes.len()],
            made: Vec::new(),
        }
    }

    /// Splits the testbed's air over `n` host namespaces joined by VXLAN.
    pub fn split(tb: &Testbed, n: usize) -> Hosts {
        let mut h = Hosts::one(tb);
        if n <= 1 {
            return h;
        }
        let radio_mtu = 1500;
        for k in 1..n {
            let ns = format!("{}h{k}", tb.air.trim_end_matches("air"));
            let _ = testbed::output(&["ip", "netns", "del", &ns]);
            testbed::run(&["ip", "netns", "add", &ns]);
            h.made.push(ns.clone());
            ns_exec(&ns, &["ip", "link", "set", "lo", "up"]);
            for key in ["iptables", "ip6tables", "arptables"] {
                let _ = testbed::ns_output(
                    &ns,
                    &[
                        "sysctl",
                        "-qw",
                        &format!("net.bridge.bridge-nf-call-{key}=0"),
                    ],
                );
            }
            ns_exec(&ns, &["ip", "link", "add", "br0", "type", "bridge"]);
            ns_exec(&ns, &["ip", "link", "set", "br0", "up"]);
            // The underlay: a veth between host 0 and host k.
            let (a, b) = (format!("{}{k}", "ul"), "ul0".to_string());
            ns_exec(
                &tb.air,
                &[
                    "ip", "link", "add", &a, "type", "veth", "peer", "name", &b, "netns", &ns,
                ],
            );
            let mtu = (radio_mtu + VXLAN_OVERHEAD).to_string();
            for (space, dev, addr) in [
                (&tb.air, &a, format!("10.201.{k}.1/30")),
                (&ns, &b, format!("10.201.{k}.2/30")),
            ] {
                ns_exec(space, &["ip", "link", "set", dev, "mtu", &mtu, "up"]);
                ns_exec(space, &["ip", "addr", "add", &addr, "dev", dev]);
            }
            // The VXLAN link, a port of each side's air bridge.
            let vx = format!("{}{k}", crate::air::HOST_LINK_PREFIX);
            for (space, dev, local, remote) in [
                (
                    &tb.air,
                    &a,
                    format!("10.201.{k}.1"),
                    format!("10.201.{k}.2"),
                ),
                (&ns, &b, format!("10.201.{k}.2"), format!("10.201.{k}.1")),
            ] {
                ns_exec(
                    space,
                    &[
                        "ip",
                        "link",
                        "add",
                        &vx,
                        "type",
                        "vxlan",
                        "id",
                        &VNI.to_string(),
                        "local",
                        &local,
                        "remote",
                        &remote,
                        "dstport",
                        "4789",
                        "dev",
                        dev,
                    ],
                );
                ns_exec(
                    space,
                    &[
                        "ip",
                        "link",
                        "set",
                        &vx,
                        "mtu",
                        &radio_mtu.to_string(),
                        "master",
                        "br0",
                        "up",
                    ],
                );
            }
            h.air.push(ns);
        }
        for (i, node) in tb.nodes.iter().enumerate() {
            let k = i % n;
            h.host_of[i] = k;
            if k == 0 {
                continue;
            }
            ns_exec(
                &tb.air,
                &["ip", "link", "set", &node.port, "netns", &h.air[k]],
            );
            ns_exec(
                &h.air[k],
                &["ip", "link", "set", &node.port, "master", "br0", "up"],
            );
        }
        h
    }

    /// Who is who, as host `k`'s radio table sees it.
    pub fn radios(&self, tb: &Testbed, k: usize) -> crate::air::Radios {
        crate::air::Radios {
            mac: tb.nodes.iter().map(|n| n.mac.clone()).collect(),
            port: tb.nodes.iter().map(|n| n.port.clone()).collect(),
            local: self.host_of.iter().map(|&h| h == k).collect(),
        }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for ns in &self.made {
            let _ = testbed::output(&["ip", "netns", "del", ns]);
        }
    }
}
