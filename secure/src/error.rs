//! Why the security layer refused something: its own error type. The
//! roles turn it into the drop reason they count (`From<Error> for
//! DropReason`), at the boundary.

use common::counters::DropReason;
use std::fmt;

use crate::suite::Mismatch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// No authentication where the mode requires it.
    Unprotected,
    /// Too short, or not laid out as it must be.
    Malformed,
    /// A bad signature, an untrusted or not allowed key, a broken hop
    /// chain, a handshake that did not verify.
    AuthFailed,
    /// Played again: a stale time, an old sequence or counter, a handshake
    /// not newer than the last.
    Replayed,
    /// Sealed data whose counter was accepted a moment ago: a copy of a
    /// message a sender repeated on a weak link (or a replay inside the
    /// window, which is as harmless: it is dropped before decryption).
    Copy,
    /// Sealed data whose tag did not verify.
    DecryptFailed,
    /// No session (or no handshake in flight) for this peer or index.
    NoSession,
    /// Addressed to another node.
    NotForUs,
    /// The session table is full.
    TableFull,
    /// This node could not do its part (its random source, the handshake
    /// library): nothing the peer did.
    Internal(&'static str),
    /// A certificate out of its lifetime.
    CertExpired,
    /// The peer refused a session: our cipher or post-quantum settings
    /// have nothing in common with its own.
    Incompatible(Mismatch),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Error::Incompatible(m) = self {
            return write!(f, "session refused: {m}");
        }
        if let Error::Internal(why) = self {
            return write!(f, "internal failure: {why}");
        }
        f.write_str(match self {
            Error::Unprotected => "not authenticated",
            Error::Malformed => "malformed",
            Error::AuthFailed => "authentication failed",
            Error::Replayed => "replayed",
            Error::Copy => "a copy",
            Error::DecryptFailed => "decryption failed",
            Error::NoSession => "no session",
            Error::NotForUs => "not for us",
            Error::TableFull => "session table full",
            Error::CertExpired => "certificate expired",
            Error::Incompatible(_) => "incompatible settings",
            Error::Internal(_) => "internal failure",
        })
    }
}

impl std::error::Error for Error {}

impl From<Error> for DropReason {
    fn from(e: Error) -> DropReason {
        match e {
            Error::Unprotected => DropReason::Unprotected,
            Error::Malformed => DropReason::Malformed,
            Error::AuthFailed => DropReason::AuthFailed,
            Error::Replayed => DropReason::Replayed,
            Error::Copy => DropReason::Duplicate,
            Error::DecryptFailed => DropReason::DecryptFailed,
            Error::NoSession => DropReason::NoSession,
            Error::NotForUs => DropReason::NotForUs,
            Error::TableFull => DropReason::NoRoute,
            Error::CertExpired => DropReason::CertExpired,
            Error::Incompatible(_) => DropReason::Incompatible,
            Error::Internal(_) => DropReason::NoSession,
        }
    }
}
