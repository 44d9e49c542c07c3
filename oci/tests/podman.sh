#!/usr/bin/env bash
# podman 4.3 + conmon drive palisade-oci as their OCI runtime (issue 22).
# Private storage (--root/--runroot, vfs), cgroupfs, file events, no
# network; the image is imported offline from a busybox root. Everything
# is removed on exit, even on failure. Needs root, podman, conmon, busybox.
# Usage: oci/tests/podman.sh PATH/TO/palisade-oci
set -euo pipefail

bin=$(readlink -f "${1:?usage: podman.sh PATH/TO/palisade-oci}")
here=$(cd "$(dirname "$0")" && pwd)
for tool in podman conmon busybox; do
  command -v "$tool" >/dev/null || { echo "podman.sh: $tool missing (PALISADE_CLIENTS=1 scripts/setup.sh)" >&2; exit 1; }
done

base=/run/palisade-ci-pm-$$-$RANDOM
mkdir -p "$base"/{rootfs,tmp}
# conmon writes an empty `oom` file into its working directory when the
# container is OOM-killed: keep it out of the caller's (the checkout's).
cd "$base"
"$here/mkrootfs.sh" "$base/rootfs"
# This machine's root has no CAP_SYS_RESOURCE: podman's default rlimits
# (nofile/nproc 1048576) cannot be raised, so ask for ones within reach.
# podman's packaged default sysctl is kept (CONTAINERS_CONF replaces
# /usr/share/containers/containers.conf, so it is restated): palisade
# writes sysctls before /proc/sys is made read-only. seccomp is podman's
# default profile.
cat >"$base/containers.conf" <<CONF
[containers]
default_sysctls = ["net.ipv4.ping_group_range=0 0"]
default_ulimits = ["nofile=1024:16384", "nproc=4096:4096"]
netns = "none"
[network]
default_network = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF=$base/containers.conf
pm() {
  podman --root "$base/root" --runroot "$base/runroot" --tmpdir "$base/tmp" \
    --storage-driver vfs --runtime "$bin" "$@"
}
cleanup() {
  set +e
  pm rm -af -t 0 >/dev/null 2>&1
  pm rmi -af >/dev/null 2>&1
  umount -R "$base/root" "$base/runroot" 2>/dev/null
  # podman's parent group (cgroupfs manager) and its conmon group beneath,
  # when nothing is left in them (rmdir refuses a group holding anything).
  rmdir /sys/fs/cgroup/*/libpod_parent/conmon /sys/fs/cgroup/libpod_parent/conmon 2>/dev/null
  rmdir /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/libpod_parent 2>/dev/null
  cd /
  rm -rf "$base"
}
trap cleanup EXIT
fail() { echo "podman.sh: FAIL: $*" >&2; exit 1; }

tar -C "$base/rootfs" -c . | pm import -q - localhost/palisade-busybox >/dev/null
img=localhost/palisade-busybox
run() { pm run "$@"; }  # network none by default (containers.conf)

# 1. Exit codes and output.
run --rm "$img" /bin/true || fail "run /bin/true"
set +e
run --rm "$img" /bin/sh -c 'exit 7'; rc=$?
set -e
[[ $rc == 7 ]] || fail "exit 7 gave $rc"
out=$(run --rm --network host "$img" /bin/sh -c 'echo out-$((6*7))')
[[ $out == out-42 ]] || fail "stdout: $out"

# A terminal: conmon gets the pty master through --console-socket.
out=$(run --rm -t "$img" /bin/sh -c 'tty; exit 0' | tr -d '\r')
[[ $out == /dev/pts/* ]] || fail "run -t: tty says $out"
# podman's default seccomp profile is in force (mode 2: filter).
[[ $(run --rm "$img" /bin/sh -c 'grep Seccomp: /proc/self/status') == *2* ]] || fail "no seccomp filter"
# podman's default sysctl (ping_group_range "0 0") reached the container's
# network namespace, and /proc/sys is read-only after it.
out=$(run --rm "$img" /bin/sh -c 'cat /proc/sys/net/ipv4/ping_group_range; (echo 1 >/proc/sys/net/ipv4/ip_forward) 2>/dev/null && echo writable; true' | tr -s ' \t' ' ')
[[ $out == "0 0" ]] || fail "default sysctl: $out"
out=$(run --rm --sysctl net.ipv4.ping_group_range="0 1000" "$img" cat /proc/sys/net/ipv4/ping_group_range | tr -s ' \t' ' ')
[[ $out == "0 1000" ]] || fail "--sysctl: $out"

# 2. Detached: exec, top, pause/unpause, stop (TERM ignored → KILL), rm.
id=$(run -d "$img" /bin/sleep 600)
out=$(pm exec "$id" /bin/sh -c 'echo exec-$((1+1))') || fail "exec"
[[ $out == exec-2 ]] || fail "exec output: $out"
set +e
pm exec "$id" /bin/sh -c 'exit 4'; rc=$?
set -e
[[ $rc == 4 ]] || fail "exec exit code $rc"
out=$(pm exec -t "$id" /bin/sh -c tty | tr -d '\r')
[[ $out == /dev/pts/* ]] || fail "exec -t: tty says $out"
pm top "$id" | grep -q sleep || fail "top: $(pm top "$id")"
pm pause "$id" >/dev/null || fail "pause"
[[ $(pm inspect -f '{{.State.Status}}' "$id") == paused ]] || fail "not paused"
pm unpause "$id" >/dev/null || fail "unpause"
[[ $(pm inspect -f '{{.State.Status}}' "$id") == running ]] || fail "not running after unpause"
# update: the new limits reach the kernel (cgroupfs read back).
pm update --memory 48m "$id" >/dev/null || fail "update"
pid=$(pm inspect -f '{{.State.Pid}}' "$id")
if [[ -d /sys/fs/cgroup/memory ]]; then
  mem=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' "/proc/$pid/cgroup")
  limit=$(cat "/sys/fs/cgroup/memory$mem/memory.limit_in_bytes")
else
  limit=$(cat "/sys/fs/cgroup$(awk -F: '$1 == 0 {print $3}' "/proc/$pid/cgroup")/memory.max")
fi
[[ $limit == $((48 << 20)) ]] || fail "update: memory limit $limit, not 48m"
pm stop -t 1 "$id" >/dev/null || fail "stop"
[[ $(pm inspect -f '{{.State.Status}}' "$id") == exited ]] || fail "not exited after stop"
pm rm "$id" >/dev/null || fail "rm"

# 3. Limits: memory OOM → 137, pids limit.
set +e
run --rm --memory 32m --memory-swap 32m "$img" /bin/sh -c 'x=a; while true; do x="$x$x"; done'; rc=$?
set -e
[[ $rc == 137 ]] || fail "OOM gave $rc, not 137"
out=$(run --rm --pids-limit 5 "$img" /bin/sh -c 'for i in 1 2 3 4 5 6 7 8; do sleep 5 & done 2>&1; echo done' 2>&1 || true)
grep -qi 'resource temporarily unavailable\|can.t fork' <<<"$out" || fail "pids-limit not enforced: $out"
[[ $(pm ps -aq | wc -l) == 0 ]] || fail "containers left: $(pm ps -a)"
echo "podman.sh: all scenarios passed"
