//! The RSU role: [`state::Rsu`] (sans-IO) and [`run`], which wires it to
//! node_lib's I/O.

pub mod state;

pub use state::Rsu;

use node_lib::config::RoleKind;
use std::path::Path;

/// Runs the RSU daemon; returns the process exit code.
pub fn run(config: &Path, check_only: bool) -> i32 {
    node_lib::daemon::run(RoleKind::Rsu, config, check_only, Rsu::new)
}
