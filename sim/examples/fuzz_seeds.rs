//! Writes seed inputs for the fuzzers (real frames from simulated networks
//! in each security mode) into fuzz/regressions/:
//! `cargo run -p sim --example fuzz_seeds`.

use std::path::Path;

fn main() {
    use protocol::params::{RoutingConfig, SecurityMode};
    use sim::{addr, ipv4_packet, Sim};
    use std::time::Duration;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    for (k, mode) in [
        SecurityMode::Off,
        SecurityMode::Authenticated,
        SecurityMode::Encrypted,
    ]
    .into_iter()
    .enumerate()
    {
        let mut s = Sim::new(RoutingConfig::default()).with_security(mode);
        let r = s.add_rsu();
        let a = s.add_obu();
        let b = s.add_obu();
        s.link(r, a);
        s.link(a, b);
        let mut frames: Vec<Vec<u8>> = Vec::new();
        for t in 0..400 {
            if t % 20 == 0 {
                s.send_ip(b, &ipv4_packet(addr(b), addr(r), t as u8, 30));
                s.send_ip(r, &ipv4_packet(addr(r), addr(b), t as u8, 30));
            }
            frames.extend(s.in_flight().map(|(_, f)| f.to_vec()));
            s.run_for(Duration::from_millis(1));
        }
        frames.sort();
        frames.dedup();
        // Frame seeds: the messages after the Ethernet header.
        for (i, f) in frames.iter().enumerate().take(40) {
            std::fs::write(root.join(format!("frame/seed-{k}-{i}")), &f[14..]).unwrap();
        }
        // Role seeds: mode byte, then (op, len) records of frames and ticks.
        let mut input = vec![k as u8];
        for f in frames.iter().take(60) {
            let body = &f[14..];
            let op = if f[0] == 0xff { 0x10 } else { 0x00 };
            input.push(op);
            input.extend_from_slice(&(body.len() as u16).to_be_bytes());
            input.extend_from_slice(body);
            input.extend_from_slice(&[3, 1, 0]);
        }
        std::fs::write(root.join(format!("obu/seed-{k}")), &input).unwrap();
        std::fs::write(root.join(format!("rsu/seed-{k}")), &input).unwrap();
    }
}
