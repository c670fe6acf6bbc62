//! The OBU role: [`state::Obu`], a sans-IO state machine, and its upstream
//! choice rules in [`upstream`]. The `obu` binary wires it to the daemon's
//! I/O (`node_lib`).

pub mod state;
pub mod upstream;

pub use state::Obu;
