#!/usr/bin/env bash
# Runs test binaries N times in a row to find tests that fail only now and
# then (a race with a daemon's start, a timing assumption), optionally
# beside a CPU hog on every core, and reports per test how often it failed
# and how long it took.
#
# Usage: scripts/test-repeat.sh N [FILTER]
#   N        runs of the whole selection
#   FILTER   a test-name filter, as for `cargo test` (default: every test)
# Environment:
#   PACKAGES="testbed"   the packages whose test binaries run (space-separated;
#                        "all" means the whole workspace)
#   LOAD=1               a busy loop on every core beside the tests
#   OUT=DIR              where the logs go (default: a new temporary directory)
#
# The closing lines: each failing test with its count, the ten slowest tests
# (median over the runs), and "repeat: R runs, F failed runs".
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?usage: scripts/test-repeat.sh N [FILTER]}
filter=${2:-}
packages=${PACKAGES:-testbed}
out=${OUT:-$(mktemp -d -t v2xd-repeat.XXXXXX)}
mkdir -p "$out"

scripts/deps.sh
cargo build --workspace --bins
if [ "$packages" = all ]; then
  sel=(--workspace)
else
  sel=()
  for p in $packages; do sel+=(-p "$p"); done
fi
# The test binaries and the package directory each runs in (cargo runs a
# test with its package's directory as the working directory).
cargo test "${sel[@]}" --no-run --message-format=json 2>/dev/null | python3 -c '
import json, os, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(os.path.dirname(m["manifest_path"]) + "\t" + m["executable"])
' >"$out/binaries"
[ -s "$out/binaries" ] || { echo "no test binaries found for: $packages" >&2; exit 1; }

hogs=()
cleanup() { for p in "${hogs[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
if [ "${LOAD:-0}" = 1 ]; then
  for _ in $(seq "$(nproc)"); do
    ( while :; do :; done ) &
    hogs+=($!)
  done
  echo "load: ${#hogs[@]} busy loops beside the tests"
fi

failed_runs=0
for run in $(seq "$n"); do
  log="$out/run$run.log"
  : >"$log"
  start=$(date +%s)
  run_failed=0
  while IFS=$'\t' read -r dir bin; do
    # --report-time is an unstable libtest option; RUSTC_BOOTSTRAP lets the
    # stable test harness accept it at run time (nothing is compiled here).
    args=(-Zunstable-options --report-time)
    [ -n "$filter" ] && args+=("$filter")
    (cd "$dir" && RUSTC_BOOTSTRAP=1 "$bin" "${args[@]}") >>"$log" 2>&1 || run_failed=1
  done <"$out/binaries"
  secs=$(( $(date +%s) - start ))
  fails=$(grep -cE '^test .* \.\.\. FAILED' "$log" || true)
  passes=$(grep -cE '^test .* \.\.\. ok' "$log" || true)
  echo "run $run: $passes passed, $fails failed, ${secs} s"
  [ "$run_failed" = 1 ] && failed_runs=$((failed_runs + 1))
done

python3 - "$out" "$n" <<'PY'
import glob, re, statistics, sys
out, n = sys.argv[1], int(sys.argv[2])
fails, times = {}, {}
pat = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)(?: <([0-9.]+)s>)?")
for path in sorted(glob.glob(f"{out}/run*.log")):
    for line in open(path, errors="replace"):
        m = pat.match(line)
        if not m:
            continue
        name, result, secs = m.groups()
        if result == "FAILED":
            fails[name] = fails.get(name, 0) + 1
        if secs:
            times.setdefault(name, []).append(float(secs))
if fails:
    print("\nfailed:")
    for name, k in sorted(fails.items(), key=lambda x: -x[1]):
        print(f"  {name}: {k} of {n} runs")
slow = sorted(((statistics.median(v), name) for name, v in times.items()), reverse=True)[:10]
print("\nslowest (median seconds):")
for secs, name in slow:
    print(f"  {secs:7.2f}  {name}")
PY
echo "repeat: $n runs, $failed_runs failed runs (logs in $out)"
[ "$failed_runs" = 0 ]
