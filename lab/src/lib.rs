//! The lab: a road of RSUs and vehicles driven on one machine with real
//! daemons (docs/LAB.md, specification section 11).
//!
//! * [`scenario`] reads a scenario file; [`plan`] resolves it into nodes
//!   that move ([`mobility`]) and flows between them;
//! * [`radio`] turns positions into links (no I/O), [`air`] puts them in
//!   the kernel (nftables on the air bridge), [`hosts`] spreads the air
//!   over hosts joined by VXLAN;
//! * [`flows`] carries and measures traffic (outside tools: [`tools`]),
//!   [`observe`] asks the daemons;
//! * [`events`] plays the scenario's events ([`burst`]: the CPU burst);
//!   [`host_cpu`] watches the machine itself;
//! * [`results`] makes the figures ([`stability`], [`recovery`]: section
//!   13's), [`run`] drives it all;
//! * [`view`] is what the web view shows (no I/O), [`live`] keeps it during
//!   a run and records it, [`web`] serves it (live, or a recorded run).

pub mod air;
pub mod burst;
pub mod channel_watch;
mod error;
pub mod events;
pub mod flows;
pub mod fuzz;
pub mod host_cpu;
pub mod hosts;
pub mod live;
pub mod mobility;
pub mod observe;
pub mod plan;
pub mod radio;
pub mod recovery;
pub mod results;
pub mod run;
pub mod scenario;
pub mod stability;
pub mod tools;
pub mod view;
pub mod web;

pub use error::{Error, Result};
