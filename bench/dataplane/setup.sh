#!/usr/bin/env bash
# What the dataplane benchmarks need beyond tools/setup.sh (which builds and tests everything, the smoke run of
# these benchmarks included): valgrind, for the instruction counts of run.py. Kept out of tools/setup.sh because
# only this benchmark uses it. Idempotent; needs root (or sudo) for apt-get.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ! dpkg-query -W -f='${Status}' valgrind 2>/dev/null | grep -q "install ok installed"; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends valgrind
fi
