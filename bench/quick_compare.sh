#!/usr/bin/env bash
# ukeeper beside Apache ZooKeeper 3.8 on this machine, in one run, both durable (ukeeper durability=fsync,
# ZooKeeper forceSync=yes), data directories on the same disk:
#   - one client: getData and setData round trips (uk_rtt_probe), with the loopback TCP echo floor and the
#     4 KiB write + fdatasync floor of the data directory measured in the same process;
#   - the same three single-client figures interleaved (--interleave): a durable setData's cost above its floors;
#   - setData throughput and latency with 1, 16 and 64 concurrent clients (one connection each, closed loop).
# Rounds alternate between the servers. Usage: bench/quick_compare.sh [ROUNDS] [OPS] [SECONDS] [DATA_PARENT]
# (needs the release build in build/ and tools/setup.sh; DATA_PARENT defaults to a fresh dir under bench/results)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-2}"
ops="${2:-5000}"
seconds="${3:-5}"
parent="${4:-$(pwd)/bench/results/tmp}"
mkdir -p "$parent"
work="$(mktemp -d "$parent/compare.XXXXXX")"
uk_port=22181
zk_port=22182
cleanup() {
  [ -n "${uk_pid:-}" ] && kill "$uk_pid" 2>/dev/null || true
  [ -n "${zk_pid:-}" ] && kill "$zk_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_ruok() {
  for _ in $(seq 1 150); do
    if [ "$(echo ruok | nc -q1 127.0.0.1 "$1" 2>/dev/null)" = "imok" ]; then return 0; fi
    sleep 0.2
  done
  echo "server on port $1 did not answer ruok" >&2
  exit 1
}

mkdir -p "$work/uk" "$work/zk"
printf 'tickTime=2000\ndataDir=%s/uk\nclientPort=%d\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\ndurability=fsync\nmaxClientCnxns=0\n' \
  "$work" "$uk_port" > "$work/uk.cfg"
printf 'tickTime=2000\ndataDir=%s/zk\nclientPort=%d\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nadmin.enableServer=false\nforceSync=yes\nmaxClientCnxns=0\n' \
  "$work" "$zk_port" > "$work/zk.cfg"
build/bin/ukeeper "$work/uk.cfg" 2>"$work/uk.log" &
uk_pid=$!
java -Dzookeeper.log.dir="$work" -cp "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/*" \
  org.apache.zookeeper.server.quorum.QuorumPeerMain "$work/zk.cfg" >"$work/zk.log" 2>&1 &
zk_pid=$!
wait_ruok "$uk_port"
wait_ruok "$zk_port"

echo "# $(date -u +%FT%TZ) $(nproc) cores, kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# data on $(df -h "$work" | awk 'NR==2 {print $1 " (" $6 ")"}'), $(stat -f -c %T "$work")"
echo "# ukeeper $(git rev-parse --short HEAD 2>/dev/null || echo '?') durability=fsync vs Apache ZooKeeper $(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null) forceSync=yes"
echo "# each round: $ops ops per single-client figure (after warm-up), ${seconds}s per concurrency level"
for r in $(seq 1 "$rounds"); do
  echo "## round $r"
  build/bin/uk_rtt_probe --port "$uk_port" --ops "$ops" --warmup 1000 --label ukeeper --fsync-dir "$work/uk" \
    --clients 1,16,64 --seconds "$seconds" --interleave "$ops"
  build/bin/uk_rtt_probe --port "$zk_port" --ops "$ops" --warmup 1000 --label zookeeper --fsync-dir "$work/zk" \
    --clients 1,16,64 --seconds "$seconds" --interleave "$ops"
done
