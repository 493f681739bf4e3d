#!/usr/bin/env bash
# Runs ukeeper's RDMA tests on real verbs: soft-RoCE (rxe) inside a QEMU VM booted with TCG from Debian's own
# kernel package (the host kernel has no RDMA; see docs/environment.md in the shared docs, "RDMA: real verbs on
# soft-RoCE inside a VM").
#
#   run_vm_test.sh --work DIR --guest-init FILE [--bin PROGRAM]... [--extra-tree DIR]... [--timeout SECONDS] [--keep]
#
# DIR caches the kernel package between runs (a build-tree folder; the first run downloads ~70 MB with
# `apt-get download`, which needs no root). Each run builds a fresh initramfs holding busybox, iproute2's ip and
# rdma, the given programs with every library `ldd` names, the rxe provider and the kernel modules rxe needs, with
# FILE as /init (which sources /vm_guest.sh, the shared boot preamble), and each --extra-tree DIR copied over the initramfs root as it is (valgrind's tool files, say);
# then boots it and reads the serial console. FILE must print a line starting with "UK_RDMA_VM_TEST PASS" on
# success and then power the VM off. The host side fails on a missing marker, on a "UK_RDMA_VM_TEST FAIL" line
# and on a timeout. Installs nothing: tools/setup.sh provides qemu-system-x86, busybox-static, cpio, rdma-core,
# ibverbs-providers and iproute2.
set -euo pipefail

work=""
guest_init=""
timeout_s=420
keep=0
bins=()
extra_trees=()
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work="$2"; shift 2 ;;
    --guest-init) guest_init="$2"; shift 2 ;;
    --bin) bins+=("$2"); shift 2 ;;
    --extra-tree) extra_trees+=("$2"); shift 2 ;;
    --timeout) timeout_s="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "run_vm_test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$work" ] || [ -z "$guest_init" ]; then
  echo "usage: run_vm_test.sh --work DIR --guest-init FILE [--bin PROGRAM]... [--timeout SECONDS]" >&2
  exit 2
fi

fail() { echo "run_vm_test.sh: FAIL: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || fail "$1 not found (tools/setup.sh installs it: $2)"; }
need qemu-system-x86_64 qemu-system-x86
need cpio cpio
need dpkg-deb dpkg
need ldd libc-bin
busybox_bin=/bin/busybox
[ -x "$busybox_bin" ] || fail "$busybox_bin not found (package busybox-static)"
rxe_provider=/usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav34.so
[ -f "$rxe_provider" ] || fail "$rxe_provider not found (package ibverbs-providers)"
[ -f /etc/libibverbs.d/rxe.driver ] || fail "/etc/libibverbs.d/rxe.driver not found (package ibverbs-providers)"
ip_bin="$(command -v ip || true)"
rdma_bin="$(command -v rdma || true)"
[ -n "$ip_bin" ] && [ -n "$rdma_bin" ] || fail "ip and rdma not found (package iproute2)"

mkdir -p "$work"
work="$(cd "$work" && pwd)"
started=$(date +%s)

# --- 1. The kernel: Debian's current linux-image-amd64 dependency, downloaded once and cached -------------------
# Load order matters (the package has no modules.dep): rxe needs crc32 and the UDP tunnel helpers, and refuses to
# add a link without crc32_generic.
modules=(crypto/crc32_generic net/ipv4/udp_tunnel net/ipv6/ip6_udp_tunnel drivers/infiniband/core/ib_core
         drivers/infiniband/core/ib_uverbs drivers/infiniband/sw/rxe/rdma_rxe drivers/net/dummy)
resolve_kernel() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2}' | head -n 1 || true; }
kernel_pkg="$(resolve_kernel)"
if [ -z "$kernel_pkg" ] && [ ! -d "$work/kernel" ] && [ "$(id -u)" -eq 0 ]; then
  # A machine whose package lists were cleaned (container images): refresh them once (root only).
  apt-get update -q >/dev/null 2>&1 || true
  kernel_pkg="$(resolve_kernel)"
fi
if [ -z "$kernel_pkg" ]; then
  # No package lists (offline?): fall back to a kernel cached by an earlier run.
  kernel_pkg="$(ls -1 "$work/kernel" 2>/dev/null | sort -V | tail -n 1 || true)"
  [ -n "$kernel_pkg" ] || fail "cannot resolve linux-image-amd64 (run apt-get update) and no cached kernel in $work/kernel"
  echo "run_vm_test.sh: apt-cache could not resolve linux-image-amd64; using the cached $kernel_pkg"
