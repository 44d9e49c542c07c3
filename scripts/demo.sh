#!/usr/bin/env bash
# Sets up the machine, then runs the main demo: a container from the busybox
# rootfs the test kit builds, with its own namespaces, cgroup and network.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec cargo run --quiet --example run -- "$@"
