//! Node identities: Ed25519 key pairs, their files, and the X25519 keys the
//! Noise handshake derives from them.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::fmt;
use zeroize::Zeroizing;

/// An Ed25519 public key: how peers are named in config and on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    pub fn from_slice(b: &[u8]) -> Option<PublicKey> {
        b.try_into().ok().map(PublicKey)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Result<PublicKey, PublicKeyError> {
        let b = hex32(s.trim()).ok_or_else(|| PublicKeyError::NotHex(s.to_string()))?;
        VerifyingKey::from_bytes(&b).map_err(|_| PublicKeyError::NotAPoint(s.to_string()))?;
        Ok(PublicKey(b))
    }

    pub fn verifying(&self) -> Option<VerifyingKey> {
        VerifyingKey::from_bytes(&self.0).ok()
    }

    /// The X25519 public key the Noise handshake uses for this identity.
    pub fn x25519(&self) -> Option<[u8; 32]> {
        self.verifying().map(|v| v.to_montgomery().to_bytes())
    }

    /// Verifies an Ed25519 signature (strict: no malleable encodings).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let (Some(v), Ok(sig)) = (self.verifying(), Signature::from_slice(sig)) else {
            return false;
        };
        v.verify_strict(msg, &sig).is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A node's secret identity.
pub struct Identity {
    signing: SigningKey,
    public: PublicKey,
}

impl Identity {
    /// A new random identity from the OS random source.
    pub fn generate() -> Result<Identity, RandomSourceError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(RandomSourceError)?;
        Ok(Identity::from_seed(&seed))
    }

    pub fn from_seed(seed: &[u8; 32]) -> Identity {
        let signing = SigningKey::from_bytes(seed);
        let public = PublicKey(signing.verifying_key().to_bytes());
        Identity { signing, public }
    }

    pub fn public(&self) -> PublicKey {
        self.public
    }

    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.signing.sign(msg).to_bytes()
    }

    /// The X25519 secret the Noise handshake uses (the standard Ed25519 to
    /// X25519 conversion, as libsodium's `crypto_sign_ed25519_sk_to_curve25519`).
    pub fn x25519_secret(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_scalar_bytes())
    }

    /// The identity a key file holds: its first line that is neither
    /// blank nor a `#` comment, 64 hex digits (the file's reading and
    /// permissions are the daemon's: this crate does no I/O).
    pub fn from_key_text(text: &str) -> Result<Identity, KeyTextError> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or("");
        let seed = Zeroizing::new(hex32(line).ok_or(KeyTextError)?);
        Ok(Identity::from_seed(&seed))
    }

    /// What a key file holds: a comment line, then the secret key as 64
    /// hex digits ([`Identity::from_key_text`] reads it back).
    pub fn key_text(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::from(
            "# v2xd node identity: Ed25519 secret key. Keep it private (mode 0600).\n",
        ));
        for b in self.signing.to_bytes() {
            text.push_str(&format!("{b:02x}"));
        }
        text.push('\n');
        text
    }
}

/// Why a text is not a public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKeyError {
    /// Not 64 hex digits.
    NotHex(String),
    /// 64 hex digits, but no point of the curve.
    NotAPoint(String),
}

impl fmt::Display for PublicKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublicKeyError::NotHex(s) => {
                write!(f, "not a public key (64 hex digits expected): {s:?}")
            }
            PublicKeyError::NotAPoint(s) => write!(f, "not a valid Ed25519 public key: {s}"),
        }
    }
}

impl std::error::Error for PublicKeyError {}

/// The OS random source failed (no key can be made).
#[derive(Debug)]
pub struct RandomSourceError(pub getrandom::Error);

impl fmt::Display for RandomSourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "random source: {}", self.0)
    }
}

impl std::error::Error for RandomSourceError {}

/// A key file's text holds no line of 64 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyTextError;

impl fmt::Display for KeyTextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected one line of 64 hex digits (a secret key written by `keygen`)")
    }
}

impl std::error::Error for KeyTextError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_hex_round_trip() {
        let id = Identity::from_seed(&[7; 32]);
        let sig = id.sign(b"hello");
        assert!(id.public().verify(b"hello", &sig));
        assert!(!id.public().verify(b"hellO", &sig));
        let other = Identity::from_seed(&[8; 32]);
        assert!(!other.public().verify(b"hello", &sig));
        let hex = id.public().to_string();
        assert_eq!(PublicKey::from_hex(&hex).unwrap(), id.public());
        assert!(PublicKey::from_hex("abc").is_err());
        assert!(PublicKey::from_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn x25519_keys_agree() {
        let id = Identity::from_seed(&[9; 32]);
        let s = id.x25519_secret();
        let p = id.public().x25519().unwrap();
        // X25519(s, basepoint) must equal the converted public key.
        let base = curve_base(&s);
        assert_eq!(base, p);
    }

    fn curve_base(s: &[u8; 32]) -> [u8; 32] {
        // Through a Noise handshake would be indirect; use snow's DH.
        use snow::resolvers::{CryptoResolver, DefaultResolver};
        let mut dh = DefaultResolver
            .resolve_dh(&snow::params::DHChoice::Curve25519)
            .unwrap();
        dh.set(s);
        dh.pubkey().try_into().unwrap()
    }

    #[test]
    fn key_text_round_trip() {
        let id = Identity::from_seed(&[5; 32]);
        let text = id.key_text();
        assert!(text.starts_with("# "));
        assert_eq!(
            Identity::from_key_text(&text).unwrap().public(),
            id.public()
        );
        let indented = format!("\n  # a comment\n\n  {}  \n", text.lines().nth(1).unwrap());
        assert_eq!(
            Identity::from_key_text(&indented).unwrap().public(),
            id.public()
        );
        for bad in ["", "nope", &"0".repeat(63), &"g".repeat(64)] {
            assert_eq!(
                Identity::from_key_text(bad).err(),
                Some(KeyTextError),
                "{bad:?}"
            );
        }
    }
}
