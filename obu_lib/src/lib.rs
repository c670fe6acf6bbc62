//! The OBU role: [`state::Obu`] (sans-IO), its upstream choice rules in
//! [`upstream`], and [`run`], which wires it to node_lib's I/O.

pub mod state;
pub mod upstream;

pub use state::Obu;

use node_lib::config::RoleKind;
use std::path::Path;

/// Runs the OBU daemon; returns the process exit code.
pub fn run(config: &Path, check_only: bool) -> i32 {
    node_lib::daemon::run(RoleKind::Obu, config, check_only, Obu::new)
}
