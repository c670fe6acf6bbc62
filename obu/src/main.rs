//! The `obu` daemon: see `obu --help` and docs/OPERATIONS.md.

fn main() {
    std::process::exit(node_lib::cli::main(
        node_lib::config::RoleKind::Obu,
        obu_lib::run,
    ));
}
