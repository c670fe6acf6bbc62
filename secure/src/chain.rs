//! Hop-count protection for flooded beacons (a hash chain, as in SAODV).
//!
//! The RSU draws a random seed per beacon and signs the chain's anchor
//! `H^max(seed)`. A beacon at hop count `h` carries `H^h(seed)`; a relay
//! sends `H(element)` with `h + 1`. Anyone can check `H^(max-h)(element)`
//! against the signed anchor, but nobody can step the chain backwards, so
//! an outsider cannot make a path look shorter than it is.

use blake2::{Blake2s256, Digest};
use common::wire::auth::CHAIN_LEN;

pub type Element = [u8; CHAIN_LEN];

/// Chain length: the largest hop count a signed beacon can carry (the
/// largest `max_hops` the config allows).
pub const CHAIN_HOPS: u8 = 32;

/// A chain's anchor, from its seed.
pub fn anchor(seed: &Element) -> Element {
    step_n(seed, CHAIN_HOPS)
}

pub fn step(e: &Element) -> Element {
    let mut h = Blake2s256::new();
    h.update(b"v2xd hop chain v1");
    h.update(e);
    let d = h.finalize();
    let mut out = [0u8; CHAIN_LEN];
    out.copy_from_slice(&d[..CHAIN_LEN]);
    out
}

/// `H^n(e)`.
pub fn step_n(e: &Element, n: u8) -> Element {
    (0..n).fold(*e, |acc, _| step(&acc))
}

/// Whether `element` is the chain element for hop count `hops` of the
/// chain with this anchor.
pub fn verify(anchor: &[u8], element: &[u8], hops: u8) -> bool {
    let Ok(e) = <Element>::try_from(element) else {
        return false;
    };
    hops <= CHAIN_HOPS && step_n(&e, CHAIN_HOPS - hops)[..] == *anchor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_steps_verify_backward_do_not() {
        let seed = [5u8; CHAIN_LEN];
        let max = CHAIN_HOPS;
        let anchor = anchor(&seed);
        let mut e = seed;
        for h in 0..=max {
            assert!(verify(&anchor, &e, h), "hop {h}");
            if h > 0 {
                assert!(!verify(&anchor, &e, h - 1), "claiming fewer hops");
            }
            e = step(&e);
        }
        assert!(!verify(&anchor, &seed, max + 1));
        assert!(!verify(&anchor, &seed[..4], 0));
    }
}
