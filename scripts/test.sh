#!/usr/bin/env bash
# The whole test suite, with its gates. Installs what it needs on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
need_debs "${BUILD_DEBS[@]}" "${TEST_DEBS[@]}"
need_npm
python3 -m pip install -q --disable-pip-version-check alibabacloud-yundun-bastionhost20191209 mysql-connector-python "psycopg[binary]" PyMySQL asyncpg selenium

echo "== format"
cargo fmt --all -- --check

echo "== dependency direction"
scripts/check-deps.sh

echo "== clippy"
cargo clippy --release --workspace --all-targets -- -D warnings

echo "== build"
cargo build --release --workspace --all-targets

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --release --workspace --no-fail-fast --failure-output final
else
  cargo test --release --workspace --no-fail-fast
fi
