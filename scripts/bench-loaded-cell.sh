#!/usr/bin/env bash
# The loaded cell (lab/scenarios/loaded-cell.toml) with the priority
# mechanisms on and off: safety messages (EF UDP, 10 Hz, 200 bytes) and an
# EF ping beside a TCP download on a 12 Mbit/s channel, idle and loaded.
# Runs each variant once, alone (no build beside it), and prints one table
# (docs/BENCHMARKS.md, "The loaded cell").
#
#   scripts/bench-loaded-cell.sh [OUT_DIR]        (default /tmp/loaded-cell)
#   NO_BUILD=1 ...                                 use target/release as is
#   VARIANTS="default fifo" ...                    only these variants
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/loaded-cell}
[ "${NO_BUILD:-}" = 1 ] || cargo build --release --locked --workspace --bins
mkdir -p "$out/scenarios" "$out/traces"
cp lab/traces/loaded-cell.ns_movements "$out/traces/"

# name: extra [radio] lines | extra [daemons] lines
declare -A radio daemons
radio[default]="";            daemons[default]=""
radio[no-lane]="";            daemons[no-lane]="bulk_queue_bytes = 0"
radio[fifo]="edca = false";   daemons[fifo]=""
radio[neither]="edca = false"; daemons[neither]="bulk_queue_bytes = 0"
radio[unbatched]="";          daemons[unbatched]="batching = false"
variants=${VARIANTS:-default no-lane fifo neither unbatched}

for v in $variants; do
    f="$out/scenarios/loaded-cell-$v.toml"
    # The shipped scenario with this variant's lines added to its sections.
    awk -v r="${radio[$v]}" -v d="${daemons[$v]}" -v n="loaded-cell-$v" '
        !named && /^name = / { print "name = \"" n "\""; named = 1; next }
        /^\[radio\]/ { print; if (r != "") print r; next }
        /^\[mobility\]/ && d != "" { print "[daemons]"; print d; print "" }
        { print }' lab/scenarios/loaded-cell.toml >"$f"
    echo "== $v" >&2
    V2XD_BIN_DIR="$PWD/target/release" target/release/v2xd-lab run "$f" \
        --out "$out/$v" --quiet >"$out/$v.log" 2>&1 || { tail -20 "$out/$v.log" >&2; exit 1; }
done

python3 - "$out" $variants <<'EOF'
import json, sys
out, variants = sys.argv[1], sys.argv[2:]
print("| variant | EF UDP idle p50/p99 ms | loaded p50/p99 | delivery | EF ping idle p50/p99 | loaded p50/p99 | delivery | TCP Mbit/s | retransmits | host saturated s |")
print("|---|---|---|---:|---|---|---:|---:|---:|---:|")
for v in variants:
    r = json.load(open(f"{out}/{v}/results.json"))
    f = r["flows"]
    udp = [x for x in f if x["kind"] == "udp"]
    ping = [x for x in f if x["kind"] == "ping"]
    tcp = [x for x in f if x["kind"] == "tcp"][0]
    pp = lambda x: f'{x["latency_p50_ms"]:.1f} / {x["latency_p99_ms"]:.1f}'
    sat = r.get("host_saturated_s", "?")
    print(f'| {v} | {pp(udp[0])} | {pp(udp[1])} | {100*udp[1]["delivery"]:.1f} % | {pp(ping[0])} | {pp(ping[1])} | {100*ping[1]["delivery"]:.1f} % | {tcp["throughput_mbps"]:.1f} | {tcp["retransmits"]} | {sat} |')
EOF
