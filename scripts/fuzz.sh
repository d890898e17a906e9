#!/usr/bin/env bash
# Fuzzes every parser Portunus owns with cargo-fuzz (libFuzzer, nightly Rust), each target for
# SECONDS (default 60). Not part of the test command; the unit tests replay a deterministic
# random run of the same entry points (the `fuzzing` modules).
#   proxy/db/fuzz: mysql_client mysql_server pg_client pg_server sql (the database gateway)
#   fuzz:          ssh_login sftp shell command_rules (SSH gateway), api_signature api_call
#                  (API), cluster_messages store (replication and storage), config_file
# Crashes are kept in <crate>/artifacts/<target>/ (ignored by git); the corpus grows in
# <crate>/corpus/<target>/, committed after `cargo +nightly fuzz cmin <target>`.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds="${1:-60}"
shift || true
db_targets=(mysql_client mysql_server pg_client pg_server sql)
other_targets=(ssh_login sftp shell command_rules api_signature api_call cluster_messages store config_file)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${db_targets[@]}" "${other_targets[@]}")
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/portunus/target}-fuzz"
for t in "${targets[@]}"; do
  if [[ " ${db_targets[*]} " == *" $t "* ]]; then dir=proxy/db; else dir=.; fi
  echo "== $t: ${seconds}s"
  (cd "$root/$dir" && cargo +nightly fuzz run --sanitizer none "$t" -- -max_total_time="$seconds" -max_len=65536 2>&1) \
    | grep -E "^(#[0-9]+ *DONE|==|INFO: -max_total_time|SUMMARY|Done|thread .* panicked)" || true
  if [ -n "$(ls -A "$root/$dir/fuzz/artifacts/$t" 2>/dev/null)" ]; then
    echo "$t: crashes in $dir/fuzz/artifacts/$t" >&2
    exit 1
  fi
done
echo "fuzzing done: no crash"
