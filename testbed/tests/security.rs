//! Security in real namespaces with the real daemons: encrypted traffic
//! over two hops, a rogue RSU, frames captured off the air and replayed,
//! flipped bits, and key files.

use std::time::Duration;
use testbed::{require_testbed, NodeOptions, Role, Testbed, Topology};

fn secure_opts(mode: &str) -> NodeOptions {
    NodeOptions {
        security: Some(mode.parse().expect("a security mode")),
        ..NodeOptions::default()
    }
}

fn drops(tb: &Testbed, i: usize, reason: &str) -> u64 {
    tb.stat(i, "drops", reason)
}

/// RSU (0) — OBU (1) — OBU (2), encrypted, sessions up.
fn chain() -> Testbed {
    let mut tb = Testbed::new(&Topology::chain(2));
    tb.start_all(&secure_opts("encrypted"));
    tb.wait_ready(Duration::from_secs(10));
    let ok = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        tb.stat(1, "routing", "handshakes") >= 1 && tb.stat(2, "routing", "handshakes") >= 1
    });
    assert!(ok, "sessions up\n{}\n{}", tb.log(1), tb.log(2));
    tb
}

#[test]
fn encrypted_two_hops_ping_tcp_and_no_plaintext_on_the_air() {
    require_testbed!();
    let tb = chain();
    let rsu4 = tb.nodes[0].addr4.clone();
    let far4 = tb.nodes[2].addr4.clone();
    let r = tb.ping(2, &rsu4, 20, "0.02");
    assert_eq!(r.received, 20, "far OBU -> RSU: {r:?}\n{}", tb.log(2));
    let r = tb.ping(0, &far4, 20, "0.02");
    assert_eq!(r.received, 20, "RSU -> far OBU: {r:?}");
    let r = tb.ping(2, &tb.nodes[0].addr6.clone(), 10, "0.02");
    assert_eq!(r.received, 10, "IPv6: {r:?}");
    let r = tb.ping(2, &tb.nodes[1].addr4.clone(), 10, "0.02");
    assert_eq!(r.received, 10, "V2V through the RSU: {r:?}");
    let n = 4 * 1024 * 1024 + 777;
    assert_eq!(
        tb.tcp_transfer(2, 0, 5101, n).map_err(|e| e.to_string()),
        Ok(n),
        "far OBU -> RSU bytes"
    );
    assert_eq!(
        tb.tcp_transfer(0, 2, 5102, n).map_err(|e| e.to_string()),
        Ok(n),
        "RSU -> far OBU bytes"
    );
    // A marker sent over UDP arrives, but never shows on the relay's radio.
    let marker = b"V2XD-PLAINTEXT-MARKER-0123456789";
    let cap = tb.capture(1, Duration::from_millis(1500));
    let rx = tb.udp_listen(0, 5103, Duration::from_millis(1500));
    std::thread::sleep(Duration::from_millis(200));
    tb.udp_send(2, &rsu4, 5103, &vec![marker.to_vec(); 20])
        .expect("udp send");
    let got = rx.join().unwrap().expect("udp listen");
    assert!(got.iter().any(|d| d == marker), "marker delivered");
    let frames = cap.join().unwrap().expect("capture");
    assert!(frames.len() >= 20, "captured {}", frames.len());
    assert!(
        !frames
            .iter()
            .any(|f| f.windows(marker.len()).any(|w| w == marker)),
        "plaintext seen on the air"
    );
    for i in 0..3 {
        assert_eq!(drops(&tb, i, "decrypt_failed"), 0, "node {i}");
    }
}

