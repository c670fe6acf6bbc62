//! What a session is sealed with, agreed in the handshake: the data AEAD
//! (`[security] cipher`) and whether the key exchange is hybrid
//! post-quantum (`[security] post_quantum`).
//!
//! The initiator offers the ciphers it accepts, the one it prefers and its
//! post-quantum setting inside the first Noise message (encrypted and
//! authenticated, so nobody on the path can downgrade them); the responder
//! picks (see [`Suite::choose`]) and says what it chose inside the second,
//! or refuses and says what it accepts, so that both ends can log the
//! reason. A mismatch is never silent.

use std::fmt;

/// A data AEAD. The numbers go on the wire (handshake payloads).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cipher {
    Aes256Gcm = 1,
    ChaCha20Poly1305 = 2,
}

impl Cipher {
    pub const ALL: [Cipher; 2] = [Cipher::Aes256Gcm, Cipher::ChaCha20Poly1305];

    /// Its name in the config and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Cipher::Aes256Gcm => "aes-256-gcm",
            Cipher::ChaCha20Poly1305 => "chacha20-poly1305",
        }
    }

    pub fn from_wire(b: u8) -> Option<Cipher> {
        Cipher::ALL.into_iter().find(|c| *c as u8 == b)
    }

    fn bit(self) -> u8 {
        1 << (self as u8 - 1)
    }

    /// The faster cipher on this CPU: AES-256-GCM where the CPU has AES
    /// and carry-less multiply instructions (x86-64 AES-NI + PCLMULQDQ,
    /// AArch64 AES + PMULL), else ChaCha20-Poly1305, which is fast in
    /// plain instructions (many ARM boards lack the AES extensions).
    pub fn preferred_by_cpu() -> Cipher {
        if cpu_has_aes() {
            Cipher::Aes256Gcm
        } else {
            Cipher::ChaCha20Poly1305
        }
    }
}

impl fmt::Display for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(target_arch = "x86_64")]
fn cpu_has_aes() -> bool {
    std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("pclmulqdq")
}

#[cfg(target_arch = "aarch64")]
fn cpu_has_aes() -> bool {
    std::arch::is_aarch64_feature_detected!("aes")
        && std::arch::is_aarch64_feature_detected!("pmull")
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn cpu_has_aes() -> bool {
    false
}

/// `[security] cipher`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CipherSetting {
    /// Accept either; prefer the one this CPU is fast at.
    Auto,
    /// Only this one.
    Only(Cipher),
}

impl CipherSetting {
    pub fn parse(s: &str) -> Option<CipherSetting> {
        match s {
            "auto" => Some(CipherSetting::Auto),
            _ => Cipher::ALL
                .into_iter()
                .find(|c| c.as_str() == s)
                .map(CipherSetting::Only),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CipherSetting::Auto => "auto",
            CipherSetting::Only(c) => c.as_str(),
        }
    }
}

/// A node's own policy for its sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suite {
    pub cipher: CipherSetting,
    /// Hybrid X25519 + ML-KEM-768; a node with it on refuses a peer
    /// without it and the other way round.
    pub post_quantum: bool,
    /// What `auto` prefers (normally [`Cipher::preferred_by_cpu`]; fixed
    /// in tests).
    pub cpu_prefers: Cipher,
}

impl Default for Suite {
    fn default() -> Self {
        Suite {
            cipher: CipherSetting::Auto,
            post_quantum: false,
            cpu_prefers: Cipher::preferred_by_cpu(),
        }
    }
}

/// The initiator's side of the agreement, as carried in its first message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offer {
    /// Bit set of accepted ciphers (bit 0 AES-256-GCM, bit 1 ChaCha20-Poly1305).
    pub accepts: u8,
    /// The one it would rather use.
    pub prefers: Cipher,
    pub post_quantum: bool,
}

/// Why a responder refused an initiator's offer; carried back to the
/// initiator (authenticated) so that both ends log the same story.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The responder's accepted ciphers (bit set as in [`Offer`]).
    pub responder_accepts: u8,
    pub responder_post_quantum: bool,
    /// The initiator's offer.
    pub initiator: Offer,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pq = |on: bool| if on { "on" } else { "off" };
        if self.responder_post_quantum != self.initiator.post_quantum {
            write!(
                f,
                "post_quantum is {} at the initiator (OBU) and {} at the responder (RSU); \
                 set [security] post_quantum alike on both",
                pq(self.initiator.post_quantum),
                pq(self.responder_post_quantum)
            )
        } else {
            write!(
                f,
                "no cipher in common: the initiator (OBU) accepts {}, the responder (RSU) \
                 accepts {}; set [security] cipher to \"auto\" or to the same cipher on both",
                names(self.initiator.accepts),
                names(self.responder_accepts)
            )
        }
    }
}

