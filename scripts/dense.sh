#!/usr/bin/env bash
# Dense radio domain with the real daemons (not in CI; the suite runs
# N = 30): one RSU and N OBUs that all hear each other, no data. Prints the
# control frames each OBU sends per second and the whole machine's CPU,
# with today's rules and with the old ones.
# Usage: scripts/dense.sh [N] [SECS]   (default 160 OBUs, 20 s)
set -euo pipefail
n=${1:-160}
secs=${2:-20}
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --workspace --bins
V2XD_BIN_DIR="$PWD/target/release" V2XD_DENSE_N=$n V2XD_DENSE_SECS=$secs \
  cargo test -p testbed --test dense -- --nocapture --test-threads 1 | grep -oE 'DENSE.*|test result.*'
