//! Certificates and messages signed under them (broadcast data, probes).
//!
//! An RSU issues an OBU a short-lived certificate binding the OBU's id to
//! its key; an RSU certifies itself the same way. A certified message
//! carries the signer's certificate in its trailer, so any receiver can
//! check it without knowing the sender beforehand: the issuer must be
//! trusted, the certificate within its lifetime, its signature valid, and
//! the message signed by the certified key.

use crate::key::{Identity, PublicKey};
use crate::{Error, Freshness};
use common::action::RawMessage;
use common::wire::auth::{self, CertAuth, CERT_AUTH_LEN};
use common::wire::{CertRepr, MessageType, CERT_LEN};
use common::NodeId;
use std::collections::HashMap;

/// Domain label in front of a certificate's signed bytes, so a certificate
/// signature can never be taken for a message signature.
const CERT_DOMAIN: &[u8] = b"v2xd cert v1";

/// Issues a certificate for `subject`'s `key`, valid from `now_us` for
/// `lifetime_us`, signed by `issuer`.
pub fn issue(
    issuer: &Identity,
    subject: NodeId,
    key: &PublicKey,
    now_us: u64,
    lifetime_us: u64,
    flags: u8,
) -> CertRepr {
    let mut c = CertRepr {
        flags,
        subject,
        key: key.0,
        issuer: issuer.public().0,
        issued_us: now_us,
        expires_us: now_us.saturating_add(lifetime_us),
        sig: [0; 64],
    };
    c.sig = issuer.sign(&cert_message(&c));
    c
}

fn cert_message(c: &CertRepr) -> Vec<u8> {
    let mut m = CERT_DOMAIN.to_vec();
    m.extend_from_slice(&c.signed_bytes());
    m
}

/// Checks a certificate: issuer trusted, within its lifetime, signature.
pub fn verify(
    c: &CertRepr,
    trusted_issuer: impl Fn(&PublicKey) -> bool,
    now_us: u64,
) -> Result<(), Error> {
    let issuer = PublicKey(c.issuer);
    if !trusted_issuer(&issuer) {
        return Err(Error::AuthFailed);
    }
    if !c.valid_at(now_us) {
        return Err(Error::CertExpired);
    }
    if !issuer.verify(&cert_message(c), &c.sig) {
        return Err(Error::AuthFailed);
    }
    Ok(())
}

/// Certificates whose signature was checked, so a sender's certificate is
/// verified once, not on every message it signs. Keyed by the signature;
/// bounded (cleared when full), entries leave when they expire.
#[derive(Default)]
pub struct CertCache {
    verified: HashMap<[u8; 64], (CertRepr, u64)>,
}

/// Most certificates remembered as verified.
const CERT_CACHE_MAX: usize = 4096;

impl CertCache {
    /// [`verify`], skipping the signature for a certificate seen before
    /// (same bytes); trust and lifetime are checked every time.
    pub fn check(
        &mut self,
        c: &CertRepr,
        trusted_issuer: impl Fn(&PublicKey) -> bool,
        now_us: u64,
    ) -> Result<(), Error> {
        if let Some((known, _)) = self.verified.get(&c.sig) {
            if known == c {
                if !trusted_issuer(&PublicKey(c.issuer)) {
                    return Err(Error::AuthFailed);
                }
                return if c.valid_at(now_us) {
                    Ok(())
                } else {
                    Err(Error::CertExpired)
                };
            }
        }
        verify(c, trusted_issuer, now_us)?;
        if self.verified.len() >= CERT_CACHE_MAX {
            self.verified.retain(|_, (_, exp)| *exp > now_us);
            if self.verified.len() >= CERT_CACHE_MAX {
                self.verified.clear();
            }
        }
        self.verified.insert(c.sig, (*c, c.expires_us));
        Ok(())
    }

    pub fn expire(&mut self, now_us: u64) {
        self.verified.retain(|_, (_, exp)| *exp > now_us);
    }

    /// Forgets everything (trust lists changed).
    pub fn clear(&mut self) {
        self.verified.clear();
    }

    pub fn len(&self) -> usize {
        self.verified.len()
    }

    pub fn is_empty(&self) -> bool {
        self.verified.is_empty()
    }
}

/// A message signed under `cert` (broadcast data, probes): `body` plus a
/// trailer with the time, the certificate and the signature.
pub fn sign_certified(
    id: &Identity,
    cert: &CertRepr,
    msg_type: MessageType,
    body: &[u8],
    wall_us: u64,
    scratch: &mut Vec<u8>,
) -> RawMessage {
    crate::control::finish(
        msg_type,
        body,
        CERT_AUTH_LEN,
        |t| {
            let mut a = CertAuth::new_checked(t).expect("trailer sized");
            a.set_time_us(wall_us);
            cert.emit(a.cert_mut());
        },
        auth::certified_signed_bytes,
        id,
        scratch,
    )
}

/// What a verified certified message proved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Certified {
    pub cert: CertRepr,
    pub time_us: u64,
}

/// The trailer's certificate and time, unverified (cheap checks first).
pub fn claimed(trailer: &[u8]) -> Result<Certified, Error> {
    let a = CertAuth::new_checked(trailer).ok_or(Error::Unprotected)?;
    let cert = CertRepr::parse(a.cert()).map_err(|_| Error::Malformed)?;
    debug_assert_eq!(a.cert().len(), CERT_LEN);
    Ok(Certified {
        cert,
        time_us: a.time_us(),
    })
}

