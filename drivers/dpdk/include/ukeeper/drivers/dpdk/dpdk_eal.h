// DPDK's Environment Abstraction Layer, initialised from ukeeper options instead of a hand-written argv.
//
// rte_eal_init() runs at most once per process, and a failed attempt cannot be retried. dpdk_eal_init() records
// the outcome: a later call with the same arguments returns the same answer (so several users of DPDK in one process
// may each call it), a later call with different arguments is refused with a clear error.
//
// Side effect worth knowing: EAL pins the calling thread to the CPUs of the main lcore (`lcores`). Call it from the
// thread that will poll the port; "0@(0-1)" keeps that thread free to run on either of two CPUs.
//
// Thread-safety: dpdk_eal_init() may be called from any thread (it serialises itself); failures come back as
// strings, never as a crash or exit.
#pragma once

#include <string>
#include <vector>

namespace uk {

struct DpdkEalOptions {
  // --lcores: which logical cores exist and where they run. ukeeper polls from the calling thread only, so one lcore
  // is enough. "0" pins to CPU 0; "0@(0-1)" lets lcore 0 float over CPUs 0 and 1 (two processes sharing a laptop).
  std::string lcores = "0";
  int memory_mb = 256;        // -m: memory EAL reserves (hugepages, or anonymous memory with no_huge)
  bool no_huge = false;       // --no-huge: no hugepages (tests, laptops; physical NICs need hugepages for DMA)
  bool in_memory = false;     // --in-memory: no runtime files, so processes on one machine never collide
  bool no_pci = false;        // --no-pci: do not scan the PCI bus (virtual ports only)
  bool no_telemetry = true;   // --no-telemetry: no telemetry socket thread
  std::string file_prefix;    // --file-prefix: distinct per process sharing a machine (unless in_memory)
  std::vector<std::string> vdevs;  // each becomes --vdev=<value>, e.g. "net_af_packet0,iface=veth0"
  std::string log_level;      // --log-level=<value> when set, e.g. "warning" or "pmd.net.af_packet:debug"
  std::vector<std::string> extra_args;  // appended verbatim, after everything above
};

// The argv (without argv[0]) dpdk_eal_init() passes to rte_eal_init(), for logs and tests.
std::vector<std::string> dpdk_eal_arguments(const DpdkEalOptions& options);

// Initialises EAL once per process (see the header comment). Returns false and sets `error` on failure.
bool dpdk_eal_init(const DpdkEalOptions& options, std::string& error);

// True once dpdk_eal_init() has succeeded in this process.
bool dpdk_eal_ready();

}  // namespace uk
