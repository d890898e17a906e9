#!/usr/bin/env bash
# raft, proxy and ops are siblings: none may depend on another; only node joins them. The web
# portal (portunus-web, in ops/) is on the ops side: it may use ops, never raft or proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
tree() { cargo tree -p "$1" -e normal,build --prefix none || { echo "cargo tree -p $1 failed" >&2; exit 2; }; }
for crate in portunus-raft portunus-proxy portunus-ops portunus-web; do
  deps=$(tree "$crate")
  for other in portunus-raft portunus-proxy portunus-ops; do
    [ "$crate" = "$other" ] && continue
    [ "$crate" = portunus-web ] && [ "$other" = portunus-ops ] && continue
    if grep -q "^$other v" <<<"$deps"; then
      echo "dependency direction violated: $crate depends on $other"
      status=1
    fi
  done
done
# portunus-model (the replicated vocabulary) must stay free of I/O crates.
if grep -qE "^(tokio|rocksdb|openraft|quinn) v" <<<"$(tree portunus-model)"; then
  echo "portunus-model must not depend on I/O crates"
  status=1
fi
[ $status -eq 0 ] && echo "dependency direction ok"
exit $status
