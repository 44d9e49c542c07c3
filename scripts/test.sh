#!/usr/bin/env bash
# Sets up the machine and runs every check CI runs: format, lints, docs, and
# all unit, integration and doc tests of every crate, built once.
# Root integration tests run for real; under CI=true a skipped root test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

export RUSTFLAGS="${RUSTFLAGS:-} -D warnings"
export RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -D warnings"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings
echo "== cargo doc"
cargo doc --workspace --no-deps --all-features --quiet
echo "== cargo test"
# The root tests share host state (mounts, cgroups, links): binaries run one
# after another, and tests inside a binary coordinate through the test kit.
cargo test --workspace --all-features --no-fail-fast 2>&1 | tee target/test.log
