#!/usr/bin/env bash
# Sets up the machine and runs every check CI runs: format, lints, docs, and
# all unit, integration and doc tests of every crate, built once.
# Root integration tests run for real; under CI=true a skipped root test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
mkdir -p target

# Warnings fail through clippy's -D warnings, not RUSTFLAGS: setting RUSTFLAGS
# would replace .cargo/config.toml's rustflags and rebuild everything.
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
# A deadline per stage: a hang fails fast with every process's stacks
# instead of running into CI's 90 minutes (normal: ~2 min with the build).
scripts/deadline 1200 -- cargo test --workspace --all-features --no-fail-fast 2>&1 | tee target/test.log
echo "== benchmarks, smoke"
# Criterion runs each benchmark once when not given --bench, so benches
# cannot rot; built with the test profile already compiled above.
scripts/deadline 600 -- cargo test --workspace --all-features --benches 2>&1 | tee target/bench-smoke.log
echo "== cargo package"
# Every publishable crate packages (metadata, readme, file list) together,
# the facade resolving its siblings from the local packages.
cargo package --workspace --exclude palisade-testkit --no-verify --allow-dirty --quiet
echo "== host lane: test counts"
grep -E '^test result:' target/test.log | awk '{p+=$4; f+=$6; i+=$8} END {print "host lane: " p " passed, " f " failed, " i " ignored"}'
echo "== real clients: containerd and podman drive palisade-oci"
# containerd 1.6 (ctr, runc v2 shim) and podman 4.3 (conmon) use the
# palisade-oci binary in place of runc; each script runs a private daemon /
# storage and removes it on exit (normal: ~10 s together).
PALISADE_CLIENTS=1 ./scripts/setup.sh >/dev/null
oci_bin=$(cargo build -q -p palisade-oci --message-format=json-render-diagnostics |
  grep -o '"executable":"[^"]*/palisade-oci"' | cut -d'"' -f4)
scripts/deadline 300 -- bash oci/tests/containerd.sh "$oci_bin"
scripts/deadline 300 -- bash oci/tests/podman.sh "$oci_bin"
echo "== guest lane (pure cgroup v2, ipvlan)"
# Normal: ~20-25 min under TCG (tests, containerd, systemd); each guest
# boot has its own 15-minute limit besides.
scripts/deadline 2700 -- ./scripts/test-vm.sh
grep -E '^test result:' target/test-vm.log | awk '{p+=$4; f+=$6; i+=$8} END {print "guest lane: " p " passed, " f " failed, " i " ignored"}'
