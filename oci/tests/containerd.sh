#!/usr/bin/env bash
# containerd 1.6 + ctr drive palisade-oci in place of runc (issue 22).
# A private containerd (own config, root, state, socket under
# /run/palisade-ci-*) is started, the scenarios run, and the daemon is
# stopped and its dirs removed even on failure. Needs root, containerd and
# ctr (scripts/setup.sh with PALISADE_CLIENTS=1) and a built palisade-oci.
# Runs on the hybrid host and, through scripts/test-vm.sh, in the pure
# cgroup-v2 guest.
# Usage: oci/tests/containerd.sh PATH/TO/palisade-oci
set -euo pipefail

bin=$(readlink -f "${1:?usage: containerd.sh PATH/TO/palisade-oci}")
here=$(cd "$(dirname "$0")" && pwd)
for tool in containerd ctr containerd-shim-runc-v2 busybox; do
  command -v "$tool" >/dev/null || { echo "containerd.sh: $tool missing (PALISADE_CLIENTS=1 scripts/setup.sh)" >&2; exit 1; }
done

tag=$$-$RANDOM
base=/run/palisade-ci-ctd-$tag
ns=palisade-ci-$tag
sock=$base/containerd.sock
mkdir -p "$base"/{root,state,rootfs}
# A busybox root (static, no libc needed).
"$here/mkrootfs.sh" "$base/rootfs"

cat >"$base/config.toml" <<TOML
version = 2
root = "$base/root"
state = "$base/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
TOML

pid=
cleanup() {
  set +e
  for id in $(ctr -a "$sock" -n "$ns" tasks ls -q 2>/dev/null); do
    ctr -a "$sock" -n "$ns" tasks kill -s KILL "$id" >/dev/null 2>&1
    sleep 0.2
    ctr -a "$sock" -n "$ns" tasks delete -f "$id" >/dev/null 2>&1
  done
  for id in $(ctr -a "$sock" -n "$ns" containers ls -q 2>/dev/null); do
    ctr -a "$sock" -n "$ns" containers delete "$id" >/dev/null 2>&1
  done
  ctr -a "$sock" namespaces remove "$ns" >/dev/null 2>&1
  if [[ -n $pid ]]; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  # Shims of this daemon (their socket paths name our state dir).
  for s in $(pgrep -f "containerd-shim-runc-v2 -namespace $ns" 2>/dev/null); do kill -9 "$s" 2>/dev/null; done
  umount -R "$base/state" 2>/dev/null
  rm -rf "$base" "/run/containerd/runc/$ns"
  # v1 controllers and hybrid's unified tree, or a pure cgroup2 root.
  for c in /sys/fs/cgroup/*/"$ns" /sys/fs/cgroup/"$ns"; do
    [[ -d $c ]] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
}
trap cleanup EXIT

containerd --config "$base/config.toml" --log-level warn >"$base/containerd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.1; done
[[ -S $sock ]] || { cat "$base/containerd.log" >&2; echo "containerd did not start" >&2; exit 1; }

ctr() { command ctr -a "$sock" -n "$ns" "$@"; }
fail() { echo "containerd.sh: FAIL: $*" >&2; [[ -f $base/containerd.log ]] && tail -20 "$base/containerd.log" >&2; exit 1; }
run() { ctr run --rm --runc-binary "$bin" --rootfs "$base/rootfs" "$@"; }

# 1. Exit codes through the shim.
run c-true /bin/true || fail "run /bin/true"
set +e
run c-seven /bin/sh -c 'exit 7'; rc=$?
set -e
[[ $rc == 7 ]] || fail "sh -c 'exit 7' gave $rc"
out=$(run c-echo /bin/sh -c 'echo hello-$((6*7))')
[[ $out == hello-42 ]] || fail "stdout through the shim: $out"

# 2. A detached container: exec, ps, pause/resume, metrics, TERM.
ctr run -d --runc-binary "$bin" --rootfs "$base/rootfs" c-long \
  /bin/sh -c 'trap "exit 0" TERM; while true; do sleep 0.1; done' || fail "run -d"
out=$(ctr task exec --exec-id e1 c-long /bin/sh -c 'echo in-$(hostname)') || fail "task exec"
[[ $out == in-c-long || $out == in-* ]] || fail "exec output: $out"
set +e
ctr task exec --exec-id e2 c-long /bin/sh -c 'exit 5'; rc=$?
set -e
[[ $rc == 5 ]] || fail "exec exit code $rc"
ps_out=$(ctr task ps c-long) || fail "task ps"
grep -q '^[0-9]' <<<"${ps_out#*$'\n'}" || fail "task ps shows no pid: $ps_out"
# From the host: the init sits in the group ctr asked for (/NS/ID) in
# every hierarchy there is — on a pure cgroup2 machine the one "0::" line.
init=$(ctr task ls | awk '$1 == "c-long" {print $2}')
[[ $init =~ ^[0-9]+$ ]] || fail "no init pid for c-long: $(ctr task ls)"
while IFS=: read -r _ ctrls path; do
  [[ $ctrls == *name=* || $ctrls == rdma || $ctrls == misc ]] && continue
  [[ $path == "/$ns/c-long" ]] || fail "init $init in ${ctrls:-cgroup2} $path, not /$ns/c-long"
done </proc/"$init"/cgroup
if [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]]; then
  [[ $(cat /proc/"$init"/cgroup) == "0::/$ns/c-long" ]] || fail "not in the cgroup2 group: $(cat /proc/"$init"/cgroup)"
  echo "containerd.sh: pure cgroup v2 ($(cat /sys/fs/cgroup/"$ns"/c-long/cgroup.controllers))"
fi
ctr task pause c-long || fail "pause"
ctr task ls | grep -q 'c-long.*PAUSED' || fail "not PAUSED: $(ctr task ls)"
ctr task resume c-long || fail "resume"
ctr task ls | grep -q 'c-long.*RUNNING' || fail "not RUNNING after resume: $(ctr task ls)"
ctr task metrics c-long >"$base/metrics" || fail "task metrics"
grep -qi 'pids\|memory' "$base/metrics" || fail "metrics: $(cat "$base/metrics")"
ctr task kill -s TERM c-long || fail "kill -s TERM"
for _ in $(seq 50); do ctr task ls | grep -q 'c-long.*STOPPED' && break; sleep 0.1; done
ctr task ls | grep -q 'c-long.*STOPPED' || fail "not STOPPED after TERM: $(ctr task ls)"
ctr task delete c-long >/dev/null || fail "task delete"
ctr container delete c-long || fail "container delete"

# 3. No leftovers: palisade-oci state, cgroups, shims.
left=$(ls "/run/containerd/runc/$ns" 2>/dev/null || true)
[[ -z $left ]] || fail "palisade-oci state left: $left"
# The namespace's parent group stays (as with runc); no container group may.
left=$(find /sys/fs/cgroup/*/"$ns" /sys/fs/cgroup/"$ns" -mindepth 1 -type d 2>/dev/null || true)
[[ -z $left ]] || fail "cgroups left: $left"
sleep 0.2
pgrep -f "containerd-shim-runc-v2 -namespace $ns" >/dev/null && fail "shim left"
echo "containerd.sh: all scenarios passed"
