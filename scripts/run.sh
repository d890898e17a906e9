#!/usr/bin/env bash
# Build and run a single-node Portunus with embedded defaults (data in ./portunus-data).
# Extra arguments go to `portunus up`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
need_debs "${BUILD_DEBS[@]}"
cargo build --release -p portunus-node --bin portunus
exec "$PORTUNUS_BIN" up "$@"
