//! OBU certificates (short-lived, in the spirit of IEEE 1609.2
//! authorization tickets) and the Certificate message that carries one from
//! the issuing RSU down to its OBU.
//!
//! A certificate binds an OBU id to its public key, signed by an RSU key.
//! Relays accept replies only under a certified key, and every receiver of
//! a signed broadcast or probe checks the sender through the certificate
//! the message carries. An RSU certifies itself the same way (issuer =
//! subject key) for its own broadcasts and probes.

use super::{be_u64, Result, WireError};
use crate::NodeId;

mod field {
    use std::ops::Range;
    pub const FLAGS: usize = 0;
    pub const SUBJECT: Range<usize> = 1..7;
    pub const KEY: Range<usize> = 7..39;
    pub const ISSUER: Range<usize> = 39..71;
    pub const ISSUED: Range<usize> = 71..79;
    pub const EXPIRES: Range<usize> = 79..87;
    pub const SIG: Range<usize> = 87..151;
    pub const LEN: usize = 151;
    // Certificate message body.
    pub const MSG_DEST: Range<usize> = 0..6;
    pub const MSG_CERT: Range<usize> = 6..157;
    pub const MSG_LEN: usize = 157;
}

/// Bytes of one certificate.
pub const CERT_LEN: usize = field::LEN;
/// Bytes of a certificate covered by its signature (all but the signature).
pub const CERT_SIGNED_LEN: usize = field::SIG.start;
/// Bytes of a Certificate message body.
pub const CERT_MSG_LEN: usize = field::MSG_LEN;
/// Certificate flag: the issuer holds no session with the subject
/// (encrypted mode): the OBU handshakes again at once. Set when the RSU
/// learns a route for an OBU it has no session with (e.g. after its key was
/// allowed again).
pub const CERT_FLAG_NO_SESSION: u8 = 0x01;

/// A parsed certificate. Plain data; whether it is valid (issuer trusted,
/// signature, lifetime) is for the receiver to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertRepr {
    pub flags: u8,
    /// The certified node.
    pub subject: NodeId,
    /// The subject's Ed25519 public key.
    pub key: [u8; 32],
    /// The issuing RSU's public key.
    pub issuer: [u8; 32],
    /// Wall clock, microseconds since the Unix epoch.
    pub issued_us: u64,
    pub expires_us: u64,
    pub sig: [u8; 64],
}

impl CertRepr {
    pub fn parse(b: &[u8]) -> Result<CertRepr> {
        if b.len() < CERT_LEN {
            return Err(WireError::Truncated);
        }
        let flags = b[field::FLAGS];
        if flags & !CERT_FLAG_NO_SESSION != 0 {
            return Err(WireError::Malformed);
        }
        let subject = NodeId::from_slice(&b[field::SUBJECT]);
        if subject.is_group() {
            return Err(WireError::Malformed);
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&b[field::KEY]);
        let mut issuer = [0u8; 32];
        issuer.copy_from_slice(&b[field::ISSUER]);
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&b[field::SIG]);
        Ok(CertRepr {
            flags,
            subject,
            key,
            issuer,
            issued_us: be_u64(&b[field::ISSUED]),
            expires_us: be_u64(&b[field::EXPIRES]),
            sig,
        })
    }

    /// Writes the certificate into `buf` (at least [`CERT_LEN`] bytes).
    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::FLAGS] = self.flags;
        buf[field::SUBJECT].copy_from_slice(self.subject.as_bytes());
        buf[field::KEY].copy_from_slice(&self.key);
        buf[field::ISSUER].copy_from_slice(&self.issuer);
        buf[field::ISSUED].copy_from_slice(&self.issued_us.to_be_bytes());
        buf[field::EXPIRES].copy_from_slice(&self.expires_us.to_be_bytes());
        buf[field::SIG].copy_from_slice(&self.sig);
    }

    /// The bytes the issuer signs: the certificate without its signature.
    pub fn signed_bytes(&self) -> [u8; CERT_SIGNED_LEN] {
        let mut b = [0u8; CERT_LEN];
        self.emit(&mut b);
        let mut out = [0u8; CERT_SIGNED_LEN];
        out.copy_from_slice(&b[..CERT_SIGNED_LEN]);
        out
    }

    /// Whether the certificate is within its lifetime at `now_us`.
    pub fn valid_at(&self, now_us: u64) -> bool {
        self.issued_us <= now_us.saturating_add(5_000_000) && now_us < self.expires_us
    }
}

/// A Certificate message: RSU → OBU, routed downstream by `dest` like
/// downstream data. Never signed as a message (the certificate is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertMsgRepr {
    pub dest: NodeId,
    pub cert: CertRepr,
}

impl CertMsgRepr {
    pub fn parse(b: &[u8]) -> Result<CertMsgRepr> {
        match b.len() {
            n if n < CERT_MSG_LEN => return Err(WireError::Truncated),
            CERT_MSG_LEN => {}
            _ => return Err(WireError::Malformed),
        }
        let dest = NodeId::from_slice(&b[field::MSG_DEST]);
        if dest.is_group() {
            return Err(WireError::Malformed);
        }
        Ok(CertMsgRepr {
            dest,
            cert: CertRepr::parse(&b[field::MSG_CERT])?,
        })
    }

    pub fn body_len(&self) -> usize {
        CERT_MSG_LEN
    }

    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::MSG_DEST].copy_from_slice(self.dest.as_bytes());
        self.cert.emit(&mut buf[field::MSG_CERT]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CertRepr {
        CertRepr {
            flags: CERT_FLAG_NO_SESSION,
            subject: NodeId([2, 0, 0, 0, 0, 7]),
            key: [1; 32],
            issuer: [2; 32],
            issued_us: 10,
            expires_us: 20,
            sig: [3; 64],
        }
    }

    #[test]
    fn round_trip_and_bad_input() {
        let c = sample();
        let m = CertMsgRepr {
            dest: c.subject,
            cert: c,
        };
        let mut b = vec![0u8; m.body_len()];
        m.emit(&mut b);
        assert_eq!(CertMsgRepr::parse(&b), Ok(m));
        assert_eq!(CertMsgRepr::parse(&b[..100]), Err(WireError::Truncated));
        let mut long = b.clone();
        long.push(0);
        assert_eq!(CertMsgRepr::parse(&long), Err(WireError::Malformed));
        let mut bad = b.clone();
        bad[6] = 0x80; // unknown certificate flag
        assert_eq!(CertMsgRepr::parse(&bad), Err(WireError::Malformed));
        let mut group = b;
        group[0] = 1; // a group address as destination
        assert_eq!(CertMsgRepr::parse(&group), Err(WireError::Malformed));
        assert_eq!(c.signed_bytes().len(), CERT_SIGNED_LEN);
    }

    #[test]
    fn lifetime() {
        let c = sample();
        assert!(c.valid_at(10) && c.valid_at(19));
        assert!(!c.valid_at(20));
    }
}
