//! One RSU, one OBU on a shared radio: attach, ping both ways (IPv4 and
//! IPv6), an iperf3 TCP transfer, clean shutdown.

use std::time::Duration;
use testbed::{require_testbed, NodeOptions, Testbed, Topology};

fn up(opts: &NodeOptions) -> Testbed {
    let mut tb = Testbed::new(&Topology::star(1));
    tb.start_all(opts);
    tb.wait_ready(Duration::from_secs(10));
    tb
}

#[test]
fn obu_attaches_and_pings_both_ways_ipv4_and_ipv6() {
    require_testbed!();
    let tb = up(&NodeOptions::default());
    let (rsu, obu) = (0, 1);
    let routes = tb.api_json(obu, "/api/v1/routes");
    assert_eq!(routes["upstream"]["rsu"], tb.nodes[rsu].mac.as_str(), "{routes}");
    assert_eq!(routes["upstream"]["hops"], 1);
    let r = tb.ping(obu, &tb.nodes[rsu].addr4.clone(), 10, "0.05");
    assert_eq!(r.received, 10, "OBU -> RSU IPv4: {r:?}\n{}", tb.log(obu));
    let r = tb.ping(rsu, &tb.nodes[obu].addr4.clone(), 10, "0.05");
    assert_eq!(r.received, 10, "RSU -> OBU IPv4: {r:?}");
    let r = tb.ping(obu, &tb.nodes[rsu].addr6.clone(), 10, "0.05");
    assert_eq!(r.received, 10, "OBU -> RSU IPv6: {r:?}");
    let r = tb.ping(rsu, &tb.nodes[obu].addr6.clone(), 10, "0.05");
    assert_eq!(r.received, 10, "RSU -> OBU IPv6: {r:?}");
    // The RSU learned the OBU's route with its addresses.
    let rr = tb.api_json(rsu, "/api/v1/routes");
    let obus = rr["obus"].as_array().expect("obus");
    assert_eq!(obus.len(), 1, "{rr}");
    assert_eq!(obus[0]["id"], tb.nodes[obu].mac.as_str());
    let addrs = obus[0]["addresses"].to_string();
    assert!(addrs.contains(&tb.nodes[obu].addr4) && addrs.contains(&tb.nodes[obu].addr6), "{addrs}");
}
