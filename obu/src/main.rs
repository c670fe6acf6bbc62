//! The `obu` daemon: see `obu --help` and docs/OPERATIONS.md.

use node_lib::config::RoleKind;

fn main() {
    std::process::exit(node_lib::cli::main(RoleKind::Obu, |config, check_only| {
        node_lib::daemon::run(RoleKind::Obu, config, check_only, obu_lib::Obu::new)
    }));
}
