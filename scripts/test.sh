#!/usr/bin/env bash
# Runs every test: formatting, lints, unit and simulator tests, and the
# network-namespace testbed tests (those need root and say SKIPPED without).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
# A full build of the tests needs several GB; say so before it fails
# half-way with "No space left on device".
free_kb=$(df -Pk . | awk 'NR == 2 { print $4 }')
if [ "${free_kb:-0}" -lt $((4 * 1024 * 1024)) ]; then
    echo "warning: only $((free_kb / 1024)) MB free here; the test build needs about 4 GB" >&2
fi
# Both lock files are committed; a stale one is a defect, not a detail.
(cd fuzz && cargo metadata --locked --format-version 1 >/dev/null)
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
# The testbed runs the daemon binaries, so build them first.
cargo build --locked --workspace --bins
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --locked --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?
# Coverage-guided fuzzing, bounded (FUZZ_SECONDS per target).
scripts/fuzz.sh "${FUZZ_SECONDS:-5}" || status=1
# One closing line over all test binaries.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
skipped=$(grep -c '^SKIPPED' "$log" || true)
[ "$skipped" -gt 0 ] && echo "note: $skipped testbed tests were skipped (not root?)"
exit "$status"
