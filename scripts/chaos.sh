#!/usr/bin/env bash
# Seeded randomized fault runs (tests/tests/system/chaos.rs): three real nodes, kills and
# restarts, pauses, partitions and one-way cuts (the leader half of the time) while clients
# write, read, spend a token and hold sessions; each run's history is checked afterwards.
# Not part of the test command (which runs one short run); this is the soak:
#   scripts/chaos.sh RUNS [FIRST_SEED] [SECONDS_OF_FAULTS_PER_RUN]
# The table of runs is printed and appended to docs/fault-runs.md with the date and commit.
# A failed run names its seed: `scripts/chaos.sh 1 SEED` replays the same choices of faults.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
runs="${1:-10}"
seed="${2:-$(( $(date +%s) % 1000000000 ))}"
secs="${3:-20}"
cargo build --release --workspace --all-targets
header="## $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo ' (with uncommitted changes)')"
# The soak runs from copies of the node binary and the test executable, so the tree may be
# edited and rebuilt while it runs without changing what is under test.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
test_exe=$(cargo test --release --workspace --test system --no-run 2>&1 \
  | sed -n 's/.*Executable tests\/system\/main.rs (\(.*\))$/\1/p' | tail -1)
[ -x "$test_exe" ] || { echo "chaos.sh: no system test executable found" >&2; exit 1; }
cp "$CARGO_TARGET_DIR/release/portunus" "$test_exe" "$stage/"
table=$(mktemp)
status=0
PORTUNUS_BIN="$stage/portunus" PORTUNUS_CHAOS_RUNS="$runs" PORTUNUS_TEST_SEED="$seed" \
  PORTUNUS_CHAOS_SECS="$secs" PORTUNUS_CHAOS_TABLE="$table" \
  "$stage/$(basename "$test_exe")" --exact chaos::seeded_fault_runs_keep_every_guarantee --nocapture \
  || status=$?
{
  echo
  echo "$header"
  echo
  echo "\`scripts/chaos.sh $runs $seed $secs\` (exit status $status)"
  echo
  cat "$table"
} >> docs/fault-runs.md
rm -f "$table"
exit "$status"
