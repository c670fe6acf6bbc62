//! Why a testbed operation failed, typed so that a caller can act on it:
//! skip a test on a machine that cannot run it, wait again for a daemon
//! that is not listening yet, or fail with the command and its stderr.

use std::io;

/// A testbed operation's error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// This machine cannot run the testbed (not root, a tool missing):
    /// a test skips rather than fails.
    #[error("{0}")]
    Unavailable(String),
    /// A system call or socket operation failed; `what` names it.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// A node's API did not answer as asked.
    #[error("{node}: {path}: {source}")]
    Api {
        node: String,
        path: String,
        #[source]
        source: api::Error,
    },
    /// A command exited with failure.
    #[error("`{cmd}` failed: {stderr}")]
    Command { cmd: String, stderr: String },
    /// The other end of a transfer did not come, or stopped sending.
    #[error("{0}")]
    Stalled(String),
    /// A helper thread panicked (its message went to stderr).
    #[error("{0} thread panicked")]
    Panicked(&'static str),
    /// An argument the call cannot act on (a node that is not an RSU, a
    /// body that is not JSON).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// An [`Error::Io`] maker for `map_err`: `.map_err(Error::io("bind"))`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }

    /// An [`Error::Io`] of the calling thread's last OS error.
    pub(crate) fn last_os(what: impl Into<String>) -> Error {
        Error::io(what)(io::Error::last_os_error())
    }

    /// Whether the node's API was not accepting connections (a daemon
    /// starting or restarting): a caller waiting for it asks again.
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Api { source, .. } if source.is_connect())
    }
}

/// A testbed operation's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
