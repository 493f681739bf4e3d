#!/usr/bin/env bash
# One-client round trips, ukeeper beside Apache ZooKeeper 3.8 on this machine, in one run:
# getData and setData through uk_rtt_probe, with the loopback TCP echo floor measured in the same process.
# Usage: bench/quick_compare.sh [ROUNDS] [OPS]   (needs build/bin from the release build and tools/setup.sh)
# Durability differs today: ukeeper keeps the tree in memory; ZooKeeper runs with forceSync=no (its log is
# written but not fsynced) so the two compare request paths, not disks. Both are printed with that caveat.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
ops="${2:-20000}"
work="$(mktemp -d)"
uk_port=22181
zk_port=22182
cleanup() {
  [ -n "${uk_pid:-}" ] && kill "$uk_pid" 2>/dev/null || true
  [ -n "${zk_pid:-}" ] && kill "$zk_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_ruok() {
  for _ in $(seq 1 100); do
    if [ "$(echo ruok | nc -q1 127.0.0.1 "$1" 2>/dev/null)" = "imok" ]; then return 0; fi
    sleep 0.2
  done
  echo "server on port $1 did not answer ruok" >&2
  exit 1
}

mkdir -p "$work/uk" "$work/zk"
printf 'tickTime=2000\ndataDir=%s/uk\nclientPort=%d\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\n' \
  "$work" "$uk_port" > "$work/uk.cfg"
printf 'tickTime=2000\ndataDir=%s/zk\nclientPort=%d\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nadmin.enableServer=false\nforceSync=no\n' \
  "$work" "$zk_port" > "$work/zk.cfg"
build/bin/ukeeper "$work/uk.cfg" 2>"$work/uk.log" &
uk_pid=$!
java -Dzookeeper.log.dir="$work" -cp "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/*" \
  org.apache.zookeeper.server.quorum.QuorumPeerMain "$work/zk.cfg" >"$work/zk.log" 2>&1 &
zk_pid=$!
wait_ruok "$uk_port"
wait_ruok "$zk_port"

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# ukeeper $(git rev-parse --short HEAD 2>/dev/null || echo '?') (in-memory tree) vs Apache ZooKeeper $(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null) (forceSync=no)"
for r in $(seq 1 "$rounds"); do
  echo "## round $r"
  build/bin/uk_rtt_probe --port "$uk_port" --ops "$ops" --label ukeeper
  build/bin/uk_rtt_probe --port "$zk_port" --ops "$ops" --label zookeeper
done
