#!/usr/bin/env bash
# End-to-end benchmark: builds release binaries and drives iperf3/ping
# through the daemons, the kernel path and the unbatched daemons in one run.
# Needs root. Options: --duration SECS (default 5), --out FILE.json,
# --pin (bind each node's data plane to a CPU of its own), --dataplane "TOML LINES",
# --peers (only the kernel path and the daemons against other tunnels).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
# The other tunnels of the peers table (--peers, and the end of the full
# run); a peer whose program is missing is reported as skipped.
if [ "$(id -u)" -eq 0 ]; then
  need=()
  for p in fastd:fastd tincd:tinc openvpn:openvpn wireguard-go:wireguard-go wg:wireguard-tools; do
    command -v "${p%%:*}" >/dev/null || need+=("${p#*:}")
  done
  if [ ${#need[@]} -gt 0 ]; then
    # No recommends: wireguard-tools would pull in a kernel image.
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  command -v boringtun-cli >/dev/null || cargo install boringtun-cli --version 0.7.1 --locked
fi
cargo build --release --bins
V2XD_BIN_DIR="$PWD/target/release" exec target/release/v2xd-e2e "$@"
