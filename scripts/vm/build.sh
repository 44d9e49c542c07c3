#!/usr/bin/env bash
# Builds (once, cached in target/vm) what the test guest boots: Debian's
# kernel extracted from its package (never installed on the host) and a
# busybox initramfs with the modules the tests need.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
vm=${PALISADE_VM_DIR:-$root/target/vm}
mkdir -p "$vm"
# Debian 12's kernel: the version the issue's measurements were made on.
pkg=${PALISADE_VM_KERNEL_PKG:-linux-image-6.1.0-56-amd64}
modules="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
netfs fscache 9pnet 9pnet_virtio 9p overlay veth macvlan ipvlan dummy llc stp bridge loop"

if [[ ! -d "$vm/kernel/boot" ]]; then
  (cd "$vm" && rm -f ./*.deb && apt-get download "$pkg" 2>/dev/null && dpkg-deb -x ./"$pkg"_*.deb kernel)
fi
kernel=$(ls "$vm"/kernel/boot/vmlinuz-* | head -1)
kver=${kernel##*/vmlinuz-}
stamp="$kver $(sha256sum "$root/scripts/vm/init" | cut -c1-16) $(echo $modules | sha256sum | cut -c1-16)"
if [[ -f "$vm/initramfs.cpio.gz" && "$(cat "$vm/initramfs.stamp" 2>/dev/null)" == "$stamp" ]]; then
  exit 0
fi
tree=$vm/initramfs
rm -rf "$tree"
mkdir -p "$tree"/{bin,proc,sys,dev,lib/modules,host}
cp /bin/busybox "$tree/bin/busybox"
cp "$root/scripts/vm/init" "$tree/init"
chmod +x "$tree/init"
for m in $modules; do
  f=$(find "$vm/kernel/lib/modules/$kver" -name "$m.ko" | head -1)
  [[ -n $f ]] || { echo "vm build: module $m not in $pkg" >&2; exit 1; }
  cp "$f" "$tree/lib/modules/$m.ko"
done
echo $modules | tr ' ' '\n' >"$tree/modules.order"
(cd "$tree" && find . | cpio -o -H newc --quiet) | gzip -1 >"$vm/initramfs.cpio.gz"
ln -sf "$kernel" "$vm/vmlinuz"
echo "$stamp" >"$vm/initramfs.stamp"
echo "vm build: kernel $kver, initramfs $(du -h "$vm/initramfs.cpio.gz" | cut -f1)" >&2
