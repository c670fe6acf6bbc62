//! The RSU role: [`state::Rsu`], a sans-IO state machine. The `rsu` binary
//! wires it to the daemon's I/O (`node_lib`).

pub mod state;

pub use state::Rsu;
