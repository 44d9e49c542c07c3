#!/usr/bin/env bash
# The pure cgroup-v2 lane (issue 10): runs the cgroup, netlink and facade
# test binaries and containerd's palisade-oci scenarios inside a QEMU guest
# whose kernel (Debian 6.1) has only cgroup v2 and has ipvlan and dummy. Same binaries as the host lane: tests
# detect the environment, they do not branch on the lane.
#
#   ./scripts/test-vm.sh              self-test, then the lane
#   ./scripts/test-vm.sh --self-test  only prove the lane can fail
set -euo pipefail
cd "$(dirname "$0")/.."
PALISADE_VM=1 PALISADE_CLIENTS=1 ./scripts/setup.sh
mkdir -p target
start=$(date +%s)

echo "== vm lane: self-test"
# A valid v2 write must pass and a broken one must fail, or the lane
# could go green without running anything.
probe='mkdir -p /sys/fs/cgroup/lane-probe && echo +memory > /sys/fs/cgroup/cgroup.subtree_control'
scripts/vm-run -- sh -c "$probe && echo 64M > /sys/fs/cgroup/lane-probe/memory.max && grep -q cgroup2 /proc/mounts"
if scripts/vm-run -- sh -c "$probe && echo not-a-size > /sys/fs/cgroup/lane-probe/memory.max" 2>/dev/null; then
  echo "vm lane self-test: a broken memory.max write did not fail the lane" >&2
  exit 1
fi
echo "vm lane self-test: ok (valid write passes, broken write fails)"
[[ "${1:-}" == --self-test ]] && exit 0

echo "== vm lane: cgroup, netlink and container tests in the guest"
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="$PWD/scripts/vm-run"
cargo test -p palisade-cgroup -p palisade-netlink -p palisade --all-features --tests --no-fail-fast 2>&1 \
  | tee target/test-vm.log
echo "vm lane: $(grep -c '^test result: ok' target/test-vm.log) test binaries passed in $(($(date +%s) - start)) s"

echo "== vm lane: containerd drives palisade-oci on pure cgroup v2"
# The host's containerd, ctr and shim (the guest sees the host's tree),
# the same scenarios as the host lane's (oci/tests/containerd.sh).
oci_bin=$(cargo build -q -p palisade-oci --message-format=json-render-diagnostics |
  grep -o '"executable":"[^"]*/palisade-oci"' | cut -d'"' -f4)
scripts/vm-run -- bash oci/tests/containerd.sh "$oci_bin" 2>&1 | tee target/test-vm-containerd.log
grep -q 'pure cgroup v2' target/test-vm-containerd.log
echo "vm lane (containerd): passed in $(($(date +%s) - start)) s total"

echo "== vm lane: the systemd cgroup driver, systemd as the guest's PID 1"
# The same guest with the host's systemd as PID 1 and the system bus
# (scripts/vm/init); the test refuses to skip when PALISADE_VM_SYSTEMD is set.
PALISADE_VM_SYSTEMD=1 cargo test -p palisade-cgroup --all-features --test systemd 2>&1 \
  | tee target/test-vm-systemd.log
# The facade's Container::cgroup_manager(Systemd) in the same guest mode.
PALISADE_VM_SYSTEMD=1 cargo test -p palisade --all-features --test systemd 2>&1 \
  | tee -a target/test-vm-systemd.log
# palisade-oci --systemd-cgroup: the container's init in prefix-name.scope.
PALISADE_VM_SYSTEMD=1 cargo test -p palisade-oci --all-features --test systemd 2>&1 \
  | tee -a target/test-vm-systemd.log
grep -q '^test result: ok' target/test-vm-systemd.log
! grep -q '^test result: FAILED' target/test-vm-systemd.log
echo "vm lane (systemd): passed in $(($(date +%s) - start)) s total"
