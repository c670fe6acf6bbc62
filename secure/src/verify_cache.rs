//! Signature checks already done. A beacon reaches a vehicle many times
//! over: directly and once through every neighbour that relays it, each
//! copy with the RSU's same signature over the same bytes (the hop count
//! is outside the signature, under the hash chain). Checking an Ed25519
//! signature costs tens of microseconds; in a dense road those repeats
//! were most of a daemon's CPU. This remembers (key, message, signature)
//! triples that verified and answers a repeat by comparing bytes; and it
//! keeps public keys in their decompressed form, which every check
//! otherwise recomputes.
//!
//! Sound because strict Ed25519 verification is a pure function of the
//! key, the message and the signature: a triple that verified once
//! verifies again. Only successes are remembered (a forgery is checked in
//! full every time). Freshness and duplicate checks stay with the caller,
//! before this. Both maps are bounded and cleared when full.

use crate::key::PublicKey;
use ed25519_dalek::{Signature, VerifyingKey};
use std::collections::HashMap;

/// Most signatures remembered: a few seconds of beacons from the RSUs in
/// range even on a dense road.
const MAX_SIGNATURES: usize = 1024;
/// Most decompressed keys remembered.
const MAX_KEYS: usize = 1024;

#[derive(Default)]
pub struct VerifyCache {
    keys: HashMap<[u8; 32], VerifyingKey>,
    verified: HashMap<[u8; 64], ([u8; 32], Vec<u8>)>,
    hits: u64,
}

impl VerifyCache {
    pub fn new() -> VerifyCache {
        VerifyCache::default()
    }

    /// Whether `sig` is `key`'s strict Ed25519 signature over `msg`.
    pub fn verify(&mut self, key: &PublicKey, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig_bytes) = <[u8; 64]>::try_from(sig) else {
            return false;
        };
        if let Some((k, m)) = self.verified.get(&sig_bytes) {
            if *k == key.0 && m.as_slice() == msg {
                self.hits += 1;
                return true;
            }
        }
        let v = match self.keys.get(&key.0) {
            Some(v) => *v,
            None => {
                let Some(v) = key.verifying() else {
                    return false;
                };
                if self.keys.len() >= MAX_KEYS {
                    self.keys.clear();
                }
                self.keys.insert(key.0, v);
                v
            }
        };
        let ok = v
            .verify_strict(msg, &Signature::from_bytes(&sig_bytes))
            .is_ok();
        if ok {
            if self.verified.len() >= MAX_SIGNATURES {
                self.verified.clear();
            }
            self.verified.insert(sig_bytes, (key.0, msg.to_vec()));
        }
        ok
    }

    /// Checks answered from memory so far.
    pub fn hits(&self) -> u64 {
        self.hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Identity;

    #[test]
    fn a_repeat_is_answered_from_memory_and_nothing_else_is() {
        let id = Identity::generate().unwrap();
        let other = Identity::generate().unwrap();
        let sig = id.sign(b"beacon");
        let mut c = VerifyCache::new();
        assert!(c.verify(&id.public(), b"beacon", &sig));
        assert_eq!(c.hits(), 0);
        assert!(c.verify(&id.public(), b"beacon", &sig));
        assert_eq!(c.hits(), 1);
        // Same signature, other bytes or other key: checked in full, and
        // refused.
        assert!(!c.verify(&id.public(), b"beacoN", &sig));
        assert!(!c.verify(&other.public(), b"beacon", &sig));
        assert_eq!(c.hits(), 1);
        // A bad signature is never remembered.
        let mut bad = sig;
        bad[0] ^= 1;
        assert!(!c.verify(&id.public(), b"beacon", &bad));
        assert!(!c.verify(&id.public(), b"beacon", &bad));
        assert!(!c.verify(&id.public(), b"beacon", &sig[..63]));
    }

    #[test]
    fn the_memory_is_bounded() {
        let id = Identity::generate().unwrap();
        let mut c = VerifyCache::new();
        for i in 0..(MAX_SIGNATURES + 10) {
            let msg = i.to_be_bytes();
            let sig = id.sign(&msg);
            assert!(c.verify(&id.public(), &msg, &sig));
        }
        assert!(c.verified.len() <= MAX_SIGNATURES);
    }
}