/// Checks a message signed under a certificate: the certificate (cached),
/// the message's freshness, then its signature by the certified key.
/// Whether the certified subject may send this message (origin equal to
/// the subject) is the caller's check, on the returned certificate.
pub fn verify_certified(
    raw: &[u8],
    trailer: &[u8],
    trusted_issuer: impl Fn(&PublicKey) -> bool,
    freshness: Freshness,
    cache: &mut CertCache,
    scratch: &mut Vec<u8>,
) -> Result<Certified, Error> {
    let c = claimed(trailer)?;
    if !freshness.accepts(c.time_us) {
        return Err(Error::Replayed);
    }
    verify_claimed(
        raw,
        trailer,
        &c,
        trusted_issuer,
        freshness.now_us,
        cache,
        scratch,
    )?;
    Ok(c)
}

/// The costly half of [`verify_certified`], for a caller that took the
/// trailer apart ([`claimed`]) and ran its own cheap checks (freshness,
/// de-duplication) in between: the certificate (cached) at `now_us`, then
/// the message's signature by the certified key.
pub fn verify_claimed(
    raw: &[u8],
    trailer: &[u8],
    c: &Certified,
    trusted_issuer: impl Fn(&PublicKey) -> bool,
    now_us: u64,
    cache: &mut CertCache,
    scratch: &mut Vec<u8>,
) -> Result<(), Error> {
    cache.check(&c.cert, trusted_issuer, now_us)?;
    auth::certified_signed_bytes(raw, scratch).ok_or(Error::Malformed)?;
    let a = CertAuth::new_checked(trailer).ok_or(Error::Unprotected)?;
    if !PublicKey(c.cert.key).verify(scratch, a.signature()) {
        return Err(Error::AuthFailed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::wire::{Messages, HEADER_LEN};

    const T: u64 = 1_700_000_000_000_000;

    fn fresh() -> Freshness {
        Freshness {
            now_us: T,
            max_age_us: 5_000_000,
        }
    }

    #[test]
    fn issued_certificates_verify_and_nothing_else_does() {
        let rsu = Identity::from_seed(&[1; 32]);
        let obu = Identity::from_seed(&[2; 32]);
        let id = NodeId([2, 0, 0, 0, 0, 2]);
        let c = issue(&rsu, id, &obu.public(), T, 600_000_000, 0);
        let trusted = |k: &PublicKey| *k == rsu.public();
        assert_eq!(verify(&c, trusted, T + 1), Ok(()));
        assert_eq!(verify(&c, |_| false, T), Err(Error::AuthFailed));
        assert_eq!(
            verify(&c, trusted, T + 600_000_000),
            Err(Error::CertExpired)
        );
        // Every field is covered: a changed subject, key or lifetime fails.
        for change in 0..4 {
            let mut x = c;
            match change {
                0 => x.subject = NodeId([2, 0, 0, 0, 0, 3]),
                1 => x.key[0] ^= 1,
                2 => x.expires_us += 1,
                _ => x.flags ^= 1,
            }
            assert_eq!(verify(&x, trusted, T), Err(Error::AuthFailed), "{change}");
        }
        // A self-made certificate by an untrusted key.
        let own = issue(&obu, id, &obu.public(), T, 600_000_000, 0);
        assert_eq!(verify(&own, trusted, T), Err(Error::AuthFailed));
    }

    #[test]
    fn certified_messages_verify_once_signed_and_fail_when_changed() {
        let rsu = Identity::from_seed(&[1; 32]);
        let obu = Identity::from_seed(&[2; 32]);
        let id = NodeId([2, 0, 0, 0, 0, 2]);
        let cert = issue(&rsu, id, &obu.public(), T, 600_000_000, 0);
        // A whole signed broadcast message (TTL 3) by `key` under `cert`.
        let message = |key: &Identity| {
            let raw = sign_certified(
                key,
                &cert,
                MessageType::Broadcast,
                &[7u8; 40],
                T,
                &mut Vec::new(),
            );
            let c = common::action::Control::Raw(Box::new(raw));
            let mut msg = vec![0u8; c.wire_len()];
            c.emit(3, &mut msg);
            msg
        };
        let mut msg = message(&obu);
        let trusted = |k: &PublicKey| *k == rsu.public();
        let mut cache = CertCache::default();
        let check = |msg: &[u8], cache: &mut CertCache| {
            let Some(Ok(m)) = Messages::new(msg).next() else {
                return Err(Error::Malformed);
            };
            let mut s = Vec::new();
            verify_certified(m.raw, m.trailer, trusted, fresh(), cache, &mut s)
        };
        assert_eq!(check(&msg, &mut cache).map(|c| c.cert), Ok(cert));
        assert_eq!(cache.len(), 1);
        // TTL is not covered (relays change it).
        msg[3] = 1;
        assert!(check(&msg, &mut cache).is_ok());
        // Any other byte is.
        for i in [0, 2, HEADER_LEN, HEADER_LEN + 39, msg.len() - 1] {
            let mut bad = msg.clone();
            bad[i] ^= 0x10;
            assert!(check(&bad, &mut cache).is_err(), "byte {i}");
        }
        // Signed by another key than the certified one.
        let forged = message(&Identity::from_seed(&[3; 32]));
        assert_eq!(check(&forged, &mut cache), Err(Error::AuthFailed));
    }
}
