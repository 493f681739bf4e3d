#!/usr/bin/env bash
# Runs ukeeper's whole test suite from a fresh checkout: installs dependencies, builds the release tree (unit
# tests, integration tests against real ZooKeeper clients), the fuzz tree (clang + libFuzzer) and the tsan tree
# (the stress tests of the znode store and the SPSC queue, and the server), then runs everything through ctest.
# The final ctest summary counts every test; the fuzz runs count as one test, the tsan tree as two more (the
# stress tests, and the server with two I/O threads under the ordering, linearizability and watch tests).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
jobs="$(nproc 2>/dev/null || echo 2)"

bash tools/setup.sh

echo "== fuzz build (clang, libFuzzer, ASan+UBSan)"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs"

echo "== tsan build: the concurrency stress tests and the server under ThreadSanitizer"
cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "$jobs"

echo "== release build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DUKEEPER_FUZZ_BUILD_DIR="$root/build-fuzz" \
  -DUKEEPER_TSAN_BUILD_DIR="$root/build-tsan" >/dev/null
cmake --build build -j "$jobs"

echo "== tests"
ctest --test-dir build --output-on-failure --timeout 900 -j "$jobs" "$@"
