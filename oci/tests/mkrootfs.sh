#!/usr/bin/env bash
# Builds a minimal busybox root at $1 (static busybox, applet links, passwd).
set -euo pipefail
dest=${1:?usage: mkrootfs.sh DIR}
bb=$(command -v busybox)
mkdir -p "$dest"/{bin,etc,proc,dev,sys,tmp,root,run}
cp "$bb" "$dest/bin/busybox"
for a in $("$bb" --list); do [[ $a == busybox ]] || ln -sf busybox "$dest/bin/$a"; done
ln -sfn bin "$dest/sbin"
mkdir -p "$dest/usr"
ln -sfn ../bin "$dest/usr/bin"
ln -sfn ../bin "$dest/usr/sbin"
echo 'root:x:0:0:root:/root:/bin/sh' >"$dest/etc/passwd"
echo 'root:x:0:' >"$dest/etc/group"
chmod 1777 "$dest/tmp"
