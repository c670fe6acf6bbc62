#!/usr/bin/env bash
# Stability under load (specification section 13), measured in the lab
# with release builds:
#
#   1. lab/scenarios/highway.toml RUNS times (250 daemons; the last run with
#      the live web page open in headless Chromium, as someone watching);
#   2. highway-burst.toml: every core of the host busy for 5 s at 40 s;
#   3. highway-rsu-restart.toml: rsu5 killed at 40 s, started at 45 s;
#   4. highway-500.toml: 500 daemons (20 RSUs, 480 vehicles, encrypted).
#
# Each run lasts SECS seconds; its summary lines are printed as it ends
# (attached share once warm, delivery, handovers, handover gap p99,
# upstream changes per OBU-minute, host saturated seconds, each event's
# recovery), then one line per run. Results, summaries and logs stay in
# OUT/<run>/.
#
#   scripts/lab-stability.sh [RUNS]        (default 5)
#   scripts/lab-stability.sh --check       build, check every scenario, say what would run
#   SECS=90 OUT=lab-out/stability WEB_PORT=8089 scripts/lab-stability.sh
#   SKIP_500=1 ...                         leave out the 500-daemon run
#   CARGO="flock /tmp/lock cargo" ...      how to call cargo; NO_BUILD=1 skips the build
#
# Needs root, and scripts/deps.sh run once (BIRD, iperf3, Chromium). Not
# part of the test suite: it takes about (RUNS + 3) x (SECS + 30) seconds
# and the 500-daemon run saturates a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."

check_only=0
runs=5
case "${1:-}" in
  --check) check_only=1 ;;
  "") ;;
  *[!0-9]* | 0)
    echo "usage: $0 [RUNS | --check]" >&2
    exit 2
    ;;
  *) runs=$1 ;;
esac
secs=${SECS:-90}
out=${OUT:-lab-out/stability}
web_port=${WEB_PORT:-8089}
read -r -a cargo <<<"${CARGO:-cargo}"

if [ "${NO_BUILD:-0}" != 1 ]; then
  "${cargo[@]}" build -q --release -p obu -p rsu -p lab --bins
fi
lab=target/release/v2xd-lab
export V2XD_BIN_DIR="$PWD/target/release"

scenarios=(highway highway-burst highway-rsu-restart)
[ "${SKIP_500:-0}" = 1 ] || scenarios+=(highway-500)
for s in "${scenarios[@]}"; do
  "$lab" check "lab/scenarios/$s.toml"
done

chromium=""
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null; then
    chromium=$b
    break
  fi
done

# The plan: one "name scenario web" line per run.
plan=()
for ((k = 1; k <= runs; k++)); do
  web=no
  [ "$k" -eq "$runs" ] && [ -n "$chromium" ] && web=yes
  plan+=("highway-$k highway $web")
done
plan+=("highway-burst highway-burst no" "highway-rsu-restart highway-rsu-restart no")
[ "${SKIP_500:-0}" = 1 ] || plan+=("highway-500 highway-500 no")

echo "machine: $(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB; $(uname -r)"
echo "runs of ${secs} s each, results in $out/:"
for p in "${plan[@]}"; do
  read -r name scenario web <<<"$p"
  echo "  $name: lab/scenarios/$scenario.toml$([ "$web" = yes ] && echo ", live page open in $chromium")"
done
[ -n "$chromium" ] || echo "  (no Chromium: no run with the live page; scripts/deps.sh installs it)"
if [ "$check_only" = 1 ]; then
  exit 0
fi

# The lines of a summary.md worth reading side by side.
summary_lines() {
  grep -E '^> \*\*Warning|^\| attached share after|^\| handovers \||^\| handover gap|^\| upstream changes|^\| host saturated|^\| trace time|^\| all [0-9]+ flows|^\| [0-9]+\.[0-9] \| (cpu-burst|kill|stop|start|restart|link-down|link-up)' "$1" || true
}

# Cell $2 (1-based) of the summary.md row of $1 that starts with $3.
cell() {
  awk -F'|' -v want="$3" -v n="$(($2 + 1))" 'index($0, "| " want) == 1 { gsub(/^ +| +$/, "", $n); print $n; exit }' "$1"
}

# One line for the recap: the run's main figures.
recap() {
  local dir=$1 name=$2 s=$1/summary.md
  if [ ! -f "$s" ]; then
    printf '%-22s no summary (the run failed: %s/run.log)\n' "$name" "$dir"
    return
  fi
  local warm gap changes sat delivery events
  warm=$(cell "$s" 2 "attached share after")
  gap=$(cell "$s" 2 "handover gap" | awk -F' / ' '{print $2}')
  # "whole / per-min; warm / per-min": the whole run's, then once warm.
  changes=$(cell "$s" 2 "upstream changes" | awk -F' / ' '{split($2, a, ";"); print a[1] " (warm " $3 ")"}')
  sat=$(cell "$s" 2 "host saturated" | awk '{print $1 "/" $3}')
  delivery=$(cell "$s" 5 "all ")
  events=$(awk -F'|' '/^\| [0-9]+\.[0-9] \| (cpu-burst|kill|stop|start|restart|link-down|link-up)/ {
      gsub(/^ +| +$/, "", $3); gsub(/^ +| +$/, "", $4); split($4, r, " \\(");
      printf "%s%s: %s", sep, $3, r[1]; sep = "; " }' "$s")
  printf '%-22s warm %-8s delivery %-24s handovers %-6s gap p99 %-8s changes/OBU-min %-18s saturated %-7s %s\n' \
    "$name" "${warm:-n/a}" "${delivery:-n/a}" "$(cell "$s" 2 "handovers")" "${gap:-n/a}" \
    "${changes:-n/a}" "${sat:-n/a}" "${events:+events: $events}"
}

# Waits until the web view at port $1 answers while process $2 lives.
wait_web() {
  local k
  for ((k = 0; k < 600; k++)); do
    kill -0 "$2" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

failed=0
for p in "${plan[@]}"; do
  read -r name scenario web <<<"$p"
  dir=$out/$name
  rm -rf "$dir"
  mkdir -p "$dir"
  echo
  echo "== $name: $scenario.toml, ${secs} s$([ "$web" = yes ] && echo ", live page open") =="
  args=(run "lab/scenarios/$scenario.toml" --duration "$secs" --out "$dir")
  [ "$web" = yes ] && args+=(--web "127.0.0.1:$web_port")
  "$lab" "${args[@]}" >"$dir/run.log" 2>&1 &
  lab_pid=$!
  browser_pid=""
  if [ "$web" = yes ]; then
    if wait_web "$web_port" "$lab_pid"; then
      profile=$(mktemp -d)
      "$chromium" --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$profile" --remote-debugging-port=0 \
        "http://127.0.0.1:$web_port/" >"$dir/chromium.log" 2>&1 &
      browser_pid=$!
      echo "live page open in $chromium (pid $browser_pid)"
    else
      echo "the web view never answered; running on without the page"
    fi
  fi
  status=0
  wait "$lab_pid" || status=$?
  if [ -n "$browser_pid" ]; then
    kill "$browser_pid" 2>/dev/null || true
    wait "$browser_pid" 2>/dev/null || true
    rm -rf "$profile"
  fi
  if [ "$status" -ne 0 ]; then
    echo "FAILED (exit $status); the end of $dir/run.log:"
    tail -n 5 "$dir/run.log"
    failed=1
    continue
  fi
  summary_lines "$dir/summary.md"
done

echo
echo "== all runs =="
for p in "${plan[@]}"; do
  read -r name _ _ <<<"$p"
  recap "$out/$name" "$name"
done
exit "$failed"
