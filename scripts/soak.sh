#!/usr/bin/env bash
# Long soak (not in CI): the chaos road under steady traffic and faults
# that leave the daemons running, sampling RSS, open fds and table sizes;
# fails on steady growth. Usage: scripts/soak.sh HOURS [off|authenticated|encrypted]
# Samples go to soak-<mode>.csv in the current directory.
set -euo pipefail
hours=${1:?usage: scripts/soak.sh HOURS [mode]}
mode=${2:-encrypted}
cd "$(dirname "$0")/.."
scripts/deps.sh
secs=$(python3 -c "print(int(float('$hours') * 3600))")
cargo build --release --workspace --bins
out="$PWD/soak-$mode.csv"
V2XD_SOAK_SECS=$secs V2XD_SOAK_MODE=$mode V2XD_SOAK_OUT=$out \
  cargo test --release -p testbed --test soak -- --nocapture
echo "samples: $out"
