#!/usr/bin/env bash
# Runs every test: formatting, lints, unit and simulator tests, and the
# network-namespace testbed tests (those need root and say SKIPPED without).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The testbed runs the daemon binaries, so build them first.
cargo build --workspace --bins
cargo test --workspace
