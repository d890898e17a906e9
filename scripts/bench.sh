#!/usr/bin/env bash
# Build the node and the benchmark harness, then run `portunus-bench` with the given arguments
# (for example `scripts/bench.sh db`, `scripts/bench.sh all`). Installs the peers it measures
# against (HAProxy, sshd, MariaDB, PostgreSQL, sysbench, iperf3) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
need_debs "${BUILD_DEBS[@]}" "${BENCH_DEBS[@]}"
# The same build as the tests and soaks (one set of features, so nothing is rebuilt between them).
cargo build --release --workspace --all-targets
exec "$CARGO_TARGET_DIR/release/portunus-bench" "$@"
