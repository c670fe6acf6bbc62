//! Fuzz target bodies. The coverage-guided targets in `fuzz/` call these,
//! and `tests/fuzz_regressions.rs` replays every saved input through them
//! in the normal test run, so a crash once found stays fixed.
//!
//! Each takes arbitrary bytes and must never panic.

use crate::{mac, rsu_fleet_key, WALL_AT_ZERO_US};
use common::counters::Counters;
use common::ip::IpPrefix;
use common::wire::{Body, EthernetFrame, Messages, Sealed, ETH_HEADER_LEN};
use common::{NodeId, Time};
use protocol::params::{RoutingConfig, SecurityConfig, SecurityMode};
use protocol::role::Role;
use protocol::role_params::RoleParams;
use protocol::security::Security;
use secure::control;
use secure::{Freshness, Identity};
use std::sync::Arc;
use std::time::Duration;

/// The frame parser and the checks on parsed messages.
pub fn frame(data: &[u8]) {
    let _ = EthernetFrame::new_checked(data).map(|f| (f.src(), f.dst()));
    let mut scratch = Vec::new();
    let mut cache = secure::VerifyCache::new();
    let fresh = Freshness {
        now_us: WALL_AT_ZERO_US,
        max_age_us: 5_000_000,
    };
    for m in Messages::new(data).flatten() {
        match m.body {
            Body::Beacon(b) => {
                let _ = control::verify_beacon(
                    m.raw,
                    m.trailer,
                    b.hops,
                    |_| true,
                    fresh,
                    &mut cache,
                    &mut scratch,
                );
                let _ = control::relay_beacon(m.raw, b.hops.saturating_add(1));
            }
            Body::BeaconReply(_) => {
                let _ = control::verify_reply(m.raw, m.trailer, fresh, &mut cache, &mut scratch);
            }
            Body::Data(d) => {
                if let Ok(s) = Sealed::new_checked(d.payload) {
                    let _ = (s.index(), s.counter(), s.text_range(), s.tag_range());
                }
            }
            _ => {}
        }
    }
}

fn params(i: usize, mode: SecurityMode, identity: Identity) -> RoleParams {
    let sec = SecurityConfig {
        mode,
        trusted_rsus: vec![rsu_fleet_key().public()],
        allow_any_obu: true,
        ..SecurityConfig::default()
    };
    let security = (mode != SecurityMode::Off)
        .then(|| Security::new(&sec, mac(i), Arc::new(identity), WALL_AT_ZERO_US));
    RoleParams {
        id: mac(i),
        mac: mac(i),
        addresses: vec![IpPrefix::new(crate::addr(i), 8).expect("valid prefix")],
        routing: RoutingConfig::default(),
        seed: i as u64,
        counters: Arc::new(Counters::default()),
        security,
        preference: 0,
        attach_seq_start: 1,
    }
}

/// Drives a role with events decoded from `data`: frames (from a few
/// neighbours, to us or broadcast, payload from the input), TUN packets and
/// time steps. The first byte picks the security mode.
fn drive(role: &mut dyn Role, me: NodeId, data: &[u8]) {
    let mut now = Time::from_millis(1);
    let mut out = Vec::new();
    let mut rest = data;
    while let [op, a, b, tail @ ..] = rest {
        let len = (u16::from_be_bytes([*a, *b]) as usize % 1600).min(tail.len());
        let (chunk, next) = tail.split_at(len);
        rest = next;
        match op % 4 {
            0 | 1 => {
                let mut f = Vec::with_capacity(ETH_HEADER_LEN + chunk.len());
                f.extend_from_slice(if op & 0x10 != 0 { &[0xff; 6] } else { &me.0 });
                f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x80 | (op >> 5)]);
                f.extend_from_slice(&[0x88, 0xb5]);
                f.extend_from_slice(chunk);
                role.on_frame(now, 0, &mut f, &mut out);
            }
            2 => role.on_tun(now, 0, chunk, &mut out),
            _ => {
                now = now + Duration::from_millis(u64::from(*a) * 10);
                role.on_tick(now, &mut out);
            }
        }
        out.clear();
    }
    role.on_tick(now + Duration::from_secs(60), &mut out);
}

fn mode(data: &[u8]) -> SecurityMode {
    match data.first().map(|b| b % 3) {
        Some(1) => SecurityMode::Authenticated,
        Some(2) => SecurityMode::Encrypted,
        _ => SecurityMode::Off,
    }
}

/// The OBU state machine fed random events; its tables stay bounded.
pub fn obu(data: &[u8]) {
    let mut o = obu_lib::Obu::new(params(1, mode(data), Identity::from_seed(&[1; 32])));
    drive(&mut o, mac(1), data.get(1..).unwrap_or_default());
    assert!(o.state_size() < 100_000, "state grew to {}", o.state_size());
}

/// The RSU state machine fed random events; its tables stay bounded.
pub fn rsu(data: &[u8]) {
    let mut r = rsu_lib::Rsu::new(params(0, mode(data), rsu_fleet_key()));
    drive(&mut r, mac(0), data.get(1..).unwrap_or_default());
    assert!(r.routes().len() <= rsu_lib::state::MAX_ROUTES);
}
