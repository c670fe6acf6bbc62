//! Fuzz target body for the handshake payloads (`fuzz/fuzz_targets/
//! handshake.rs`; saved inputs replayed by `tests/fuzz_regressions.rs`).
//!
//! Random bytes never get past Noise's authentication, so the payload
//! fields (offer, cipher choice, ML-KEM key and ciphertext) would never be
//! reached from the wire. Here a genuine Noise peer wraps the fuzzer's
//! bytes: a first message whose payload is the input (after the real
//! initiator key) goes to a responder, and a response whose payload is
//! the input goes to a real initiator. Must never panic.

use crate::peers::{Sessions, NOISE_BUF, NOISE_PARAMS};
use crate::suite::{CipherSetting, Suite};
use crate::{Cipher, Freshness, Identity, Limits};
use common::wire::{HandshakeRepr, MessageType};
use common::{NodeId, Time};
use snow::Builder;
use std::sync::Arc;

const OBU: NodeId = NodeId([2, 0, 0, 0, 0, 1]);
const RSU: NodeId = NodeId([2, 0, 0, 0, 0, 9]);

fn suite(b: u8) -> Suite {
    Suite {
        cipher: match b % 3 {
            0 => CipherSetting::Auto,
            1 => CipherSetting::Only(Cipher::Aes256Gcm),
            _ => CipherSetting::Only(Cipher::ChaCha20Poly1305),
        },
        post_quantum: b & 4 != 0,
        cpu_prefers: if b & 8 != 0 {
            Cipher::Aes256Gcm
        } else {
            Cipher::ChaCha20Poly1305
        },
    }
}

/// Byte 0: the responder's settings; byte 1: the initiator's; the rest is
/// the payload, used both ways.
pub fn handshake(data: &[u8]) {
    let (Some(&r), Some(&i)) = (data.first(), data.get(1)) else {
        return;
    };
    let payload = &data[2..];
    if payload.len() + 96 > NOISE_BUF {
        return;
    }
    let obu_id = Arc::new(Identity::from_seed(&[1; 32]));
    let rsu_id = Arc::new(Identity::from_seed(&[2; 32]));
    let any_time = Freshness {
        now_us: 0,
        max_age_us: u64::MAX,
    };
    let Ok(params) = NOISE_PARAMS.parse() else {
        return;
    };
    let prologue = Sessions::prologue(OBU, RSU);

    // 1. A first message carrying the input, to a responder.
    let mut rsu = Sessions::new(RSU, rsu_id.clone(), Limits::default(), 4);
    rsu.set_suite(suite(r));
    let Some(rsu_x) = rsu_id.public().x25519() else {
        return;
    };
    let secret = obu_id.x25519_secret();
    let Ok(mut hs) = Builder::new(params)
        .local_private_key(secret.as_ref())
        .and_then(|b| b.remote_public_key(&rsu_x))
        .and_then(|b| b.prologue(&prologue))
        .and_then(|b| b.build_initiator())
    else {
        return;
    };
    // The initiator's real key up front (else the responder stops at the
    // key check); the fuzzer's bytes after it.
    let mut p = obu_id.public().0.to_vec();
    p.extend_from_slice(payload);
    let mut noise = vec![0u8; NOISE_BUF + 64];
    if let Ok(n) = hs.write_message(&p, &mut noise) {
        let init = HandshakeRepr {
            kind: MessageType::HandshakeInit,
            from: OBU,
            to: RSU,
            sender_index: 1,
            receiver_index: 0,
            noise: &noise[..n],
        };
        let _ = rsu.respond(Time::ZERO, any_time, &init, |_| true);
    }

    // 2. A response carrying the input, to a real initiator.
    let mut obu = Sessions::new(OBU, obu_id.clone(), Limits::default(), 4);
    obu.set_suite(suite(i));
    let Ok(init) = obu.initiate(Time::ZERO, 1, RSU, rsu_id.public()) else {
        return;
    };
    let Ok(params) = NOISE_PARAMS.parse() else {
        return;
    };
    let rsu_secret = rsu_id.x25519_secret();
    let Ok(mut hs) = Builder::new(params)
        .local_private_key(rsu_secret.as_ref())
        .and_then(|b| b.prologue(&prologue))
        .and_then(|b| b.build_responder())
    else {
        return;
    };
    let Ok(parsed) = common::wire::Handshake::new_checked(&init.body[..]) else {
        return;
    };
    let Ok(init) = HandshakeRepr::parse(init.msg_type, &parsed) else {
        return;
    };
    let mut scratch = vec![0u8; NOISE_BUF];
    if hs.read_message(init.noise, &mut scratch).is_err() {
        return;
    }
    if let Ok(n) = hs.write_message(payload, &mut noise) {
        let resp = HandshakeRepr {
            kind: MessageType::HandshakeResponse,
            from: RSU,
            to: OBU,
            sender_index: 7,
            receiver_index: init.sender_index,
            noise: &noise[..n],
        };
        let _ = obu.complete(Time::ZERO, &resp);
        // Whatever came of it, the table stays usable.
        let _ = obu.needs_handshake(Time::ZERO, &RSU);
        obu.expire(Time::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    /// The body reaches the payload parsers: a well-formed offer gets a
    /// session, and random bytes do not panic.
    #[test]
    fn inputs_of_every_shape_do_not_panic() {
        for len in [0, 1, 2, 3, 10, 47, 60, 1200, 1300, 1500] {
            for fill in [0u8, 1, 0xff] {
                let mut d = vec![fill; len];
                if len > 1 {
                    d[0] = fill.wrapping_add(len as u8);
                }
                super::handshake(&d);
            }
        }
    }
}
