#!/usr/bin/env bash
# The demo: builds v2xd, starts an RSU and two OBUs in network namespaces,
# sends ping and iperf3 traffic through them and prints their routes and
# counters. Needs root (namespaces, raw sockets, TUN).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --bins
V2XD_BIN_DIR="$PWD/target/release" exec target/release/v2xd-demo
