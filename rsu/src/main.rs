//! The `rsu` daemon: see `rsu --help` and docs/OPERATIONS.md.

use node_lib::config::RoleKind;

fn main() {
    std::process::exit(node_lib::cli::main(RoleKind::Rsu, |config, check_only| {
        node_lib::daemon::run(RoleKind::Rsu, config, check_only, rsu_lib::Rsu::new)
    }));
}
