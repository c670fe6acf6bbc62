#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer coverage instrumentation on the
# stable toolchain (no cargo-fuzz, no nightly) and runs each for a bounded
# time. Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# A crash leaves its input in fuzz/artifacts/<target>/; copy it to
# fuzz/regressions/<target>/ so the normal test run replays it forever.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame config obu rsu handshake ns2 sumo_fcd)

export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
export CARGO_TARGET_DIR="$PWD/fuzz/target"
# An explicit --target keeps the instrumentation off build scripts.
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --locked --release --manifest-path fuzz/Cargo.toml --target "$host" --bins
unset RUSTFLAGS
bin="$CARGO_TARGET_DIR/$host/release"

status=0
for t in "${targets[@]}"; do
    corpus="fuzz/target/corpus/$t"
    artifacts="fuzz/artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    log="fuzz/target/$t.log"
    # Seeds: the saved regression inputs.
    set +e
    "$bin/$t" -max_total_time="$secs" -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 \
        "$corpus" "fuzz/regressions/$t" >"$log" 2>&1
    rc=$?
    set -e
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
    if [ $rc -eq 0 ]; then
        echo "fuzz $t: ${runs} executions in ${secs}s, coverage ${cov} edges, no crash"
    else
        echo "fuzz $t: FAILED (exit $rc) after ${runs} executions; input in $artifacts/" >&2
        tail -40 "$log" >&2
        status=1
    fi
done
exit $status
