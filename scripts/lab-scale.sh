#!/usr/bin/env bash
# The lab at scale: lab/scenarios/highway.toml (10 RSUs, 240 vehicles,
# encrypted, BGP backbone: 250 daemons) on this machine, with release
# builds of the daemons. Prints the summary (start-up time, attached
# share, handovers, the lab's CPU per radio update, each kind of daemon's
# CPU) and keeps results.json, summary.md and every log in OUT.
#
#   scripts/lab-scale.sh [SECONDS] [SCENARIO]      (default 120, highway.toml)
#   OUT=dir scripts/lab-scale.sh                   (default lab-out/scale)
#
# Needs root; run scripts/deps.sh first on a fresh machine. Not part of
# the test suite (the suite runs short scenarios of each kind).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-120}
scenario=${2:-lab/scenarios/highway.toml}
out=${OUT:-lab-out/scale}
cargo build -q --release -p obu -p rsu -p lab --bins
echo "machine: $(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB; $(uname -r)"
V2XD_BIN_DIR="$PWD/target/release" target/release/v2xd-lab run "$scenario" \
    --duration "$secs" --out "$out"
