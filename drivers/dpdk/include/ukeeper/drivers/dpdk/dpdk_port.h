// One DPDK Ethernet port with one RX and one TX queue, its mbuf pool, and the burst receive/transmit of the hot path.
//
// Setup (open, link status, stats) lives in dpdk_setup.cc; the per-burst calls in dpdk_datapath.cc. DPDK's headers
// stay private to this library: callers see rte_mbuf only as an opaque pointer and reach frame bytes through the
// static accessors below, so dataplane code builds without DPDK's include flags.
//
// Buffer ownership, in one place: an mbuf returned by rx_burst() or alloc_bulk() belongs to the caller until it
// hands it to tx_burst() (which takes the ones it reports as sent; the rest stay the caller's) or to free_bulk().
// Frames are single-segment: the port is configured without scatter, and the pool's data room fits one frame of
// the configured MTU.
//
// Thread-safety: open() needs an initialised EAL (dpdk_eal_init). Afterwards the port belongs to one thread, the
// one that polls it (suffix-free names here: there is only that one thread); nothing is thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

struct rte_mbuf;
struct rte_mempool;

namespace uk {

struct DpdkPortOptions {
  // Which port: a DPDK device name ("net_af_packet0", "net_memif0", a PCI address "0000:01:00.0"), or empty for the
  // first available port. A name EAL does not know is an error listing the ports it does know.
  std::string device;
  uint16_t rx_ring_size = 512;   // RX descriptors; the driver may round to what the device accepts
  uint16_t tx_ring_size = 512;   // TX descriptors
  uint16_t burst_size = 32;      // frames per rx_burst/tx_burst call the user makes (sizes the pool, below)
  uint16_t mtu_bytes = 1500;     // IP MTU; a frame is at most mtu + 14 bytes (no VLAN tag)
  uint32_t mbuf_count = 0;       // 0 = derived from the rings and bursts (see dpdk_setup.cc); else at least that
  uint32_t mbuf_cache_size = 32; // per-lcore mempool cache
  bool checksum_offload = true;  // enable IPv4/UDP checksum offloads when (and only when) the port reports them
  bool promiscuous = false;      // receive frames for other MAC addresses too
};

struct DpdkLinkStatus {
  bool up = false;
  uint32_t speed_mbps = 0;  // 0 when unknown
  bool full_duplex = false;
};

// What the port offers and ukeeper enabled (both capability and wish).
struct DpdkOffloads {
  bool tx_checksum = false;  // IPv4 header + UDP checksums computed by the port on transmit
  bool rx_checksum = false;  // IPv4 header + UDP checksums verified by the port on receive (flags on each mbuf)
};

// rte_eth_stats, for logs and 4lw.
struct DpdkPortStats {
  uint64_t rx_frames = 0;
  uint64_t tx_frames = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  uint64_t rx_missed = 0;   // dropped by the device: RX ring full
  uint64_t rx_errors = 0;
  uint64_t tx_errors = 0;
  uint64_t rx_no_mbuf = 0;  // RX allocation failures: the pool ran dry
};

// A received frame's verdict from the port's checksum offload, when enabled.
enum class DpdkRxChecksum : uint8_t { kUnknown, kGood, kBad };

struct DpdkRxFrame {
  const uint8_t* data = nullptr;
  uint32_t bytes = 0;
  bool single_segment = true;     // false = a chained mbuf: only the first segment is in data/bytes
  DpdkRxChecksum ip_checksum = DpdkRxChecksum::kUnknown;
  DpdkRxChecksum l4_checksum = DpdkRxChecksum::kUnknown;
};

class DpdkPort {
 public:
  using MacAddress = std::array<uint8_t, 6>;

  // Finds and starts the port. EAL must be initialised. On failure returns null and sets `error` (no port, unknown
  // name, unsupported MTU, pool or queue setup failures, each with DPDK's error text).
  static std::unique_ptr<DpdkPort> open(const DpdkPortOptions& options, std::string& error);
  ~DpdkPort();  // stops and closes the port, then frees the pool (a closed vdev cannot be opened again in-process)
  DpdkPort(const DpdkPort&) = delete;
  DpdkPort& operator=(const DpdkPort&) = delete;

  uint16_t port_id() const { return port_id_; }
  const std::string& name() const { return name_; }
  const MacAddress& mac() const { return mac_; }
  const DpdkOffloads& offloads() const { return offloads_; }
  uint16_t mtu_bytes() const { return mtu_bytes_; }
  uint32_t max_frame_bytes() const { return uint32_t{mtu_bytes_} + 14; }  // what tx_frame_data() may hold
  uint16_t burst_size() const { return burst_size_; }
  uint32_t mbuf_count() const { return mbuf_count_; }
  DpdkLinkStatus link_status() const;  // does not wait for autonegotiation
  DpdkPortStats stats() const;

  // ---- hot path (dpdk_datapath.cc) ----
  // Receives up to `count` frames from the RX queue into `mbufs`; returns how many.
  uint16_t rx_burst(rte_mbuf** mbufs, uint16_t count);
  // Queues up to `count` frames for transmit; returns how many the port took (those belong to it now).
  uint16_t tx_burst(rte_mbuf** mbufs, uint16_t count);
  // Takes `count` empty mbufs from the pool: all of them, or none (false) when the pool cannot supply that many.
  bool alloc_bulk(rte_mbuf** mbufs, unsigned count);
  static void free_bulk(rte_mbuf** mbufs, unsigned count);

  static DpdkRxFrame rx_frame(const rte_mbuf* mbuf);
  // Where to write an outgoing frame in a fresh mbuf; max_frame_bytes() fit.
  static uint8_t* tx_frame_data(rte_mbuf* mbuf);
  // Sets the frame length. With `offload_checksums` (only when offloads().tx_checksum), marks the frame as
  // Ethernet + 20-byte IPv4 + UDP for the port to fill in both checksums; the frame must then carry a zero IPv4
  // checksum and the pseudo-header sum in the UDP checksum field (what DPDK's rte_ipv4_phdr_cksum gives).
  static void tx_frame_commit(rte_mbuf* mbuf, uint32_t bytes, bool offload_checksums);

 private:
  DpdkPort() = default;
  bool start(const DpdkPortOptions& options, std::string& error);

  uint16_t port_id_ = 0;
  bool configured_ = false;  // rte_eth_dev_configure succeeded: close on destruction
  bool started_ = false;
  std::string name_;
  MacAddress mac_{};
  DpdkOffloads offloads_;
  uint16_t mtu_bytes_ = 1500;
  uint16_t burst_size_ = 32;
  uint32_t mbuf_count_ = 0;
  rte_mempool* pool_ = nullptr;
};

}  // namespace uk
