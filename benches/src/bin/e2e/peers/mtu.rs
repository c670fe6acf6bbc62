//! The MTU check of every peer: full-size packets cross unfragmented,
//! one byte more does not, and the radio makes no fragment meanwhile.

use super::tunnel::*;
use crate::measure::snmp_counters;
use crate::net::Net;
use crate::results::MtuCheck;
use testbed::ns_output;

/// IPv4 fragments both namespaces of `net` have made so far.
pub(super) fn fragments(net: &Net) -> u64 {
    [net.client, net.server]
        .iter()
        .map(|&i| snmp_counters(&net.tb.nodes[i].ns, "Ip:", &["FragCreates"])[0])
        .sum()
}

/// `count` pings of `size` payload bytes with DF set: replies received.
pub(super) fn df_ping(net: &Net, size: u32, count: u32) -> u32 {
    let out = ns_output(
        &net.tb.nodes[net.client].ns,
        &[
            "ping",
            "-n",
            "-M",
            "do",
            "-W",
            "1",
            "-i",
            "0.2",
            "-c",
            &count.to_string(),
            "-s",
            &size.to_string(),
            &net.dst,
        ],
    );
    out.stdout
        .split(" received")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The MTU check: full-size pings (IP packet = the tunnel MTU, DF set)
/// must all come back with no fragment made on either side; then, with
/// both tunnel interfaces one byte larger, a packet of MTU + 1 must
/// fragment on the radio or not arrive, so the MTU is the largest.
pub(super) fn check_mtu(t: &Tunnel, mtu: u32) -> MtuCheck {
    let f0 = fragments(&t.net);
    let ok = df_ping(&t.net, mtu - 28, 3);
    let f1 = fragments(&t.net);
    let set = |m: u32| {
        for (side, iface) in [&SERVER, &CLIENT].iter().zip(&t.ifaces) {
            let _ = run_ok(
                &t.ns(side),
                &["ip", "link", "set", iface, "mtu", &m.to_string()],
            );
        }
    };
    set(mtu + 1);
    let above = df_ping(&t.net, mtu + 1 - 28, 3);
    let f2 = fragments(&t.net);
    set(mtu);
    let largest = ok == 3 && f1 == f0 && (above < 3 || f2 > f1);
    MtuCheck {
        at_mtu_replies: ok,
        at_mtu_fragments: f1 - f0,
        above_mtu_replies: above,
        above_mtu_fragments: f2 - f1,
        verified: largest,
    }
}

/// The MTU of the interface `ns` routes `dst` through.
pub(super) fn route_mtu(ns: &str, dst: &str) -> Option<u64> {
    let route = ns_output(ns, &["ip", "-o", "route", "get", dst]).stdout;
    let dev = route
        .split_whitespace()
        .skip_while(|w| *w != "dev")
        .nth(1)?
        .to_string();
    let link = ns_output(ns, &["ip", "-o", "link", "show", &dev]).stdout;
    link.split_whitespace()
        .skip_while(|w| *w != "mtu")
        .nth(1)?
        .parse()
        .ok()
}
