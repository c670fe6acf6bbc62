//! Why the lab could not do what it was asked, typed so that a caller can
//! act on it: a scenario to fix (its key named), a machine that cannot run
//! it (a tool to install), or a run that failed on the way.

use crate::mobility::TraceError;
use crate::scenario::ScenarioError;
use std::io;

/// The lab's error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value in the scenario (or on the command line) is wrong; the
    /// key is named.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A mobility trace could not be read.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// This machine cannot run the scenario: not root, a tool or the
    /// daemons missing.
    #[error("{0}")]
    Unavailable(String),
    /// A file, socket or thread could not be made; `what` names it.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// A command (nft, tc) failed.
    #[error("`{cmd}` failed: {stderr}")]
    Command { cmd: String, stderr: String },
    /// The namespaces, daemons or backbone failed.
    #[error(transparent)]
    Testbed(#[from] testbed::Error),
    /// An event could not act on a node (its daemon runs already, there
    /// is no backbone to cut).
    #[error("{node}: {reason}")]
    Node { node: String, reason: String },
    /// A file the lab reads (a recording, a tool's report) is not what it
    /// should be.
    #[error("{what}: {reason}")]
    Malformed { what: String, reason: String },
    /// The backbone did not come up (BGP sessions, BIRD).
    #[error("the backbone: {0}")]
    Backbone(String),
    /// The run was interrupted before it began.
    #[error("stopped before the run began")]
    Interrupted,
    /// A thread of the lab's ended without an answer.
    #[error("the {0} thread ended")]
    ThreadEnded(&'static str),
}

impl Error {
    /// An [`Error::Io`] maker for `map_err`: `.map_err(Error::io(path))`.
    pub fn io(what: impl std::fmt::Display) -> impl FnOnce(io::Error) -> Error {
        let what = what.to_string();
        move |source| Error::Io { what, source }
    }

    /// A [`Error::Malformed`] maker for `map_err`.
    pub fn malformed<E: std::fmt::Display>(
        what: impl std::fmt::Display,
    ) -> impl FnOnce(E) -> Error {
        let what = what.to_string();
        move |e| Error::Malformed {
            what,
            reason: e.to_string(),
        }
    }
}

/// The lab's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
