#!/bin/busybox sh
# /init of the dataplane benchmark VM: bench/dataplane/run.py boots it through tests/rdma/run_vm_test.sh, with
# uk_transport_bench, valgrind (valgrind.bin via --bin, its tool files via --extra-tree) and /etc/ukb-counts (the
# two exchange counts of the callgrind delta). Brings up rxe0 as tests/rdma/vm_init.sh does, then:
#  1. instruction counts: uk_transport_bench --mode=pair --collect=all under callgrind, for tcp and for rdma (the
#     same binary and libraries, so the two are comparable); prints the RESULT lines, one "UKB_IR label Ir" line
#     per callgrind dump, and the larger count's leader and follower dumps between UKB_DUMP_BEGIN/END lines;
#  2. a short two-process rdma run (round trips and one-way rates) that shows those modes work over real verbs —
#     its timings are emulated (TCG) and run.py does not report them as figures;
# then "UK_RDMA_VM_TEST PASS ..." (the marker run_vm_test.sh wants) or "UK_RDMA_VM_TEST FAIL ...", and power off.
. /vm_guest.sh

# Debian's /usr/bin/valgrind is a shell wrapper that sets these and runs valgrind.bin (the host side runs it).
export GLIBCXX_FORCE_NEW=1 GLIBCPP_FORCE_NEW=1
counts="$(cat /etc/ukb-counts)"
for t in tcp rdma; do
  mkdir -p "/tmp/cg-$t"
  timeout 900 valgrind.bin --tool=callgrind --collect-atstart=no --callgrind-out-file="/tmp/cg-$t/out" \
    uk_transport_bench --mode=pair --transport="$t" --collect=all --counts="$counts" --warmup=200 \
    >"/tmp/$t.log" 2>&1 || { tail -n 30 "/tmp/$t.log"; fail "callgrind run of $t"; }
  grep 'pair (\|^RESULT' "/tmp/$t.log"
  for f in /tmp/cg-$t/out.*; do
    label="$(sed -n 's/^desc: Trigger: Client Request: //p' "$f")"
    total="$(sed -n 's/^summary: //p' "$f")"
    [ -n "$total" ] || total="$(sed -n 's/^totals: //p' "$f")"
    echo "UKB_IR $label $total"
    case "$label" in  # the dumps behind run.py's breakdown: the larger count's leader and follower regions
      */leader/"${counts##*,}"|*/follower/"${counts##*,}")
        echo "UKB_DUMP_BEGIN $label"
        cat "$f"
        echo "UKB_DUMP_END" ;;
    esac
  done
  echo "vm: $t counted at $(cut -d' ' -f1 /proc/uptime) s"
done

plan="--rtt-runs=1 --rtt-count=300 --warmup=30 --rate-runs=1 --rate-count=3000 --window=64"
timeout 300 uk_transport_bench --mode=leader --transport=rdma --port=18600 $plan >/tmp/leader.log 2>&1 &
lpid=$!
timeout 300 uk_transport_bench --mode=follower --transport=rdma --port=18600 $plan >/tmp/follower.log 2>&1
frc=$?
wait $lpid
lrc=$?
grep 'RESULT' /tmp/leader.log | sed 's/^/functional: /'
[ "$lrc" -eq 0 ] && [ "$frc" -eq 0 ] || { cat /tmp/leader.log /tmp/follower.log; fail "two-process rdma run"; }
finish "UK_RDMA_VM_TEST PASS: dataplane bench: callgrind counts for tcp and rdma, two-process rdma run ok" \
  "(uptime $(cut -d' ' -f1 /proc/uptime) s)"
