#!/usr/bin/env bash
# Handover measurements (not in CI; the suite runs 3 of each kind): three
# RSUs behind a core with real BIRD, an OBU driving past them with a
# 100 pps UDP stream each way. Usage: scripts/handover-bench.sh [N]
# drives N make-before-break and N hard handovers per mode (default 10)
# with release daemons, and prints per kind: packets lost and the longest
# gap per handover (min / median / max), and the time from the OBU's
# choice of RSU to the route in the core's kernel.
set -euo pipefail
n=${1:-10}
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --workspace --bins
out=$(mktemp)
V2XD_BIN_DIR="$PWD/target/release" V2XD_HANDOVERS=$n \
  cargo test -p testbed --test backbone handovers -- --nocapture --test-threads 1 \
  | tee "$out" | grep -E '^(HANDOVER|ATTACH_TO_CORE)|test result' || true
python3 - "$out" <<'PY'
import sys, statistics as st
rows = {}
attach = {}
for line in open(sys.argv[1]):
    w = line.split()
    if w and w[0] == "HANDOVER" and w[2] != "kind":
        mode = w[1].split("=")[1]
        r = rows.setdefault((mode, w[2]), {"lost_down": [], "gap_down": [], "lost_up": [], "gap_up": []})
        r["lost_down"].append(int(w[5])); r["gap_down"].append(float(w[6]))
        r["lost_up"].append(int(w[7])); r["gap_up"].append(float(w[8]))
    elif w and w[0] == "ATTACH_TO_CORE":
        mode = w[1].split("=")[1]
        attach.setdefault(mode, []).append(float(w[3].split("=")[1]))
def mmm(v):
    return f"{min(v):g} / {st.median(v):g} / {max(v):g}" if v else "-"
print("\n| mode | kind | n | lost down | longest gap down (ms) | lost up | longest gap up (ms) |")
print("|---|---|---:|---|---|---|---|")
for (mode, kind), r in sorted(rows.items()):
    print(f"| {mode} | {kind} | {len(r['lost_down'])} | {mmm(r['lost_down'])} | {mmm(r['gap_down'])} | {mmm(r['lost_up'])} | {mmm(r['gap_up'])} |")
print("\n| mode | OBU's choice → route in the core (ms), min / median / max | n |")
print("|---|---|---:|")
for mode, v in sorted(attach.items()):
    print(f"| {mode} | {mmm(v)} | {len(v)} |")
PY
grep -q "test result: ok" "$out"
