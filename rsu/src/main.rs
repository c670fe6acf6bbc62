//! The `rsu` daemon: see `rsu --help` and docs/OPERATIONS.md.

fn main() {
    std::process::exit(node_lib::cli::main(
        node_lib::config::RoleKind::Rsu,
        rsu_lib::run,
    ));
}
