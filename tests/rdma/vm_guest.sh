# Sourced by each guest /init that run_vm_test.sh boots (it copies this file to /vm_guest.sh in the initramfs):
# mounts the pseudo file systems, loads rxe's kernel modules and brings up rxe0 on a dummy netdev at 192.0.2.1.
# Defines finish MESSAGE (print it, power the VM off) and fail WHY (print the "UK_RDMA_VM_TEST FAIL" marker, power
# off); a guest that defines on_fail gets it called first (to print its logs).
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp

finish() {
  echo "$*"
  # Let the console drain first: the kernel's "sysrq: Power Off" line once landed inside the marker line.
  sleep 1
  echo o >/proc/sysrq-trigger
  sleep 30
}
fail() {
  if command -v on_fail >/dev/null 2>&1; then on_fail; fi
  finish "UK_RDMA_VM_TEST FAIL: $*"
  exit 1
}

for m in $(cat /etc/modules.order); do
  insmod "/lib/modules/$m.ko" || fail "insmod $m"
done
ip link set lo up
ip link add d0 type dummy && ip addr add 192.0.2.1/24 dev d0 && ip link set d0 up || fail "dummy netdev"
rdma link add rxe0 type rxe netdev d0 || fail "rdma link add rxe0"
echo "vm: rxe0 up at $(cut -d' ' -f1 /proc/uptime) s"
