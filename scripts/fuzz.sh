#!/usr/bin/env bash
# Fuzzes the database gateway's decoders (client and target input of both protocols, SQL text)
# with cargo-fuzz (libFuzzer, nightly Rust): each target for SECONDS (default 60). Not part of
# the test command; the unit tests replay a deterministic random run of the same entry points.
# Crashes are kept in proxy/db/fuzz/artifacts/<target>/ and the corpus in
# proxy/db/fuzz/corpus/<target>/ (both ignored by git).
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(mysql_client mysql_server pg_client pg_server sql)
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/portunus/target}-fuzz"
cd proxy/db
for t in "${targets[@]}"; do
  echo "== $t: ${seconds}s"
  cargo +nightly fuzz run --sanitizer none "$t" -- -max_total_time="$seconds" -max_len=65536 2>&1 \
    | grep -E "^(#[0-9]+ *DONE|==|INFO: -max_total_time|SUMMARY|Done)" || true
  if [ -n "$(ls -A "fuzz/artifacts/$t" 2>/dev/null)" ]; then
    echo "$t: crashes in proxy/db/fuzz/artifacts/$t" >&2
    exit 1
  fi
done
echo "fuzzing done: no crash"