#[test]
fn obu_never_attaches_to_a_rogue_rsu() {
    require_testbed!();
    // Trusted RSU 0, rogue RSU 1 (key in nobody's list), OBU 2 hears both.
    let mut t = Topology::new();
    let good = t.node("rsu", Role::Rsu);
    let rogue = t.node("rogue", Role::Rsu);
    let obu = t.node("obu", Role::Obu);
    t.link(good, obu).link(rogue, obu);
    let mut tb = Testbed::new(&t);
    tb.distrusted.push(rogue);
    tb.start_all(&secure_opts("encrypted"));
    assert!(
        tb.wait_node_ready(obu, Duration::from_secs(10)),
        "{}",
        tb.log(obu)
    );
    for _ in 0..10 {
        assert_eq!(tb.upstream(obu).map(|u| u.0), Some(good));
        std::thread::sleep(Duration::from_millis(200));
    }
    let cands = tb.api_json(obu, "/api/v1/routes")["candidates"].to_string();
    assert!(
        !cands.contains(&tb.nodes[rogue].mac),
        "rogue is a candidate: {cands}"
    );
    assert!(
        drops(&tb, obu, "auth_failed") >= 10,
        "rogue beacons refused"
    );
    let r = tb.ping(obu, &tb.nodes[good].addr4.clone(), 10, "0.02");
    assert_eq!(r.received, 10, "{r:?}");
    // Take the trusted RSU away: the OBU loses its upstream and does not
    // fall back to the rogue.
    tb.cut(good, obu);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(tb.upstream(obu), None, "attached to the rogue");
    let (code, _) = tb.api(obu, "/readyz").expect("readyz");
    assert_eq!(code, 503);
}

#[test]
fn replayed_and_bit_flipped_frames_are_dropped_while_traffic_flows() {
    require_testbed!();
    let mut tb = chain();
    tb.hub_mode();
    let rsu4 = tb.nodes[0].addr4.clone();
    // Record the relay's air while traffic flows through it.
    let cap = tb.capture(1, Duration::from_millis(1500));
    let r = tb.ping(2, &rsu4, 50, "0.02");
    assert_eq!(r.received, 50, "{r:?}");
    let frames = cap.join().unwrap().expect("capture");
    assert!(frames.len() > 100, "captured {}", frames.len());
    std::thread::sleep(Duration::from_millis(500));
    // Sealed data played back inside its session's counter window counts
    // as a copy (`duplicate`), anything else as `replayed`.
    let refused = |tb: &testbed::Testbed| -> u64 {
        (0..3)
            .map(|i| drops(tb, i, "replayed") + drops(tb, i, "duplicate"))
            .sum()
    };
    let before = refused(&tb);
    let delivered_before = tb.stat(0, "tun", "tx_packets");
    // Signed broadcasts (the kernels' own IPv6 multicast) are delivered too.
    let broadcasts_before = tb.stat(0, "security", "broadcasts_verified");
    // Replay everything (from the relay's port), with a ping running.
    let ping = tb.spawn_in(2, &["ping", "-n", "-q", "-i", "0.01", "-c", "200", &rsu4]);
    for _ in 0..3 {
        tb.raw_send(1, &frames).expect("replay");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = tb
        .wait_spawned(ping, Duration::from_secs(15))
        .unwrap_or_default();
    let p = testbed::PingResult::parse(&out);
    assert!(p.received >= 190, "ping during replays: {p:?}\n{out}");
    let replayed = refused(&tb) - before;
    assert!(
        replayed >= frames.len() as u64,
        "replays counted: {replayed} of {} frames x3",
        frames.len()
    );
    // No replayed packet reached the RSU's TUN: only the new pings did
    // (and new signed broadcasts, each checked and counted).
    let broadcasts = tb.stat(0, "security", "broadcasts_verified") - broadcasts_before;
    let delivered = tb.stat(0, "tun", "tx_packets") - delivered_before - broadcasts;
    assert!(
        delivered <= 200,
        "RSU delivered {delivered} packets for 200 pings"
    );
    // One flipped bit in a sealed data frame: the counter's top byte (a
    // fresh counter, so the tag is checked and fails).
    let rsu_mac: Vec<u8> = tb.nodes[0]
        .mac
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    let sealed = frames
        .iter()
        .find(|f| f.len() > 100 && f[..6] == rsu_mac[..] && f[14 + 1] == 3 && f[14 + 2] & 2 != 0)
        .expect("a sealed upstream data frame to the RSU");
    let mut flipped = sealed.clone();
    flipped[14 + 6 + 16] ^= 0x80;
    let before = drops(&tb, 0, "decrypt_failed");
    tb.raw_send(1, &[flipped]).expect("send");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(drops(&tb, 0, "decrypt_failed"), before + 1);
    let r = tb.ping(2, &rsu4, 10, "0.02");
    assert_eq!(r.received, 10, "traffic after the attacks: {r:?}");
}

#[test]
fn keygen_writes_private_keys_and_bad_key_files_are_config_errors() {
    require_testbed!();
    use std::os::unix::fs::PermissionsExt;
    let mut tb = Testbed::new(&Topology::star(1));
    tb.ensure_keys();
    let key = tb.dir.join(format!("{}.key", tb.nodes[1].name));
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        std::fs::read_to_string(key.with_extension("key.pub"))
            .unwrap()
            .trim(),
        tb.keys[1]
    );
    let cfg = tb.write_config(1, &secure_opts("encrypted"));
    let bin = testbed::bin_dir().join("obu");
    let check = |cfg: &std::path::Path| {
        std::process::Command::new(&bin)
            .arg("--check-config")
            .arg("--config")
            .arg(cfg)
            .output()
            .unwrap()
    };
    assert!(check(&cfg).status.success());
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = check(&cfg);
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("security.key_file") && err.contains("chmod 600"),
        "{err}"
    );
    // keygen never overwrites a key.
    let again = std::process::Command::new(&bin)
        .arg("keygen")
        .arg(&key)
        .output()
        .unwrap();
    assert!(!again.status.success());
}

