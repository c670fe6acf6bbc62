#!/usr/bin/env bash
# Writes the lab's shipped city traces from the city-grid model
# (docs/LAB.md, "The city grid"): an ns-2 movement file for
# lab/scenarios/city-grid.toml and a smaller SUMO FCD file for
# lab/scenarios/city-grid-sumo.toml. Same seed, same files.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p lab --bin v2xd-lab
lab=target/debug/v2xd-lab
$lab trace city-grid --blocks 5 --block-m 150 --vehicles 60 --duration 300 \
    --churn 0.2 --seed 1 --format ns2 > lab/traces/city-grid.ns_movements
$lab trace city-grid --blocks 5 --block-m 150 --vehicles 16 --duration 120 \
    --churn 0.25 --seed 2 --format sumo-fcd --step 1 > lab/traces/city-grid.fcd.xml
wc -l lab/traces/city-grid.ns_movements lab/traces/city-grid.fcd.xml
