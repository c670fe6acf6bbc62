//! The post-quantum half of the hybrid handshake (`[security]
//! post_quantum = true`): ML-KEM-768 (FIPS 203) from `aws-lc-rs`, run
//! inside the Noise IK exchange, whose X25519 stays as it is.
//!
//! The initiator makes a fresh ML-KEM key pair per handshake and sends the
//! encapsulation key in its first Noise payload; the responder
//! encapsulates to it and returns the ciphertext in its Noise payload. The
//! session keys are then HKDF-SHA256 over both Noise keys and the ML-KEM
//! shared secret, salted with the Noise handshake hash (which covers both
//! payloads, so the key, the ciphertext and the agreed cipher are bound to
//! the keys). An attacker who records the traffic and later breaks X25519
//! learns the Noise keys but not the ML-KEM secret, so the session keys
//! stay secret; if ML-KEM were broken instead, X25519 still holds. This is
//! the same combination that TLS (X25519MLKEM768) and OpenSSH
//! (mlkem768x25519-sha256) deploy.

use crate::session::SessionKeys;
use crate::suite::Cipher;
use aws_lc_rs::hkdf;
use aws_lc_rs::kem::{Ciphertext, DecapsulationKey, EncapsulationKey, ML_KEM_768};

/// Bytes of an ML-KEM-768 encapsulation key.
pub const EK_LEN: usize = 1184;
/// Bytes of an ML-KEM-768 ciphertext.
pub const CT_LEN: usize = 1088;

/// The initiator's secret half, kept with the handshake in flight.
pub struct KemSecret(DecapsulationKey);

/// A fresh key pair: the secret and the encapsulation key to send.
pub fn keypair() -> Option<(KemSecret, Vec<u8>)> {
    let dk = DecapsulationKey::generate(&ML_KEM_768).ok()?;
    let ek = dk.encapsulation_key().ok()?.key_bytes().ok()?;
    let ek = ek.as_ref().to_vec();
    (ek.len() == EK_LEN).then_some((KemSecret(dk), ek))
}

/// Responder: encapsulates to the initiator's key; the ciphertext to send
/// back and the shared secret. `None` for a key that is not valid.
pub fn encapsulate(ek: &[u8]) -> Option<(Vec<u8>, [u8; 32])> {
    let ek = EncapsulationKey::new(&ML_KEM_768, ek).ok()?;
    let (ct, ss) = ek.encapsulate().ok()?;
    Some((ct.as_ref().to_vec(), ss.as_ref().try_into().ok()?))
}

/// Initiator: the shared secret from the responder's ciphertext.
pub fn decapsulate(secret: &KemSecret, ct: &[u8]) -> Option<[u8; 32]> {
    if ct.len() != CT_LEN {
        return None;
    }
    let ss = secret.0.decapsulate(Ciphertext::from(ct)).ok()?;
    ss.as_ref().try_into().ok()
}

struct Len32;
impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

/// The session keys (initiator-to-responder, responder-to-initiator) from
/// Noise's split and, in the hybrid handshake, the ML-KEM secret.
/// Without one, Noise's keys are used as they are.
pub fn mix(
    i2r: [u8; 32],
    r2i: [u8; 32],
    handshake_hash: &[u8],
    kem: Option<&[u8; 32]>,
) -> ([u8; 32], [u8; 32]) {
    let Some(ss) = kem else {
        return (i2r, r2i);
    };
    let mut ikm = [0u8; 96];
    ikm[..32].copy_from_slice(&i2r);
    ikm[32..64].copy_from_slice(&r2i);
    ikm[64..].copy_from_slice(ss);
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, handshake_hash).extract(&ikm);
    zeroize::Zeroize::zeroize(&mut ikm);
    let expand = |label: &[u8]| {
        let mut k = [0u8; 32];
        // Expanding 32 bytes from SHA-256 never fails (limit 255 * 32).
        if let Ok(okm) = prk.expand(&[b"v2xd hybrid v1 ", label], Len32) {
            let _ = okm.fill(&mut k);
        }
        k
    };
    (expand(b"i2r"), expand(b"r2i"))
}

/// The keys of one end: which way each goes.
pub fn keys(
    initiator: bool,
    (i2r, r2i): ([u8; 32], [u8; 32]),
    cipher: Cipher,
    post_quantum: bool,
) -> SessionKeys {
    let (send, recv) = if initiator { (i2r, r2i) } else { (r2i, i2r) };
    SessionKeys {
        cipher,
        post_quantum,
        send,
        recv,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_get_the_same_secret_and_a_bad_ciphertext_another() {
        let (sk, ek) = keypair().unwrap();
        assert_eq!(ek.len(), EK_LEN);
        let (ct, ss) = encapsulate(&ek).unwrap();
        assert_eq!(ct.len(), CT_LEN);
        assert_eq!(decapsulate(&sk, &ct), Some(ss));
        // ML-KEM rejects implicitly: a changed ciphertext gives another secret.
        let mut bad = ct.clone();
        bad[7] ^= 1;
        assert_ne!(decapsulate(&sk, &bad), Some(ss));
        assert_eq!(decapsulate(&sk, &ct[1..]), None);
        assert!(encapsulate(&ek[1..]).is_none());
    }

    #[test]
    fn the_kem_secret_changes_both_keys() {
        let plain = mix([1; 32], [2; 32], b"hash", None);
        assert_eq!(plain, ([1; 32], [2; 32]));
        let a = mix([1; 32], [2; 32], b"hash", Some(&[3; 32]));
        let b = mix([1; 32], [2; 32], b"hash", Some(&[4; 32]));
        let c = mix([1; 32], [2; 32], b"hasH", Some(&[3; 32]));
        assert_ne!(a.0, a.1);
        assert_ne!(a.0, plain.0);
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}
