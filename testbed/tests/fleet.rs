//! What a fleet needs, with the real daemons in namespaces, in both secure
//! modes: broadcast signed under certificates (delivered once over a relay,
//! forgeries and replays dropped and counted), certified keys at relays,
//! revocation by SIGHUP, and the overlay diagnostics (`obu ping`, `obu
//! traceroute`, `rsu show topology`).
//!
//! Topology: rsu (0) — relay (1) — obu2 (2) and obu3 (3), which hear only
//! the relay.

use common::action::Control;
use common::wire::{
    AddrList, BeaconReplyRepr, BroadcastRepr, MessageType, BROADCAST_OVERHEAD, HEADER_LEN,
};
use common::NodeId;
use secure::Identity;
use std::time::{Duration, Instant};
use testbed::{
    bin_dir, epoch_now, mac_bytes, ns_output, reply_times, require_testbed, NodeOptions, Role,
    Testbed, Topology,
};

fn opts(mode: &str) -> NodeOptions {
    NodeOptions {
        security: Some(mode.parse().expect("a security mode")),
        broadcast_ttl: 2,
        ..NodeOptions::default()
    }
}

fn cell() -> Topology {
    let mut t = Topology::new();
    let r = t.node("rsu", Role::Rsu);
    let relay = t.node("relay", Role::Obu);
    let a = t.node("obu2", Role::Obu);
    let b = t.node("obu3", Role::Obu);
    t.link(r, relay).link(relay, a).link(relay, b);
    t
}

/// Every OBU attached and holding a certificate from the RSU.
fn up(mode: &str) -> Testbed {
    let mut tb = Testbed::new(&cell());
    tb.start_all(&opts(mode));
    tb.wait_ready(Duration::from_secs(15));
    let ok = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        (1..=3).all(|i| tb.stat(i, "security", "certs_accepted") >= 1)
            && tb.wait_rsu_routes(0, 3, Duration::from_millis(1))
    });
    assert!(ok, "{mode}: certificates\n{}\n{}", tb.log(0), tb.log(2));
    tb
}

fn drops(tb: &Testbed, i: usize, reason: &str) -> u64 {
    tb.stat(i, "drops", reason)
}

fn wall_us() -> u64 {
    (epoch_now() * 1e6) as u64
}

/// A whole Ethernet frame carrying `msg`.
fn frame(dst: [u8; 6], src: [u8; 6], msg: &Control, ttl: u8) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + msg.wire_len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&common::wire::DEFAULT_ETHERTYPE.to_be_bytes());
    let at = f.len();
    f.resize(at + msg.wire_len(), 0);
    msg.emit(ttl, &mut f[at..]);
    f
}

/// Broadcast data claiming `origin`, signed by `signer` under `cert`.
fn forged_broadcast(
    origin: [u8; 6],
    seq: u32,
    signer: &Identity,
    cert: &common::wire::CertRepr,
) -> Vec<u8> {
    let packet = [0x45u8; 28];
    let fixed = BROADCAST_OVERHEAD - HEADER_LEN;
    let mut body = vec![0u8; fixed + packet.len()];
    BroadcastRepr::emit_fixed(NodeId(origin), seq, &mut body);
    body[fixed..].copy_from_slice(&packet);
    let raw = secure::cert::sign_certified(
        signer,
        cert,
        MessageType::Broadcast,
        &body,
        wall_us(),
        &mut Vec::new(),
    );
    frame([0xff; 6], origin, &Control::Raw(Box::new(raw)), 1)
}

