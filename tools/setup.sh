#!/usr/bin/env bash
# Installs everything ukeeper needs to build, test and benchmark on Debian 12.
# Idempotent: safe to run again. Needs root (or sudo) for apt-get.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  # toolchain and build
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  # libraries ukeeper links
  libgtest-dev libgmock-dev liburing-dev libssl-dev
  # real ZooKeeper clients and the reference server for compatibility tests and benchmarks
  zookeeper zookeeper-bin libzookeeper-mt-dev python3-kazoo python3-pytest default-jre-headless
  # plots from benchmark JSON (bench/plot.py)
  python3-matplotlib
  # test helpers
  netcat-openbsd procps
  # DPDK dataplane (issue 8): EAL, PMDs incl. net_af_packet/net_memif/net_tap; veth pairs and namespaces
  libdpdk-dev dpdk iproute2
  # RDMA dataplane (issue 7): verbs, the rxe soft-RoCE provider, and a QEMU VM (TCG) whose Debian kernel has RDMA
  rdma-core libibverbs-dev librdmacm-dev ibverbs-providers ibverbs-utils qemu-system-x86 busybox-static cpio
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The Debian zookeeper package starts a system service on port 2181 on some setups; ukeeper's default
# port is also 2181, so make sure the packaged service is not holding it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet zookeeper 2>/dev/null; then
  $SUDO systemctl stop zookeeper || true
fi
