//! v2xd security, sans-IO: node identities (Ed25519), signed beacons and
//! replies with freshness and a hop-count hash chain, Noise IK handshakes,
//! and AEAD transport sessions with replay windows.
//!
//! Nothing here reads a clock or touches a socket: callers pass the
//! monotonic time and the wall-clock time in. Randomness (handshake
//! ephemerals, session indices, chain seeds) comes from the OS.

pub mod aead;
pub mod cert;
pub mod chain;
pub mod control;
pub mod error;
pub mod fuzz;
pub mod hybrid;
pub mod key;
pub mod peers;
pub mod replay;
pub mod session;
pub mod suite;
pub mod verify_cache;

pub use error::Error;
pub use key::{Identity, PublicKey};
pub use peers::{Answer, Limits, Sessions};
pub use suite::{Cipher, CipherSetting, Suite};
pub use verify_cache::VerifyCache;

/// The transport AEAD (see [`aead`]; chosen by measurement, docs/SECURITY.md).
pub use aead::{Aead, Backend as AeadBackend};

/// Accepts generation times within `max_age_us` of `now_us` (wall clock,
/// both directions: clocks of nodes differ a little).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freshness {
    pub now_us: u64,
    pub max_age_us: u64,
}

impl Freshness {
    pub fn accepts(&self, t_us: u64) -> bool {
        t_us.abs_diff(self.now_us) <= self.max_age_us
    }
}
