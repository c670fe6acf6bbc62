//! The protocol machinery both roles share, without I/O: no socket, no
//! clock, no runtime. `obu_lib` and `rsu_lib` build on it, the daemons
//! (`node_lib`) drive it, and the simulator runs the very same code.
//!
//! * The role interface: [`role`] (`Role`, `RoleSnapshot`), [`role_params`]
//!   (what a role is built from: `RoleParams`) and [`params`] (its
//!   settings: `RoutingConfig`, `SecurityConfig`; plain types, filled from
//!   TOML by `node_lib::config`).
//! * The role core: [`core`] (`RoleCore`, what both roles keep and do),
//!   [`ingress`] (`receive_frame`, the one ingress path), [`handlers`]
//!   (`Handlers`, what a role adds; [`outcome`], what a handler says
//!   happened), [`diagnostics`] (probes on their way; [`probe`], their
//!   state).
//! * Tables: [`neighbor`], [`downstream`], [`seqwin`] (sequence windows
//!   that resynchronise), [`broadcast`] (broadcast data, de-duplicated).
//! * Checks on what arrives: [`inbound`] (frame and message checks),
//!   [`security`] (identity, trust, sessions and the pre-pass that opens
//!   sealed data), [`ratelimit`] (bounds on costly messages).
//! * Sending: [`plan`] (the send planner: order, aggregation, TSO cutting,
//!   sealing, GRO; the daemons flush its plan, the simulator puts it on
//!   its air) and [`expedite`] (small packets ahead of bulk).
//! * The backbone: [`export`] (the host routes an RSU wants in the kernel
//!   for its attached OBUs; the daemon installs them).

pub mod broadcast;
pub mod core;
pub mod diagnostics;
pub mod downstream;
pub mod expedite;
pub mod export;
pub mod handlers;
pub mod inbound;
pub mod ingress;
pub mod neighbor;
pub mod outcome;
pub mod params;
pub mod plan;
pub mod probe;
pub mod ratelimit;
pub mod role;
pub mod role_params;
pub mod security;
pub mod seqwin;
