// DPDK setup: EAL initialisation, port discovery, queue and mbuf pool setup, link status and statistics. The per-burst
// calls are in dpdk_datapath.cc.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "ukeeper/common/log.h"
#include "ukeeper/drivers/dpdk/dpdk_eal.h"
#include "ukeeper/drivers/dpdk/dpdk_port.h"

namespace uk {
namespace {

// The outcome of the one rte_eal_init() a process may run.
struct EalState {
  std::mutex mu;
  bool attempted = false;
  bool ok = false;
  std::vector<std::string> args;
  std::string error;
};

EalState& eal_state() {
  static EalState state;  // never destroyed before exit: EAL itself outlives every static destructor we could run
  return state;
}

std::string join(const std::vector<std::string>& args) {
  std::string out;
  for (const std::string& a : args) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

std::string dpdk_error(const char* what, int err) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s: %s (%d)", what, rte_strerror(err < 0 ? -err : err), err);
  return buf;
}

std::string known_ports() {
  std::string out;
  uint16_t id;
  RTE_ETH_FOREACH_DEV(id) {
    char name[RTE_ETH_NAME_MAX_LEN];
    if (rte_eth_dev_get_name_by_port(id, name) != 0) continue;
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out.empty() ? std::string("none") : out;
}

// The pool, sized so the port can never starve for buffers in steady state:
//   rx_ring_size               every RX descriptor holds an empty mbuf waiting for a frame
// + tx_ring_size               every TX descriptor may hold a sent mbuf until the device reclaims it
// + 2 * burst_size             one burst received and not yet freed, one burst built and not yet taken by tx_burst
//                              (the transport's retry list of untaken frames is at most one burst)
// + cache_size * lcore_count   the per-lcore caches can hide that many from the other lcores
// + burst_size                 slack, so a refill racing a free never fails
// rounded up to 2^k - 1 (the mempool ring holds 2^k - 1 at most, so that size wastes nothing). With the defaults
// (512 + 512 + 64 + 32 + 32 = 1152) that is 2047 mbufs of 128 + 128 + 2048 bytes: about 4.6 MiB.
uint32_t derived_mbuf_count(const DpdkPortOptions& o, uint16_t rx_ring, uint16_t tx_ring) {
  uint64_t need = uint64_t{rx_ring} + tx_ring + 3ull * o.burst_size + uint64_t{o.mbuf_cache_size} * rte_lcore_count();
  need = std::max<uint64_t>(need, o.mbuf_count);
  uint64_t pow2 = 1;
  while (pow2 - 1 < need) pow2 <<= 1;
  return static_cast<uint32_t>(pow2 - 1);
}

// Data room per mbuf: headroom plus one whole frame (MTU + Ethernet header + a VLAN tag + the CRC a device may
// leave in), at least DPDK's default 2048 bytes so devices with fixed 2 KiB RX buffers work.
uint16_t data_room_bytes(uint16_t mtu_bytes) {
  uint32_t frame = uint32_t{mtu_bytes} + RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN + RTE_ETHER_CRC_LEN;
  uint32_t room = RTE_PKTMBUF_HEADROOM + std::max<uint32_t>(frame, RTE_MBUF_DEFAULT_DATAROOM);
  return static_cast<uint16_t>(std::min<uint32_t>(room, UINT16_MAX));
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// EAL

std::vector<std::string> dpdk_eal_arguments(const DpdkEalOptions& o) {
  std::vector<std::string> args;
  if (!o.lcores.empty()) args.push_back("--lcores=" + o.lcores);
  if (o.memory_mb > 0) {
    args.push_back("-m");
    args.push_back(std::to_string(o.memory_mb));
  }
  if (o.no_huge) args.push_back("--no-huge");
  // EAL refuses --in-memory with --no-huge (which implies legacy memory); --no-shconf gives what in_memory is for
  // there, no shared runtime files to collide on.
  if (o.in_memory) args.push_back(o.no_huge ? "--no-shconf" : "--in-memory");
  if (o.no_pci) args.push_back("--no-pci");
  if (o.no_telemetry) args.push_back("--no-telemetry");
  if (!o.file_prefix.empty()) args.push_back("--file-prefix=" + o.file_prefix);
  for (const std::string& v : o.vdevs) args.push_back("--vdev=" + v);
  if (!o.log_level.empty()) args.push_back("--log-level=" + o.log_level);
  args.insert(args.end(), o.extra_args.begin(), o.extra_args.end());
  return args;
}

bool dpdk_eal_init(const DpdkEalOptions& options, std::string& error) {
  EalState& s = eal_state();
  std::lock_guard<std::mutex> lock(s.mu);
  std::vector<std::string> args = dpdk_eal_arguments(options);
  if (s.attempted) {
    if (args != s.args) {
      error = "DPDK EAL was already initialised in this process with different arguments (" + join(s.args) +
              "); EAL runs once per process";
      return false;
    }
    if (!s.ok) error = s.error;
    return s.ok;
  }
  s.attempted = true;
  s.args = args;
  // rte_eal_init may keep pointers into argv and permutes it: give it copies that live as long as the process.
  static std::vector<std::string> storage;
  static std::vector<char*> argv;
  storage.clear();
  storage.push_back("ukeeper");
  storage.insert(storage.end(), args.begin(), args.end());
  argv.clear();
  for (std::string& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  UK_INFO("dpdk: initialising EAL: %s", join(args).c_str());
  int rc = rte_eal_init(static_cast<int>(storage.size()), argv.data());
  if (rc < 0) {
    s.error = dpdk_error(("DPDK EAL initialisation failed (arguments: " + join(args) + ")").c_str(), rte_errno);
    error = s.error;
    return false;
  }
  s.ok = true;
  UK_INFO("dpdk: EAL ready, %u lcore(s), %u port(s)", rte_lcore_count(), rte_eth_dev_count_avail());
  return true;
}

bool dpdk_eal_ready() {
  EalState& s = eal_state();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.ok;
}

// ---------------------------------------------------------------------------------------------------------------
// Port setup

std::unique_ptr<DpdkPort> DpdkPort::open(const DpdkPortOptions& options, std::string& error) {
  if (!dpdk_eal_ready()) {
    error = "DPDK port: EAL is not initialised (call dpdk_eal_init first)";
    return nullptr;
  }
  if (options.burst_size == 0 || options.rx_ring_size == 0 || options.tx_ring_size == 0) {
    error = "DPDK port: burst_size, rx_ring_size and tx_ring_size must be positive";
    return nullptr;
  }
  std::unique_ptr<DpdkPort> port(new DpdkPort());
  if (!port->start(options, error)) return nullptr;  // the destructor undoes what start() did
  return port;
}

bool DpdkPort::start(const DpdkPortOptions& o, std::string& error) {
  if (o.device.empty()) {
    if (rte_eth_dev_count_avail() == 0) {
      error = "no DPDK port: EAL found none (no virtual device given or it failed to probe, e.g. a missing "
              "interface: see EAL's messages; and no NIC bound to a DPDK driver)";
      return false;
    }
    port_id_ = rte_eth_find_next_owned_by(0, RTE_ETH_DEV_NO_OWNER);
  } else if (rte_eth_dev_get_port_by_name(o.device.c_str(), &port_id_) != 0) {
    error = "no DPDK port named '" + o.device + "' (ports EAL knows: " + known_ports() + ")";
    return false;
  }
  char name[RTE_ETH_NAME_MAX_LEN] = {};
  rte_eth_dev_get_name_by_port(port_id_, name);
  name_ = name;

  rte_eth_dev_info info;
  int rc = rte_eth_dev_info_get(port_id_, &info);
  if (rc != 0) {
    error = dpdk_error(("DPDK port " + name_ + ": device info").c_str(), rc);
    return false;
  }
  if (o.mtu_bytes < info.min_mtu || o.mtu_bytes > info.max_mtu) {
    error = "DPDK port " + name_ + ": MTU " + std::to_string(o.mtu_bytes) + " outside the device's range [" +
            std::to_string(info.min_mtu) + ", " + std::to_string(info.max_mtu) + "]";
    return false;
  }
  mtu_bytes_ = o.mtu_bytes;
  burst_size_ = o.burst_size;

  rte_eth_conf conf{};
  conf.rxmode.mtu = o.mtu_bytes;
  const uint64_t tx_ck = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
  const uint64_t rx_ck = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
  offloads_.tx_checksum = o.checksum_offload && (info.tx_offload_capa & tx_ck) == tx_ck;
  offloads_.rx_checksum = o.checksum_offload && (info.rx_offload_capa & rx_ck) == rx_ck;
  if (offloads_.tx_checksum) conf.txmode.offloads |= tx_ck;
  if (offloads_.rx_checksum) conf.rxmode.offloads |= rx_ck;
  rc = rte_eth_dev_configure(port_id_, 1, 1, &conf);
  if (rc != 0) {
    error = dpdk_error(("DPDK port " + name_ + ": configure").c_str(), rc);
    return false;
  }
  configured_ = true;

  uint16_t rx_ring = o.rx_ring_size;
  uint16_t tx_ring = o.tx_ring_size;
  rc = rte_eth_dev_adjust_nb_rx_tx_desc(port_id_, &rx_ring, &tx_ring);
  if (rc != 0) {
    error = dpdk_error(("DPDK port " + name_ + ": ring sizes").c_str(), rc);
    return false;
  }

  int socket = rte_eth_dev_socket_id(port_id_);
  if (socket < 0) socket = static_cast<int>(rte_socket_id());
  mbuf_count_ = derived_mbuf_count(o, rx_ring, tx_ring);
  std::string pool_name = "uk_pool_" + std::to_string(port_id_);
  pool_ = rte_pktmbuf_pool_create(pool_name.c_str(), mbuf_count_, o.mbuf_cache_size, 0,
                                  data_room_bytes(o.mtu_bytes), socket);
  if (pool_ == nullptr) {
    error = dpdk_error(("DPDK port " + name_ + ": mbuf pool of " + std::to_string(mbuf_count_) + " mbufs").c_str(),
                       rte_errno);
    return false;
  }

  rc = rte_eth_rx_queue_setup(port_id_, 0, rx_ring, static_cast<unsigned>(socket), nullptr, pool_);
  if (rc != 0) {
    error = dpdk_error(("DPDK port " + name_ + ": RX queue").c_str(), rc);
    return false;
  }
  rc = rte_eth_tx_queue_setup(port_id_, 0, tx_ring, static_cast<unsigned>(socket), nullptr);
  if (rc != 0) {
    error = dpdk_error(("DPDK port " + name_ + ": TX queue").c_str(), rc);
    return false;
  }
  rc = rte_eth_dev_start(port_id_);
  if (rc != 0) {
    error = dpdk_error(("DPDK port " + name_ + ": start").c_str(), rc);
    return false;
  }
  started_ = true;
  if (o.promiscuous) {
    rc = rte_eth_promiscuous_enable(port_id_);
    if (rc != 0) UK_WARN("dpdk: port %s: promiscuous mode not enabled: %s", name_.c_str(), rte_strerror(-rc));
  }
  rte_ether_addr addr;
  rc = rte_eth_macaddr_get(port_id_, &addr);
  if (rc != 0) {
    error = dpdk_error(("DPDK port " + name_ + ": MAC address").c_str(), rc);
    return false;
  }
  std::memcpy(mac_.data(), addr.addr_bytes, mac_.size());
  const DpdkLinkStatus link = link_status();
  UK_INFO("dpdk: port %s (id %u, driver %s) started: mac %02x:%02x:%02x:%02x:%02x:%02x, mtu %u, rings rx %u tx %u, "
          "%u mbufs, checksum offload tx %s rx %s, link %s (%u Mb/s)",
          name_.c_str(), port_id_, info.driver_name, mac_[0], mac_[1], mac_[2], mac_[3], mac_[4], mac_[5],
          mtu_bytes_, rx_ring, tx_ring, mbuf_count_, offloads_.tx_checksum ? "on" : "off",
          offloads_.rx_checksum ? "on" : "off", link.up ? "up" : "down", link.speed_mbps);
  return true;
}

DpdkPort::~DpdkPort() {
  if (started_) {
    int rc = rte_eth_dev_stop(port_id_);
    if (rc != 0) UK_WARN("dpdk: port %s: stop: %s", name_.c_str(), rte_strerror(-rc));
  }
  if (configured_) {
    int rc = rte_eth_dev_close(port_id_);
    if (rc != 0) UK_WARN("dpdk: port %s: close: %s", name_.c_str(), rte_strerror(-rc));
  }
  if (pool_ != nullptr) rte_mempool_free(pool_);  // after close: the queues held mbufs from it
}

DpdkLinkStatus DpdkPort::link_status() const {
  rte_eth_link link{};
  DpdkLinkStatus s;
  if (rte_eth_link_get_nowait(port_id_, &link) != 0) return s;
  s.up = link.link_status == RTE_ETH_LINK_UP;
  s.speed_mbps = link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? 0 : link.link_speed;
  s.full_duplex = link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX;
  return s;
}

DpdkPortStats DpdkPort::stats() const {
  rte_eth_stats st{};
  DpdkPortStats s;
  if (rte_eth_stats_get(port_id_, &st) != 0) return s;
  s.rx_frames = st.ipackets;
  s.tx_frames = st.opackets;
  s.rx_bytes = st.ibytes;
  s.tx_bytes = st.obytes;
  s.rx_missed = st.imissed;
  s.rx_errors = st.ierrors;
  s.tx_errors = st.oerrors;
  s.rx_no_mbuf = st.rx_nombuf;
  return s;
}

}  // namespace uk
