#!/usr/bin/env bash
# Installs what palisade's tests, examples and benchmarks need on a fresh
# Debian machine that has only Rust, gcc and apt. Idempotent: installs only
# what is missing, and runs `apt-get update` only when it must install.
# Everything comes from Debian's package registry.
set -euo pipefail

# Tools the tests use as oracles or inside containers:
#   busybox-static  the rootfs of every container test and example
#   iproute2        `ip -j` oracle for netlink tests, `ip netns`
#   util-linux      lsns, nsenter, unshare, mount (oracles and bench peers)
#   libcap2-bin     capsh, getpcaps, getcap, setcap (caps oracles)
#   uidmap          newuidmap/newgidmap (rootless id-map strategy)
#   iputils-ping    ping between namespaces
#   procps          ps/pgrep for process checks
#   libseccomp-dev  palisade-seccomp links libseccomp (pkg-config finds it)
packages=(busybox-static iproute2 util-linux libcap2-bin uidmap iputils-ping procps file libseccomp-dev pkg-config)
# Extra package groups, chosen by the caller:
#   PALISADE_BENCH=1  benchmark peers (crun, runc, bwrap, hyperfine), strace for
#                     profiles, jq to read criterion's estimates into BENCHMARKS.md
#   PALISADE_VM=1     the pure cgroup-v2 QEMU lane (guest kernel, qemu, initramfs tools)
#   PALISADE_CLIENTS=1 real clients of palisade-oci: containerd 1.6 (ctr, the
#                     runc v2 shim) and podman 4.3 (conmon), oci/tests/*.sh
if [[ "${PALISADE_BENCH:-0}" == 1 ]]; then
  packages+=(crun runc bubblewrap hyperfine strace jq)
fi
if [[ "${PALISADE_CLIENTS:-0}" == 1 ]]; then
  packages+=(containerd podman conmon)
fi
if [[ "${PALISADE_VM:-0}" == 1 ]]; then
  # QEMU for the cgroup-v2 guest lane (TCG where no usable KVM), cpio for
  # its initramfs. Debian 12's qemu-system-x86 (7.2) replaces a newer
  # backports qemu-utils if one is installed; the lane needs neither
  # qemu-img nor qemu-nbd. The guest kernel package is only downloaded and
  # extracted into target/vm by scripts/vm/build.sh, never installed.
  packages+=(qemu-system-x86 cpio)
  # The lane's systemd mode boots the host's systemd as the guest's PID 1
  # with the system bus, for the systemd cgroup driver's tests (issue 23).
  packages+=(systemd dbus)
fi
if [[ -n "${PALISADE_EXTRA_PACKAGES:-}" ]]; then
  read -r -a extra <<<"$PALISADE_EXTRA_PACKAGES"
  packages+=("${extra[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: need root to install packages" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Docker's and Podman's seccomp profile files (from Debian's packages,
# downloaded and unpacked into target/, not installed) for seccomp's tests.
"$(dirname "$0")/../seccomp/scripts/fixtures.sh" >/dev/null

# Components cargo needs for the checks.
if command -v rustup >/dev/null; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi
echo "setup: ok"