fi
kdir="$work/kernel/$kernel_pkg"
if [ ! -f "$kdir/.complete" ]; then
  echo "run_vm_test.sh: downloading $kernel_pkg (cached in $kdir for later runs)"
  rm -rf "$work/kernel" "$work/download"  # one cached kernel at a time: the previous one is no longer current
  mkdir -p "$work/download/x" "$kdir/modules"
  (cd "$work/download" && apt-get download -q "$kernel_pkg" >/dev/null 2>"$work/download/apt.log") \
    || { cat "$work/download/apt.log" >&2; fail "apt-get download $kernel_pkg failed"; }
  dpkg-deb -x "$work"/download/"$kernel_pkg"_*.deb "$work/download/x"
  # Keep only what the VM boots (a few MB, not the package's 400).
  cp "$(ls -1 "$work"/download/x/boot/vmlinuz-* | head -n 1)" "$kdir/vmlinuz"
  moddir="$(ls -d "$work"/download/x/lib/modules/*/kernel | head -n 1)"
  for m in "${modules[@]}"; do
    src="$(ls -1 "$moddir/$m".ko* 2>/dev/null | head -n 1)"
    [ -n "$src" ] || fail "kernel module $m not in $kernel_pkg"
    dst="$kdir/modules/$(basename "$m").ko"
    case "$src" in
      *.ko) cp "$src" "$dst" ;;
      *.ko.xz) xz -dc "$src" >"$dst" ;;
      *.ko.zst) zstd -qdc "$src" >"$dst" ;;
      *) fail "unknown module compression: $src" ;;
    esac
  done
  rm -rf "$work/download"
  touch "$kdir/.complete"
fi
vmlinuz="$kdir/vmlinuz"

# --- 2. The initramfs -------------------------------------------------------------------------------------------
root="$work/initramfs"
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,etc/libibverbs.d,lib/modules,usr/lib/x86_64-linux-gnu/libibverbs}

copy_with_libs() {  # copy_with_libs FILE DEST: the file plus every shared library ldd names, at their own paths
  local file="$1" dest="$2"
  cp -L "$file" "$root/$dest"
  local libs
  libs="$(ldd "$file" 2>&1)" || fail "ldd $file: $libs (a --bin must be a dynamically linked program, not a script)"
  printf '%s\n' "$libs" | grep -o '/[^ ]*' | while read -r lib; do
    if [ -f "$lib" ] && [ ! -e "$root$lib" ]; then
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    fi
  done
}

cp "$busybox_bin" "$root/bin/busybox"
copy_with_libs "$ip_bin" sbin/ip
copy_with_libs "$rdma_bin" sbin/rdma
copy_with_libs "$rxe_provider" "${rxe_provider#/}"
cp /etc/libibverbs.d/rxe.driver "$root/etc/libibverbs.d/"
for b in "${bins[@]}"; do
  [ -x "$b" ] || fail "test program $b not found (build it first)"
  copy_with_libs "$b" "bin/$(basename "$b")"
done
for t in "${extra_trees[@]}"; do
  [ -d "$t" ] || fail "extra tree $t is not a directory"
  cp -a "$t"/. "$root"/
done
cp "$kdir"/modules/*.ko "$root/lib/modules/"
printf '%s\n' "${modules[@]##*/}" >"$root/etc/modules.order"
cp "$guest_init" "$root/init"
cp "$(dirname "$0")/vm_guest.sh" "$root/vm_guest.sh"  # the boot preamble every guest /init sources
chmod +x "$root/init"
initrd="$work/initrd.gz"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1 >"$initrd")
echo "run_vm_test.sh: kernel $kernel_pkg, initramfs $(du -h "$initrd" | cut -f1) ($(( $(date +%s) - started )) s)"

# --- 3. Boot and read the console -------------------------------------------------------------------------------
log="$work/console.log"
set +e
# TCG, not KVM: nested KVM stalls at boot on the build machines, and TCG boots in ~10 s.
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 2 -nographic \
  -no-reboot -kernel "$vmlinuz" -initrd "$initrd" \
  -append "console=ttyS0 panic=-1 rdinit=/init quiet loglevel=3" </dev/null >"$log" 2>&1
qemu_rc=$?
set -e
elapsed=$(( $(date +%s) - started ))
tr -d '\r' <"$log" | sed 's/^/  vm| /'
[ "$keep" = 1 ] || rm -rf "$root"
if [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
  fail "the VM did not finish within $timeout_s s (console above)"
fi
if tr -d '\r' <"$log" | grep -q '^UK_RDMA_VM_TEST FAIL'; then
  fail "the guest reported a failure (console above)"
fi
marker="$(tr -d '\r' <"$log" | grep '^UK_RDMA_VM_TEST PASS' | tail -n 1 || true)"
[ -n "$marker" ] || fail "no success marker on the console (qemu exit code $qemu_rc; console above)"
echo "run_vm_test.sh: $marker (${elapsed} s in all)"
