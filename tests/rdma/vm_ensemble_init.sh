#!/bin/busybox sh
# /init of the RDMA ensemble VM (run_vm_test.sh builds the initramfs and boots it). Loads rxe, creates rxe0 on a
# dummy netdev, starts a 3-member ukeeper ensemble with transport=rdma (all three on rxe0, talking RDMA through it),
# and drives it with uk_rdma_ensemble_check: writes through every member commit everywhere over the rdma lane; a
# SIGKILLed follower misses writes, comes back and catches up (over RDMA again); then everyone has everything.
# Prints "UK_RDMA_VM_TEST PASS ..." or "UK_RDMA_VM_TEST FAIL ...", and powers off.
on_fail() {
  for i in 1 2 3; do
    echo "--- member $i (last lines)"
    grep -v "zab: \|serving\|not serving" /tmp/m$i/log | tail -n 40
    echo mntr | nc 127.0.0.1 $((2180 + i)) | grep -E "peer_[0-9]_(lane|in_lane|stale|malformed|held|rdma_(messages|writes|recv|send))|zk_server_state|commit_zxid"
  done
}
. /vm_guest.sh

# Members: client ports 2181..2183; quorum (TCP lane) 2888..2890; RDMA control connections on 3888..3890.
# No spinning (rdma.spinUs=0): three members and a client share two emulated (TCG) CPUs; with rdma.spinUs=20 and
# tickTime=200 the spinning members starved each other and followers took the stalls for a dead leader (with
# spinUs=0 tickTime=200 passed too). tickTime=1000 leaves margin for a loaded CI machine.
for i in 1 2 3; do
  mkdir -p /tmp/m$i/data
  echo $i >/tmp/m$i/data/myid
  cat >/tmp/m$i/zoo.cfg <<EOF
tickTime=1000
initLimit=20
syncLimit=10
dataDir=/tmp/m$i/data
clientPort=$((2180 + i))
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
preAllocSize=4096
server.1=192.0.2.1:2888:3888
server.2=192.0.2.1:2889:3889
server.3=192.0.2.1:2890:3890
transport=rdma
rdma.device=rxe0
rdma.ringBytes=262144
rdma.spinUs=0
EOF
done
start() { (cd /tmp/m$1 && exec ukeeper zoo.cfg >>/tmp/m$1/log 2>&1) & eval "pid$1=$!"; }
for i in 1 2 3; do start $i; done
members=1:2181,2:2182,3:2183

# 1. Everyone up: writes through every member.
if ! timeout 200 uk_rdma_ensemble_check --members $members --prefix p1 --writes 30 --big 12 >/tmp/c1.log 2>&1; then
  cat /tmp/c1.log
  fail "phase 1 (3 members)"
  exit 1
fi
cat /tmp/c1.log

# 2. A follower dies by SIGKILL; the other two go on.
victim=""
for i in 1 2 3; do
  if echo srvr | nc 127.0.0.1 $((2180 + i)) | grep -q "Mode: follower"; then victim=$i; break; fi
done
[ -n "$victim" ] || { fail "no follower found"; exit 1; }
eval "kill -9 \$pid$victim"
rest=""
for i in 1 2 3; do [ $i = $victim ] || rest="$rest${rest:+,}$i:$((2180 + i))"; done
if ! timeout 200 uk_rdma_ensemble_check --members $rest --prefix p2 --writes 40 --big 4 >/tmp/c2.log 2>&1; then
  cat /tmp/c2.log
  fail "phase 2 (member $victim down)"
  exit 1
fi
cat /tmp/c2.log

# 3. It comes back, catches up, and all three carry on over RDMA.
start $victim
if ! timeout 200 uk_rdma_ensemble_check --members $members --prefix p3 --writes 10 --big 2 --verify p2:80 >/tmp/c3.log 2>&1; then
  cat /tmp/c3.log
  fail "phase 3 (member $victim back)"
  exit 1
fi
cat /tmp/c3.log
grep -h "channel\|rdma lane" /tmp/m$victim/log | tail -n 6
finish "UK_RDMA_VM_TEST PASS: 3-member ensemble with transport=rdma on rxe0: writes via every member committed everywhere over the rdma lane; follower $victim SIGKILLed, 80 writes without it, back and caught up (uptime $(cut -d' ' -f1 /proc/uptime) s)"
