//! `POST /api/v1/probe`: one overlay probe (`ping`, `traceroute`).

use common::NodeId;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProbeRequest {
    /// A node id (aa:bb:cc:dd:ee:ff) or an IP address.
    pub target: String,
    /// Hops the probe may take (traceroute sends 1, 2, ...); default 16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    /// How long to wait for the answer; default 1000, at most 10 000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// The answer: the target's reply, a relay's "TTL exceeded", the reason
/// the probe could not go, or a timeout.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProbeAnswer {
    pub target: String,
    pub ttl: u8,
    /// A reply or a "TTL exceeded" came back.
    pub answered: bool,
    /// `reply`, `ttl_exceeded`, `timeout`, `no_route`, `unprotected`,
    /// `rate_limited`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<NodeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hops: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
}
