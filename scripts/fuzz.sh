#!/usr/bin/env bash
# Fuzzes every parser Portunus owns with cargo-fuzz (libFuzzer, nightly Rust), each target for
# SECONDS (default 60). Not part of the test command; the unit tests replay a deterministic
# random run of the same entry points (the `fuzzing` modules).
#   proxy/db/fuzz: mysql_client mysql_server pg_client pg_server sql (the database gateway)
#   fuzz:          ssh_login sftp shell command_rules (SSH gateway), api_signature api_call
#                  (API), cluster_messages store (replication and storage), config_file
# Each target starts from its committed corpus (<crate>/corpus/<target>/) and adds what covers
# new code; `scripts/fuzz.sh --minimize` shrinks the corpora to the inputs that keep the
# coverage (`cargo fuzz cmin`) before they are committed. A crash, a hang (an input taking more
# than 20 s) or an input needing more than 2 GiB is a finding: kept in <crate>/fuzz/artifacts/
# <target>/ (ignored by git), the script stops with status 1 naming it.
# The table of targets (executions, coverage, corpus) is printed and appended to
# docs/fuzzing.md with the date and commit. FUZZ_JOBS (default 1) targets run at once, each
# on one core.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#   scripts/fuzz.sh --minimize [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
invocation="scripts/fuzz.sh $*"
minimize=false
if [ "${1:-}" = --minimize ]; then minimize=true; shift; seconds=0; else seconds="${1:-60}"; shift || true; fi
db_targets=(mysql_client mysql_server pg_client pg_server sql)
other_targets=(ssh_login sftp shell command_rules api_signature api_call cluster_messages store config_file)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${db_targets[@]}" "${other_targets[@]}")
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/portunus/target}-fuzz"
crate_of() {
  if [[ " ${db_targets[*]} " == *" $1 "* ]]; then echo proxy/db; else echo .; fi
}
if $minimize; then
  for t in "${targets[@]}"; do
    dir=$(crate_of "$t")
    before=$(ls "$root/$dir/fuzz/corpus/$t" 2>/dev/null | wc -l)
    (cd "$root/$dir" && cargo +nightly fuzz cmin --sanitizer none "$t" -- -max_len=65536 >/dev/null 2>&1)
    echo "$t: corpus $before -> $(ls "$root/$dir/fuzz/corpus/$t" | wc -l) inputs"
  done
  exit 0
fi
header="## $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!fuzz/corpus' ':!proxy/db/fuzz/corpus' || echo ' (with uncommitted changes)')"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
table="$logs/table"
echo "| target | seconds | executions | executions/s | coverage (edges) | corpus inputs (before -> after) | result |" > "$table"
echo "|---|---:|---:|---:|---:|---:|---|" >> "$table"
# One target: its table line in $logs/$t.line, its status in $logs/$t.status.
fuzz_one() {
  local t=$1 dir corpus before after done_line execs rate cov result status=0
  dir=$(crate_of "$t")
  corpus="$root/$dir/fuzz/corpus/$t"
  mkdir -p "$corpus"
  before=$(ls "$corpus" | wc -l)
  (cd "$root/$dir" && cargo +nightly fuzz run --sanitizer none "$t" -- \
      -max_total_time="$seconds" -max_len=65536 -timeout=20 -rss_limit_mb=2048 \
      -print_final_stats=1 >"$logs/$t.log" 2>&1) || true
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$logs/$t.log" | tail -1 || true)
  execs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$logs/$t.log" | grep -oE '[0-9]+$' || true)
  rate=$(grep -oE '^stat::average_exec_per_sec: *[0-9]+' "$logs/$t.log" | grep -oE '[0-9]+$' || true)
  cov=$(echo "$done_line" | grep -oE 'cov: [0-9]+' | grep -oE '[0-9]+' || true)
  after=$(ls "$corpus" | wc -l)
  if [ -n "$(ls -A "$root/$dir/fuzz/artifacts/$t" 2>/dev/null)" ]; then
    result="FINDING: $(ls "$root/$dir/fuzz/artifacts/$t" | tr '\n' ' ')(in $dir/fuzz/artifacts/$t)"
    grep -E "panicked|ERROR: libFuzzer|SUMMARY" "$logs/$t.log" | head -5 >&2 || true
    status=1
  elif sig=$(grep -oE 'exited with signal: [0-9]+ \([A-Z]+\)' "$logs/$t.log" | tail -1) && [ -n "$sig" ]; then
    result="FINDING: the target died ($sig) before libFuzzer could save the input"
    status=1
  elif [ -z "$done_line" ]; then
    result="did not finish"
    echo "== $t did not finish; the end of its log:" >&2
    tail -20 "$logs/$t.log" >&2
    status=1
  else
    result="no finding"
  fi
  echo "| $t | $seconds | ${execs:-?} | ${rate:-?} | ${cov:-?} | $before -> $after | $result |" | tee "$logs/$t.line"
  echo "$status" > "$logs/$t.status"
}
# Built once before the targets run side by side.
for dir in proxy/db .; do
  (cd "$root/$dir" && cargo +nightly fuzz build --sanitizer none >/dev/null)
done
jobs_max="${FUZZ_JOBS:-1}"
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  echo "== $t: ${seconds}s"
  fuzz_one "$t" &
done
wait
status=0
for t in "${targets[@]}"; do
  cat "$logs/$t.line" >> "$table"
  [ "$(cat "$logs/$t.status")" = 0 ] || status=1
done
cat "$table"
{
  echo
  echo "$header"
  echo
  echo "\`${invocation% }\` (exit status $status)"
  echo
  cat "$table"
} >> docs/fuzzing.md
[ $status -eq 0 ] && echo "fuzzing done: no finding"
exit "$status"
