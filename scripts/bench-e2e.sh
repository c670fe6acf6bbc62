#!/usr/bin/env bash
# End-to-end benchmark: builds release binaries and drives iperf3/ping
# through the daemons, the kernel path and the unbatched daemons in one run.
# Needs root. Options: --duration SECS (default 5), --out FILE.json,
# --pin (bind each node's data plane to a CPU of its own), --dataplane "TOML LINES".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --bins
V2XD_BIN_DIR="$PWD/target/release" exec target/release/v2xd-e2e "$@"
