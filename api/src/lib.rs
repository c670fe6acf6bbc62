//! The daemons' HTTP API as types: one struct per answer, serialized by the
//! daemon and read back by every tool (`show`, `ping`, `traceroute`, the
//! testbed, the lab) through [`Client`] (feature `client`).
//!
//! The JSON is a public interface (docs/OPERATIONS.md, section "API"):
//! field names and meanings stay as they are; new fields may be added.

mod probe;
mod routes;
pub mod stats;
mod status;
mod topology;

#[cfg(feature = "client")]
mod client;

#[cfg(feature = "client")]
pub use client::{Client, Error};
pub use probe::{ProbeAnswer, ProbeRequest};
pub use routes::{
    BackboneStatus, Candidate, DownstreamRoute, InstalledRoute, Neighbor, ObuRoutes, Routes,
    RsuRoutes, Upstream,
};
pub use stats::{BatchHistogram, Stats};
pub use status::{DataplaneStatus, LinkStatus, Readiness, Status, StatusConfig, TunStatus};
pub use topology::{TopologyNode, TopologyObu};

/// Where each answer is served.
pub mod paths {
    pub const HEALTHZ: &str = "/healthz";
    pub const READYZ: &str = "/readyz";
    pub const STATUS: &str = "/api/v1/status";
    pub const STATS: &str = "/api/v1/stats";
    pub const NEIGHBORS: &str = "/api/v1/neighbors";
    pub const ROUTES: &str = "/api/v1/routes";
    pub const TOPOLOGY: &str = "/api/v1/topology";
    pub const PROBE: &str = "/api/v1/probe";
    pub const METRICS: &str = "/metrics";
}
