#!/bin/busybox sh
# /init of the RDMA test VM (run_vm_test.sh builds the initramfs and boots it). Loads rxe, creates rxe0 on a
# dummy netdev, runs the RDMA unit tests on the real device and the two-process RdmaTransport test, prints
# "UK_RDMA_VM_TEST PASS ..." or "UK_RDMA_VM_TEST FAIL ...", and powers off.
. /vm_guest.sh

# 1. The unit tests, now with a device: the transport tests over rxe run instead of skipping (the error-completion
#    test takes d0 down and up again, hence UK_RDMA_TEST_NETDEV).
if ! UK_RDMA_TEST_NETDEV=d0 timeout 120 uk_rdma_tests --gtest_brief=1 >/tmp/unit.log 2>&1; then
  cat /tmp/unit.log
  fail "uk_rdma_tests"
  exit 1
fi
unit_passed="$(grep -o '\[  PASSED  \] [0-9]* test' /tmp/unit.log | grep -o '[0-9]*' || echo '?')"
echo "vm: uk_rdma_tests passed ($unit_passed tests) at $(cut -d' ' -f1 /proc/uptime) s"

# 2. Two processes: a stays up; b1 runs the main schedule and dies by SIGKILL; b2 (the restarted peer) follows.
# Each program gives up after 120 s on its own (--timeout); `timeout` is the backstop.
timeout 200 uk_rdma_p2p --role a --host 192.0.2.1 --port 18515 >/tmp/a.log 2>&1 &
apid=$!
timeout 150 uk_rdma_p2p --role b1 --host 192.0.2.1 --port 18515 >/tmp/b1.log 2>&1
b1=$?
timeout 150 uk_rdma_p2p --role b2 --host 192.0.2.1 --port 18515 >/tmp/b2.log 2>&1
b2=$?
wait $apid
a=$?
for f in a b1 b2; do sed "s/^/$f: /" /tmp/$f.log | grep -v ' INFO ' ; done
grep -h ' INFO ' /tmp/a.log | head -n 8
# b1 kills itself on purpose (137 = SIGKILL) after its last check.
if [ "$a" -ne 0 ] || [ "$b1" -ne 137 ] || [ "$b2" -ne 0 ] || ! grep -q '^UK_RDMA_P2P OK b1' /tmp/b1.log; then
  fail "p2p exit codes a=$a b1=$b1 (137 expected) b2=$b2"
  exit 1
fi
summary="$(grep '^UK_RDMA_P2P OK a' /tmp/a.log | cut -d' ' -f4-)"
finish "UK_RDMA_VM_TEST PASS: rxe0 RC transport, 2 processes, ordering+large+wrap+credit+restart ok, $unit_passed unit tests; a: $summary (uptime $(cut -d' ' -f1 /proc/uptime) s)"
