#!/usr/bin/env bash
# Fetches the seccomp profiles Docker and Podman ship, from Debian's packages
# (golang-github-docker-docker-dev: moby's profiles/seccomp/default.json;
# golang-github-containers-common: /usr/share/containers/seccomp.json), into
# $1 (default: target/seccomp-fixtures). Downloads and unpacks the .deb files
# only; installs nothing. Used by seccomp/tests/profiles.rs.
set -euo pipefail
out=${1:-"$(dirname "$0")/../../target/seccomp-fixtures"}
mkdir -p "$out"
cd "$out"
fetch() { apt-get download -qq "$1" 2>/dev/null || { apt-get update -qq && apt-get download -qq "$1"; }; }
for pkg in golang-github-docker-docker-dev golang-github-containers-common; do
  ls "$pkg"_*.deb >/dev/null 2>&1 || fetch "$pkg"
done
dpkg-deb --fsys-tarfile golang-github-docker-docker-dev_*.deb \
  | tar -xO ./usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json >docker-default.json
dpkg-deb --fsys-tarfile golang-github-containers-common_*.deb \
  | tar -xO ./usr/share/containers/seccomp.json >podman-seccomp.json
echo "seccomp fixtures in $out"
