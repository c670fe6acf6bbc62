#!/usr/bin/env bash
# Handover measurements (not in CI; the suite runs 3 of each kind): three
# RSUs behind a core with real BIRD, an OBU driving past them with a
# 100 pps UDP stream each way. Usage: scripts/handover-bench.sh [N]
# drives N make-before-break and N hard handovers per mode (default 10)
# with release daemons, and prints per kind: packets lost and the longest
# gap per handover (min / median / max) over the whole drive and from the
# switch on, and the time from the OBU's choice of RSU to the route in the
# core's kernel.
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
        keys = ["lost_down", "gap_down", "lost_up", "gap_up"]
        r = rows.setdefault((mode, w[2]), {k + s: [] for k in keys for s in ("", "_sw")})
        for k, v in zip(keys, w[5:9]):
            r[k].append(float(v))
        for k, v in zip(keys, w[10:14]):
            r[k + "_sw"].append(float(v))
    elif w and w[0] == "ATTACH_TO_CORE":
        mode = w[1].split("=")[1]
        attach.setdefault(mode, []).append(float(w[3].split("=")[1]))
def mmm(v):
    return f"{min(v):g} / {st.median(v):g} / {max(v):g}" if v else "-"
for title, sfx in (("whole drive (fading before the switch included)", ""), ("from the switch on (sent in the 500 ms after the OBU's choice)", "_sw")):
    print(f"\n{title}\n")
    print("| mode | kind | n | lost down | longest gap down (ms) | lost up | longest gap up (ms) |")
    print("|---|---|---:|---|---|---|---|")
    for (mode, kind), r in sorted(rows.items()):
        g = lambda k: mmm(r[k + sfx])
        print(f"| {mode} | {kind} | {len(r['lost_down'])} | {g('lost_down')} | {g('gap_down')} | {g('lost_up')} | {g('gap_up')} |")
print("\n| mode | OBU's choice → route in the core (ms), min / median / max | n |")
print("|---|---|---:|")
for mode, v in sorted(attach.items()):
    print(f"| {mode} | {mmm(v)} | {len(v)} |")
PY
grep -q "test result: ok" "$out"