#[test]
fn sessions_rekey_under_traffic_without_losing_bytes() {
    require_testbed!();
    let mut tb = Testbed::new(&Topology::star(1));
    tb.start_all(&NodeOptions {
        security: Some(testbed::SecurityMode::Encrypted),
        security_extra: "rekey_after_messages = 1000".into(),
        ..NodeOptions::default()
    });
    tb.wait_ready(Duration::from_secs(10));
    let up = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        tb.stat(1, "routing", "handshakes") >= 1
    });
    assert!(up, "session up");
    // 32 MiB each way is thousands of sealed messages. The OBU looks at
    // its message count between turns of its loop, so how many rekeys
    // fall into one transfer depends on how fast it goes (one run: 2 or 3
    // at 500 Mbit/s): transfer until three rekeys have happened, every
    // byte arriving each time.
    let n = 32 * 1024 * 1024 + 3;
    let mut rounds = 0;
    while tb.stat(1, "routing", "handshakes") < 4 && rounds < 6 {
        let port = 5201 + 2 * rounds;
        assert_eq!(
            tb.tcp_transfer(1, 0, port, n).map_err(|e| e.to_string()),
            Ok(n),
            "OBU -> RSU bytes"
        );
        assert_eq!(
            tb.tcp_transfer(0, 1, port + 1, n)
                .map_err(|e| e.to_string()),
            Ok(n),
            "RSU -> OBU bytes"
        );
        rounds += 1;
    }
    let hs = tb.stat(1, "routing", "handshakes");
    assert!(
        hs >= 4,
        "only {hs} handshakes in {rounds} rounds of transfers"
    );
    let r = tb.ping(1, &tb.nodes[0].addr4.clone(), 20, "0.01");
    assert_eq!(r.received, 20, "{r:?}");
}

#[test]
fn sighup_reloads_the_trust_lists() {
    require_testbed!();
    // The RSU allows OBU 2's key but not OBU 1's at first.
    let mut tb = Testbed::new(&Topology::star(2));
    tb.ensure_keys();
    tb.distrusted.push(1);
    tb.start_all(&secure_opts("encrypted"));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(tb.stat(1, "routing", "handshakes"), 0, "refused at first");
    assert!(drops(&tb, 0, "auth_failed") > 0);
    // Allow it in the file, then SIGHUP: the OBU gets its session.
    tb.distrusted.clear();
    tb.write_config(0, &secure_opts("encrypted"));
    let pid = tb.pid(0).expect("rsu pid") as i32;
    // SAFETY: signals the daemon we started.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    let up = (0..40).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        tb.stat(1, "routing", "handshakes") >= 1
    });
    assert!(up, "session after the reload\n{}", tb.log(0));
    assert!(tb
        .log(0)
        .contains("security trust lists and limits reloaded"));
    let r = tb.ping(1, &tb.nodes[0].addr4.clone(), 10, "0.02");
    assert_eq!(r.received, 10, "{r:?}");
}

