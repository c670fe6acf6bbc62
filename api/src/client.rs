//! A blocking client for a daemon's API (ureq), for the command-line tools,
//! the testbed and the lab.

use crate::{
    paths, Neighbor, ProbeAnswer, ProbeRequest, Readiness, Routes, Stats, Status, TopologyNode,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// How long one request may take in all. A probe waits up to 10 s for its
/// answer, so this is longer.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Why a request failed.
#[derive(Debug)]
pub enum Error {
    /// Nothing accepts connections at the address (daemon not running yet,
    /// or `[api] listen` elsewhere).
    Connect { addr: String, reason: String },
    /// The daemon answered with an error status.
    Status { code: u16, body: String },
    /// The answer was not the JSON expected.
    Decode { path: String, reason: String },
    /// Anything else on the way (a timeout, a reset connection).
    Transport(String),
}

impl Error {
    /// Whether the daemon was not (yet) accepting connections: a caller
    /// waiting for a daemon to start asks again.
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Connect { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect { addr, reason } => write!(
                f,
                "cannot connect to API at {addr}: {reason} (is the daemon running? see [api] listen)"
            ),
            Error::Status { code, body } => {
                // The API's errors are `{"error": "..."}`.
                let msg = serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_string));
                match msg {
                    Some(m) => write!(f, "HTTP {code}: {m}"),
                    None => write!(f, "HTTP {code}: {}", body.trim()),
                }
            }
            Error::Decode { path, reason } => write!(f, "{path}: unexpected answer: {reason}"),
            Error::Transport(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

/// A daemon's API at `addr` (`127.0.0.1:9100`). Each request opens its own
/// connection (nothing is pooled), so a client made in one network
/// namespace may be used from a thread in another.
pub struct Client {
    addr: String,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(addr: &str) -> Client {
        Client::with_timeout(addr, TIMEOUT)
    }

    /// A client whose every request ends within `timeout` (a program that
    /// polls many daemons must not wait on one of them for long).
    pub fn with_timeout(addr: &str, timeout: Duration) -> Client {
        let agent = ureq::Agent::config_builder()
            // The API is local: never through a proxy the environment
            // names (ureq reads HTTP_PROXY and friends by default).
            .proxy(None)
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_idle_connections(0)
            .build()
            .into();
        Client {
            addr: addr.to_string(),
            agent,
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn map_err(&self, e: ureq::Error) -> Error {
        match e {
            ureq::Error::ConnectionFailed => Error::Connect {
                addr: self.addr.clone(),
                reason: "connection failed".into(),
            },
            ureq::Error::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable
                ) =>
            {
                Error::Connect {
                    addr: self.addr.clone(),
                    reason: io.to_string(),
                }
            }
            other => Error::Transport(format!("{}: {other}", self.addr)),
        }
    }

    fn finish(
        &self,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(u16, String), Error> {
        let mut resp = r.map_err(|e| self.map_err(e))?;
        let code = resp.status().as_u16();
        let body = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| self.map_err(e))?;
        Ok((code, body))
    }

    /// GET `path`: the status code and the body, whatever the status.
    pub fn get_raw(&self, path: &str) -> Result<(u16, String), Error> {
        self.finish(self.agent.get(&self.url(path)).call())
    }

    /// POST a JSON body: the status code and the body, whatever the status.
    pub fn post_raw(&self, path: &str, body: &impl Serialize) -> Result<(u16, String), Error> {
        self.finish(self.agent.post(&self.url(path)).send_json(body))
    }

    fn decode<T: DeserializeOwned>(path: &str, (code, body): (u16, String)) -> Result<T, Error> {
        if code != 200 {
            return Err(Error::Status { code, body });
        }
        serde_json::from_str(&body).map_err(|e| Error::Decode {
            path: path.to_string(),
            reason: format!("{e}: {body}"),
        })
    }

    /// GET `path` as `T` (any answer, or `serde_json::Value`).
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        Self::decode(path, self.get_raw(path)?)
    }

    /// `/readyz`, answered with 200 or 503 alike.
    pub fn readiness(&self) -> Result<Readiness, Error> {
        let (code, body) = self.get_raw(paths::READYZ)?;
        Self::decode(paths::READYZ, (if code == 503 { 200 } else { code }, body))
    }

    pub fn status(&self) -> Result<Status, Error> {
        self.get(paths::STATUS)
    }

    pub fn stats(&self) -> Result<Stats, Error> {
        self.get(paths::STATS)
    }

    pub fn neighbors(&self) -> Result<Vec<Neighbor>, Error> {
        self.get(paths::NEIGHBORS)
    }

    pub fn routes(&self) -> Result<Routes, Error> {
        self.get(paths::ROUTES)
    }

    pub fn topology(&self) -> Result<TopologyNode, Error> {
        self.get(paths::TOPOLOGY)
    }

    /// Prometheus text exposition.
    pub fn metrics(&self) -> Result<String, Error> {
        match self.get_raw(paths::METRICS)? {
            (200, body) => Ok(body),
            (code, body) => Err(Error::Status { code, body }),
        }
    }

    /// Sends one overlay probe and waits for its answer.
    pub fn probe(&self, req: &ProbeRequest) -> Result<ProbeAnswer, Error> {
        Self::decode(paths::PROBE, self.post_raw(paths::PROBE, req)?)
    }
}
