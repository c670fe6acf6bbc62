//! What can go wrong setting up or running a measurement, as an error a
//! caller can act on: skip a peer whose program is missing, report a
//! command's own complaint, tell a timeout from a failure.

/// An error of the benchmarks' helpers and of the end-to-end driver.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call or file operation on `what` failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A program ran and exited unsuccessfully; `stderr` is what it said.
    #[error("`{cmd}` failed: {stderr}")]
    Command { cmd: String, stderr: String },
    /// A program is not installed.
    #[error("{tool} not installed")]
    Missing { tool: String },
    /// A program printed something other than what was expected.
    #[error("`{cmd}`: {why}")]
    Output { cmd: String, why: String },
    /// `what` did not happen in time.
    #[error("no {what} after {secs} s")]
    Timeout { what: String, secs: u64 },
    /// A process the measurement started ended while it waited for `what`.
    #[error("process {process} exited while waiting for {what}")]
    Exited { process: usize, what: String },
    /// A helper thread panicked.
    #[error("{0} panicked")]
    Panicked(&'static str),
    /// The testbed (namespaces, processes in them) failed.
    #[error(transparent)]
    Testbed(#[from] testbed::Error),
    /// The setup asked for cannot be built (a wrong topology, an address).
    #[error("{0}")]
    Setup(String),
    /// An error with the last lines of the logs of the processes involved.
    #[error("{source}; logs:{logs}")]
    Logged {
        #[source]
        source: Box<Error>,
        logs: String,
    },
}

impl Error {
    /// An I/O error on `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }

    /// An error starting `program`: `Missing` if it is not there.
    pub fn start(program: &str, source: std::io::Error) -> Error {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::Missing {
                tool: program.into(),
            }
        } else {
            Error::Io {
                what: format!("cannot start {program}"),
                source,
            }
        }
    }

    /// The program that was missing, also behind logs.
    pub fn missing_tool(&self) -> Option<&str> {
        match self {
            Error::Missing { tool } => Some(tool),
            Error::Logged { source, .. } => source.missing_tool(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_told_from_other_failures() {
        let e = Error::start("fastd", std::io::ErrorKind::NotFound.into());
        assert_eq!(e.missing_tool(), Some("fastd"));
        assert_eq!(e.to_string(), "fastd not installed");
        let logged = Error::Logged {
            source: Box::new(e),
            logs: "\n  process 0: x".into(),
        };
        assert_eq!(logged.missing_tool(), Some("fastd"));
        assert!(logged.to_string().starts_with("fastd not installed; logs:"));
        let denied = Error::start("fastd", std::io::ErrorKind::PermissionDenied.into());
        assert_eq!(denied.missing_tool(), None);
        assert!(denied.to_string().starts_with("cannot start fastd: "));
    }

    #[test]
    fn testbed_errors_keep_their_type() {
        let e = Error::from(testbed::Error::Unavailable("no root".into()));
        assert!(matches!(&e, Error::Testbed(testbed::Error::Unavailable(_))));
        assert_eq!(e.to_string(), "no root");
    }
}