fn with_suite(extra: &str) -> NodeOptions {
    NodeOptions {
        security: Some(testbed::SecurityMode::Encrypted),
        security_extra: extra.into(),
        ..NodeOptions::default()
    }
}

fn session_up(tb: &Testbed, obu: usize) -> bool {
    (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        tb.stat(obu, "routing", "handshakes") >= 1
    })
}

/// Each cipher, and the post-quantum handshake, end to end between the
/// real daemons: the session says what it uses, and traffic flows.
#[test]
fn each_cipher_and_post_quantum_carry_traffic() {
    require_testbed!();
    for (extra, cipher, pq) in [
        ("cipher = \"aes-256-gcm\"", "aes-256-gcm", false),
        ("cipher = \"chacha20-poly1305\"", "chacha20-poly1305", false),
        (
            "cipher = \"chacha20-poly1305\"\npost_quantum = true",
            "chacha20-poly1305",
            true,
        ),
    ] {
        let mut tb = Testbed::new(&Topology::star(1));
        tb.start_all(&with_suite(extra));
        tb.wait_ready(Duration::from_secs(10));
        assert!(session_up(&tb, 1), "session up with {extra}\n{}", tb.log(1));
        let line = tb
            .log(1)
            .lines()
            .find(|l| l.contains("session established"))
            .map(str::to_owned)
            .unwrap_or_default();
        assert!(line.contains(cipher), "{extra}: {line}");
        assert!(
            line.contains(&format!("post_quantum={pq}")),
            "{extra}: {line}"
        );
        let r = tb.ping(1, &tb.nodes[0].addr4.clone(), 10, "0.02");
        assert_eq!(r.received, 10, "{extra}: {r:?}");
        let n = 4 * 1024 * 1024 + 1;
        assert_eq!(
            tb.tcp_transfer(1, 0, 5201, n).map_err(|e| e.to_string()),
            Ok(n),
            "{extra}: OBU -> RSU bytes"
        );
        assert_eq!(drops(&tb, 0, "incompatible"), 0);
    }
}

/// Settings with nothing in common: no session, a clear line in both
/// logs, counted at both; fixed by a reload without a restart.
#[test]
fn mismatched_settings_are_logged_at_both_ends_and_heal_after_a_reload() {
    require_testbed!();
    for (rsu, obu, words) in [
        (
            "cipher = \"aes-256-gcm\"",
            "cipher = \"chacha20-poly1305\"",
            "no cipher in common",
        ),
        (
            "post_quantum = true",
            "",
            "post_quantum is off at the initiator (OBU) and on at the responder (RSU)",
        ),
    ] {
        let mut tb = Testbed::new(&Topology::star(1));
        tb.ensure_keys();
        tb.start(0, &with_suite(rsu));
        tb.start(1, &with_suite(obu));
        tb.wait_ready(Duration::from_secs(10));
        let refused = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            drops(&tb, 1, "incompatible") >= 1
        });
        assert!(
            refused,
            "refusal reached the OBU\n{}\n{}",
            tb.log(0),
            tb.log(1)
        );
        assert!(drops(&tb, 0, "incompatible") >= 1);
        assert_eq!(tb.stat(1, "routing", "handshakes"), 0, "no session");
        for (i, who) in [
            (0, "refused a session: "),
            (1, "the RSU refused a session: "),
        ] {
            let log = tb.log(i);
            assert!(
                log.lines()
                    .any(|l| l.contains("WARN") && l.contains(who) && l.contains(words)),
                "node {i} does not say why:\n{log}"
            );
        }
        // Set the RSU like the OBU and reload it: the OBU's next try (within
        // 10 s of the refusal) gets a session.
        tb.write_config(0, &with_suite(obu));
        let pid = tb.pid(0).expect("rsu pid") as i32;
        // SAFETY: signals the daemon we started.
        unsafe { libc::kill(pid, libc::SIGHUP) };
        let up = (0..150).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            tb.stat(1, "routing", "handshakes") >= 1
        });
        assert!(up, "session after the reload\n{}\n{}", tb.log(0), tb.log(1));
        let r = tb.ping(1, &tb.nodes[0].addr4.clone(), 5, "0.02");
        assert_eq!(r.received, 5, "{r:?}");
    }
}
