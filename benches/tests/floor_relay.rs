//! The floor relay (the driver's yardstick) carries real traffic: ping
//! and a TCP bulk transfer cut into link-MTU frames, between two
//! namespaces over the emulated radio.

use benches::floor_relay;
use std::sync::atomic::Ordering::Relaxed;
use testbed::{ns_output, require_testbed, Testbed, Topology};

#[test]
fn floor_relays_carry_ping_and_tcp_cut_into_link_frames() {
    require_testbed!();
    if testbed::which("iperf3").is_none() {
        eprintln!("SKIPPED: iperf3 not installed (apt-get install iperf3)");
        return;
    }
    let mut tb = Testbed::new(&Topology::chain(1));
    let relays = floor_relay::start_pair(&tb, false).expect("floor relays start");
    let r = tb.ping(1, "10.98.0.1", 5, "0.05");
    assert_eq!(r.received, 5, "ping through the floor relays: {r:?}");
    let server = tb.spawn_in(0, &["iperf3", "-s", "-1", "-B", "10.98.0.1"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = ns_output(
        &tb.nodes[1].ns,
        &[
            "iperf3",
            "-c",
            "10.98.0.1",
            "-t",
            "2",
            "-J",
            "--connect-timeout",
            "3000",
        ],
    );
    assert_eq!(out.status, 0, "iperf3: {}\n{}", out.stdout, out.stderr);
    tb.wait_spawned(server, std::time::Duration::from_secs(10));
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("iperf3 JSON");
    let bytes = v["end"]["sum_received"]["bytes"].as_u64().unwrap_or(0);
    assert!(bytes > 10 * 1024 * 1024, "only {bytes} bytes in 2 s");
    // Segments of at most 1430 bytes, each its own frame from the sending
    // relay (a super-packet would not fit the link MTU).
    let (sent, got) = (relays[1].frames_sent(), relays[0].frames_received());
    assert!(sent >= bytes / 1430, "{sent} frames for {bytes} bytes");
    // The other side read at least that many (a full socket buffer may
    // drop some, which TCP then sends again) and sent the ACKs back.
    assert!(
        got >= bytes / 1430 && got <= sent,
        "received {got} of {sent} frames"
    );
    assert!(
        relays[0].frames_sent() > 100,
        "{} ACK frames",
        relays[0].frames_sent()
    );
    // It ran as the daemons do: TUN offload on, super-packets cut, ACKs
    // sharing frames, and nothing dropped on either side.
    assert!(relays.iter().all(|r| r.offload()), "TUN offload off");
    let c = relays[1].counters();
    let (tso, segs) = (c.tso_packets.load(Relaxed), c.tso_segments.load(Relaxed));
    assert!(
        tso > 0 && segs > tso,
        "{tso} super-packets cut into {segs} segments"
    );
    let aggregated = relays[0].counters().aggregated_frames.load(Relaxed);
    assert!(aggregated > 0, "no ACKs shared a frame");
    assert_eq!(relays[0].drops() + relays[1].drops(), 0, "drops");
}