fn broadcast_and_forgeries(mode: &str) {
    let tb = up(mode);
    let obu2 = mac_bytes(&tb.nodes[2].mac);
    // 1. Five datagrams to the subnet broadcast address from obu2, TTL 2:
    //    the relay, the RSU and obu3 get each exactly once.
    let port = 47100;
    let listeners: Vec<_> = [0, 1, 3]
        .iter()
        .map(|&i| (i, tb.udp_listen(i, port, Duration::from_millis(2000))))
        .collect();
    let cap = tb.capture(1, Duration::from_millis(1500));
    let payloads: Vec<Vec<u8>> = (0..5u8).map(|k| vec![0xb1, k]).collect();
    tb.udp_send(2, "10.42.255.255", port, &payloads)
        .expect("send broadcast");
    for (i, h) in listeners {
        let got = h.join().unwrap().expect("listener");
        let mine = got.iter().filter(|p| p.len() == 2 && p[0] == 0xb1).count();
        assert_eq!(mine, 5, "{mode}: node {} got {got:?}", tb.nodes[i].name);
    }
    // 2. Played again from the air: a duplicate at once, `replayed` once
    //    older than the clock skew allows (5 s).
    let frames = cap.join().unwrap().expect("capture");
    let captured = frames
        .iter()
        .find(|f| f.len() > 40 && f[6..12] == obu2 && f[14 + 1] == 5)
        .expect("obu2's broadcast on the relay's air")
        .clone();
    let seq_at = 14 + HEADER_LEN + 6;
    let seq = u32::from_be_bytes(captured[seq_at..seq_at + 4].try_into().unwrap());
    // Nothing injected from here on may reach an application.
    let quiet: Vec<_> = [1, 3]
        .iter()
        .map(|&i| (i, tb.udp_listen(i, port, Duration::from_millis(7000))))
        .collect();
    let dup = drops(&tb, 1, "duplicate");
    tb.raw_send(2, std::slice::from_ref(&captured))
        .expect("replay");
    // 3. Forgeries: unsigned; an outsider's key with a certificate it made
    //    itself; obu2's real certificate signed by another key; a bit
    //    flipped in the captured one.
    let mut unsigned = captured.clone();
    unsigned[14 + 2] = 0; // flags: not signed
    let body_len = u16::from_be_bytes([unsigned[14 + 4], unsigned[14 + 5]]) as usize;
    let cut = (body_len - common::wire::auth::CERT_AUTH_LEN) as u16;
    unsigned[14 + 4..14 + 6].copy_from_slice(&cut.to_be_bytes());
    unsigned.truncate(14 + HEADER_LEN + cut as usize);
    let outsider = Identity::from_seed(&[0x66; 32]);
    let self_made = secure::cert::issue(
        &outsider,
        NodeId(obu2),
        &outsider.public(),
        wall_us(),
        600_000_000,
        0,
    );
    let trailer = &captured[14 + HEADER_LEN + body_len - common::wire::auth::CERT_AUTH_LEN..];
    let real_cert = common::wire::CertRepr::parse(&trailer[8..]).expect("certificate");
    // Numbers ahead of everything obu2 sent, so the checks get as far as
    // the signatures (a number seen already is dropped as a duplicate
    // before any signature is checked).
    let mut flipped = captured.clone();
    flipped[seq_at..seq_at + 4].copy_from_slice(&(seq + 2000).to_be_bytes());
    let (auth0, unprot0) = (drops(&tb, 1, "auth_failed"), drops(&tb, 1, "unprotected"));
    let forged = vec![
        unsigned,
        forged_broadcast(obu2, seq + 1000, &outsider, &self_made),
        forged_broadcast(obu2, seq + 1001, &outsider, &real_cert),
        flipped,
    ];
    tb.raw_send(2, &forged).expect("forge");
    std::thread::sleep(Duration::from_millis(300));
    // (Stale beacon copies count as duplicates too.)
    assert!(drops(&tb, 1, "duplicate") > dup, "{mode}: duplicate");
    assert_eq!(
        drops(&tb, 1, "unprotected"),
        unprot0 + 1,
        "{mode}: unsigned"
    );
    assert_eq!(drops(&tb, 1, "auth_failed"), auth0 + 3, "{mode}: forged");
    std::thread::sleep(Duration::from_millis(5200));
    let replayed = drops(&tb, 1, "replayed");
    tb.raw_send(2, std::slice::from_ref(&captured))
        .expect("replay");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(drops(&tb, 1, "replayed"), replayed + 1, "{mode}: replayed");
    for (i, h) in quiet {
        let got = h.join().unwrap().expect("listener");
        assert!(got.is_empty(), "{mode}: node {i} delivered {got:?}");
    }
    // 4. An outsider signs replies for a new OBU id, with no certificate
    //    and with one it made itself (which counts for nothing): the relay
    //    passes them up but never learns the route, as the RSU, which
    //    allows only our OBUs, never certifies the key.
    let victim = NodeId([0x02, 0xee, 0, 0, 0, 0x01]);
    let rsu = NodeId(mac_bytes(&tb.nodes[0].mac));
    let relay = mac_bytes(&tb.nodes[1].mac);
    let own = secure::cert::issue(
        &outsider,
        victim,
        &outsider.public(),
        wall_us(),
        600_000_000,
        0,
    );
    for cert in [None, Some(own)] {
        let r = BeaconReplyRepr {
            obu: victim,
            rsu,
            seq: 1,
            timestamp_us: 0,
            hops: 2,
            addrs: AddrList::from_slice(&["10.42.99.1/32".parse().unwrap()]).unwrap(),
            attach_seq: 1,
            leaving: false,
            cert,
            parent: NodeId(relay),
            quality_pct: 100,
        };
        let raw = secure::control::sign_reply(&outsider, &r, wall_us(), &mut Vec::new());
        let f = frame(relay, victim.0, &Control::Raw(Box::new(raw)), 4);
        tb.raw_send(2, &[f]).expect("send reply");
    }
    std::thread::sleep(Duration::from_millis(1500));
    let routes = tb.api_json(1, "/api/v1/routes").to_string();
    assert!(
        !routes.contains(&victim.to_string()),
        "{mode}: the relay learned the outsider's route: {routes}"
    );
    let rsu_routes = tb.api_json(0, "/api/v1/routes").to_string();
    assert!(!rsu_routes.contains(&victim.to_string()), "{mode}");
    // 5. Overlay diagnostics across two hops.
    diagnostics(&tb, mode);
}