/// "aes-256-gcm", "aes-256-gcm or chacha20-poly1305", "nothing".
pub fn names(set: u8) -> String {
    let v: Vec<&str> = Cipher::ALL
        .into_iter()
        .filter(|c| set & c.bit() != 0)
        .map(Cipher::as_str)
        .collect();
    if v.is_empty() {
        "nothing".into()
    } else {
        v.join(" or ")
    }
}

impl Suite {
    /// The ciphers this node accepts, as a bit set.
    pub fn accepts(&self) -> u8 {
        match self.cipher {
            CipherSetting::Auto => Cipher::ALL.iter().fold(0, |a, c| a | c.bit()),
            CipherSetting::Only(c) => c.bit(),
        }
    }

    /// The cipher this node would rather use.
    pub fn prefers(&self) -> Cipher {
        match self.cipher {
            CipherSetting::Auto => self.cpu_prefers,
            CipherSetting::Only(c) => c,
        }
    }

    /// What an initiator with this policy offers.
    pub fn offer(&self) -> Offer {
        Offer {
            accepts: self.accepts(),
            prefers: self.prefers(),
            post_quantum: self.post_quantum,
        }
    }

    /// Responder: the cipher for a session with an initiator offering
    /// `offer`, or why there is none. With a choice left (both "auto"),
    /// AES-256-GCM only if both ends are fast at it: each end seals one
    /// direction and opens the other, so the slower end sets the pace.
    pub fn choose(&self, offer: Offer) -> Result<Cipher, Mismatch> {
        let common = self.accepts() & offer.accepts;
        let refuse = Mismatch {
            responder_accepts: self.accepts(),
            responder_post_quantum: self.post_quantum,
            initiator: offer,
        };
        if offer.post_quantum != self.post_quantum || common == 0 {
            return Err(refuse);
        }
        let both_prefer = |c: Cipher| offer.prefers == c && self.prefers() == c;
        let pick = if common & Cipher::Aes256Gcm.bit() != 0
            && (common == Cipher::Aes256Gcm.bit() || both_prefer(Cipher::Aes256Gcm))
        {
            Cipher::Aes256Gcm
        } else {
            Cipher::ChaCha20Poly1305
        };
        Ok(pick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite(cipher: &str, pq: bool, cpu: Cipher) -> Suite {
        Suite {
            cipher: CipherSetting::parse(cipher).unwrap(),
            post_quantum: pq,
            cpu_prefers: cpu,
        }
    }

    const AES: Cipher = Cipher::Aes256Gcm;
    const CHACHA: Cipher = Cipher::ChaCha20Poly1305;

    #[test]
    fn every_pair_of_settings_agrees_or_names_the_mismatch() {
        let cases = [
            // initiator, its cpu, responder, its cpu, outcome
            ("auto", AES, "auto", AES, Some(AES)),
            ("auto", CHACHA, "auto", AES, Some(CHACHA)),
            ("auto", AES, "auto", CHACHA, Some(CHACHA)),
            ("auto", AES, "chacha20-poly1305", AES, Some(CHACHA)),
            ("aes-256-gcm", CHACHA, "auto", CHACHA, Some(AES)),
            ("aes-256-gcm", AES, "aes-256-gcm", AES, Some(AES)),
            (
                "chacha20-poly1305",
                AES,
                "chacha20-poly1305",
                AES,
                Some(CHACHA),
            ),
            ("aes-256-gcm", AES, "chacha20-poly1305", AES, None),
            ("chacha20-poly1305", AES, "aes-256-gcm", AES, None),
        ];
        for (i, icpu, r, rcpu, want) in cases {
            let got = suite(r, false, rcpu).choose(suite(i, false, icpu).offer());
            assert_eq!(got.ok(), want, "{i} ({icpu}) -> {r} ({rcpu})");
            if let Err(m) = got {
                let s = m.to_string();
                assert!(s.contains("no cipher in common"), "{s}");
                assert!(s.contains(i) && s.contains(r), "{s}");
            }
        }
    }

    #[test]
    fn post_quantum_must_match_both_ways() {
        for (i, r) in [(true, false), (false, true)] {
            let m = suite("auto", r, AES)
                .choose(suite("auto", i, AES).offer())
                .unwrap_err();
            let s = m.to_string();
            assert!(s.contains("post_quantum"), "{s}");
        }
        assert_eq!(
            suite("auto", true, AES).choose(suite("auto", true, AES).offer()),
            Ok(AES)
        );
    }

    #[test]
    fn settings_parse_and_print() {
        for s in ["auto", "aes-256-gcm", "chacha20-poly1305"] {
            assert_eq!(CipherSetting::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(CipherSetting::parse("aes"), None);
        for c in Cipher::ALL {
            assert_eq!(Cipher::from_wire(c as u8), Some(c));
        }
        assert_eq!(Cipher::from_wire(0), None);
        assert_eq!(Cipher::from_wire(3), None);
        assert_eq!(names(3), "aes-256-gcm or chacha20-poly1305");
    }
}
