#!/usr/bin/env bash
# Runs every fuzz target for N executions (default 1,000,000) and prints a
# summary line per target. Needs cargo-fuzz (cargo install cargo-fuzz).
set -euo pipefail
cd "$(dirname "$0")"
runs=${1:-1000000}
export RUSTC_BOOTSTRAP=1
for t in $(cargo fuzz list); do
  log=$(mktemp)
  if cargo fuzz run "$t" -- -runs="$runs" >"$log" 2>&1; then
    echo "$t: $(grep -E '^Done [0-9]+ runs' "$log" | tail -1)"
  else
    echo "$t: FAILED (see $log)"; tail -30 "$log"; exit 1
  fi
done