fn run(tb: &Testbed, i: usize, args: &[&str]) -> testbed::CmdOutput {
    let bin = bin_dir().join(tb.nodes[i].role.binary());
    let mut v = vec![bin.to_str().unwrap()];
    v.extend_from_slice(args);
    ns_output(&tb.nodes[i].ns, &v)
}

fn diagnostics(tb: &Testbed, mode: &str) {
    let (rsu, relay, obu3) = (&tb.nodes[0].mac, &tb.nodes[1].mac, &tb.nodes[3].mac);
    let out = run(tb, 2, &["ping", rsu, "-c", "3", "-i", "0.2"]);
    assert_eq!(out.status, 0, "{mode}: {}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout.matches(&format!("reply from {rsu}")).count(),
        3,
        "{mode}: {}",
        out.stdout
    );
    assert!(out.stdout.contains("hops=2"), "{}", out.stdout);
    // By address, to another OBU (through the relay).
    let out = run(tb, 2, &["ping", &tb.nodes[3].addr4, "-c", "2", "-i", "0.2"]);
    assert_eq!(out.status, 0, "{mode}: {}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!("reply from {obu3}")),
        "{}",
        out.stdout
    );
    let out = run(tb, 2, &["traceroute", rsu]);
    assert_eq!(out.status, 0, "{mode}: {}{}", out.stdout, out.stderr);
    let hops: Vec<&str> = out
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(
        hops,
        [relay.as_str(), rsu.as_str()],
        "{mode}: {}",
        out.stdout
    );
    // Nobody by that id: no answer, exit 1.
    let out = run(
        tb,
        2,
        &["ping", "02:99:00:00:00:01", "-c", "1", "-W", "0.3"],
    );
    assert_eq!(out.status, 1, "{mode}: {}", out.stdout);
    // The RSU's cell as a tree and as a Graphviz graph.
    let out = run(tb, 0, &["show", "topology", "--format", "dot"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    for child in [&tb.nodes[2].mac, obu3] {
        assert!(
            out.stdout.contains(&format!("\"{relay}\" -> \"{child}\"")),
            "{mode}: {}",
            out.stdout
        );
    }
    assert!(out.stdout.contains(&format!("\"{rsu}\" -> \"{relay}\"")));
    let out = run(tb, 0, &["show", "topology", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["children"][0]["id"], relay.as_str(), "{}", out.stdout);
    assert_eq!(
        v["children"][0]["children"].as_array().map(Vec::len),
        Some(2)
    );
    let q = v["children"][0]["link_quality_pct"].as_u64().unwrap_or(0);
    assert!(q > 50, "{mode}: link quality {q}");
}

#[test]
fn authenticated_broadcast_certified_relays_and_diagnostics() {
    require_testbed!();
    broadcast_and_forgeries("authenticated");
}

#[test]
fn encrypted_broadcast_certified_relays_and_diagnostics() {
    require_testbed!();
    broadcast_and_forgeries("encrypted");
}

/// Removing obu3's key from the RSU's list and SIGHUP: cut within 1 s;
/// adding it back: restored.
fn revocation(mode: &str) {
    let mut tb = up(mode);
    let obu3 = tb.nodes[3].addr4.clone();
    let ping = tb.spawn_in(
        0,
        &[
            "ping", "-n", "-D", "-i", "0.01", "-c", "300", "-W", "1", &obu3,
        ],
    );
    std::thread::sleep(Duration::from_millis(1000));
    tb.distrusted.push(3);
    tb.write_config(0, &opts(mode));
    let pid = tb.pid(0).expect("rsu pid") as i32;
    let sighup = epoch_now();
    // SAFETY: signals the daemon we started.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    let mac3 = tb.nodes[3].mac.clone();
    let t0 = Instant::now();
    let mut gone = None;
    while t0.elapsed() < Duration::from_secs(3) {
        if !tb.api_json(0, "/api/v1/routes").to_string().contains(&mac3) {
            gone = Some(t0.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = tb
        .wait_spawned(ping, Duration::from_secs(15))
        .unwrap_or_default();
    let times = reply_times(&out);
    let last = times.iter().cloned().fold(0.0, f64::max);
    let cut = last - sighup;
    println!(
        "REVOCATION {mode}: last reply {:.0} ms after SIGHUP; route gone from the API after {:?}",
        cut * 1000.0,
        gone
    );
    assert!(
        gone.is_some_and(|d| d < Duration::from_secs(1)),
        "{mode}: route still there"
    );
    assert!(
        cut < 1.0,
        "{mode}: replies went on {cut:.3} s after the SIGHUP"
    );
    assert!(times.len() > 50, "{mode}: pinged before: {}", times.len());
    assert!(tb.log(0).contains("no longer allowed"), "{mode}");
    // obu2 kept its service.
    let r = tb.ping(0, &tb.nodes[2].addr4.clone(), 10, "0.02");
    assert_eq!(r.received, 10, "{mode}: obu2 {r:?}");
    // Allowed again.
    tb.distrusted.clear();
    tb.write_config(0, &opts(mode));
    let back = epoch_now();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    let ok = (0..100).any(|_| {
        let r = tb.ping(0, &obu3, 1, "0.1");
        r.received == 1
    });
    println!(
        "REVOCATION {mode}: restored {:.0} ms after the second SIGHUP",
        (epoch_now() - back) * 1000.0
    );
    assert!(ok, "{mode}: not restored\n{}", tb.log_tail(3, 30));
}

#[test]
fn authenticated_revocation_by_sighup() {
    require_testbed!();
    revocation("authenticated");
}

#[test]
fn encrypted_revocation_by_sighup() {
    require_testbed!();
    revocation("encrypted");
}
