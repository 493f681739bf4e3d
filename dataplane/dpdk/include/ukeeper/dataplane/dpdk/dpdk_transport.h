// DpdkTransport: the peer-messaging contract (transport.h) over UDP/IPv4 frames on a DPDK port — a physical NIC in
// production; net_af_packet, net_memif or net_tap in tests (architecture.md, "Dataplane contract").
//
// A thin layer: framing, batching, fragmentation, reliability and connect/disconnect live in the pure PeerLink
// (peer_link.h); this class moves frames between it and the port. poll() receives bursts, hands every frame to the
// link, runs its timers, then drains the frames it has due into mbufs, in bursts (so messages sent in one turn leave
// together, batched). Frames the port does not take wait for the next poll, ahead of new ones.
//
// Checksums: computed in software unless the port reports IPv4 and UDP checksum offload (then the port computes them
// on transmit, and its verdicts on receive spare the software check).
//
// Polling: poll() never blocks. Between polls the owning loop calls wait_for_work(): it returns at once while the
// transport has seen traffic within spin_us (spinning keeps latency at the port's), and sleeps idle_sleep_us
// otherwise, so an idle node on a 2-core laptop or CI machine costs little CPU.
//
// Fault layer (tests: there is no netem on virtual ports): seeded random loss of sent and received frames,
// corruption of received frames (one payload byte changed: the UDP checksum must catch it) and duplication of
// received frames. Off by default.
//
// Thread-safety: one owner thread (the consensus thread), like every Transport; EAL pins it to its lcore (see
// dpdk_eal.h). open() initialises EAL unless this process already did with the same arguments.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ukeeper/dataplane/dpdk/peer_link.h"
#include "ukeeper/dataplane/transport.h"
#include "ukeeper/drivers/dpdk/dpdk_eal.h"
#include "ukeeper/drivers/dpdk/dpdk_port.h"

namespace uk {

struct DpdkFaultOptions {
  uint32_t tx_drop_per_million = 0;
  uint32_t rx_drop_per_million = 0;
  uint32_t rx_corrupt_per_million = 0;
  uint32_t rx_duplicate_per_million = 0;
  uint64_t seed = 1;
};

struct DpdkTransportOptions {
  DpdkEalOptions eal;
  DpdkPortOptions port;
  // my_id, me.ip, me.udp_port and the peer table are required. me.mac may stay all-zero (the port's MAC is used);
  // if set it must equal the port's. mtu_bytes comes from port.mtu_bytes, checksum_mode from the port's offloads,
  // and first_incarnation is raised to the wall clock in microseconds (incarnations grow across restarts).
  dpdk::PeerLinkOptions link;
  int64_t spin_us = 200;        // keep polling without sleeping this long after the last traffic
  int64_t idle_sleep_us = 200;  // then sleep this long per wait_for_work()
  DpdkFaultOptions faults;
};

// Transport-wide numbers: the link's, the port's, and this layer's own.
struct DpdkTransportStats {
  dpdk::PeerLinkStats link;
  DpdkPortStats port;
  uint64_t rx_bursts = 0;            // rx_burst calls that returned frames
  uint64_t tx_bursts = 0;            // tx_burst calls
  uint64_t tx_port_busy = 0;         // tx_burst calls that took fewer frames than offered (the rest wait)
  uint64_t mbuf_alloc_failures = 0;  // the pool ran dry: frames wait for the next poll
  uint64_t rx_multi_segment = 0;     // chained mbufs (never expected: no scatter) dropped
  uint64_t fault_tx_dropped = 0;
  uint64_t fault_rx_dropped = 0;
  uint64_t fault_rx_corrupted = 0;
  uint64_t fault_rx_duplicated = 0;
  uint64_t sleeps = 0;               // wait_for_work() calls that slept
};

class DpdkTransport final : public Transport {
 public:
  // Initialises EAL (if needed), opens the port and builds the link. On failure returns null and sets `error`
  // (EAL failure, no port, bad peer table, ...): a node without a usable port can fall back to TCP.
  static std::unique_ptr<DpdkTransport> open(DpdkTransportOptions options, std::string& error);
  ~DpdkTransport() override;
  DpdkTransport(const DpdkTransport&) = delete;
  DpdkTransport& operator=(const DpdkTransport&) = delete;

  // Transport. now_ms is not used for timing: the link needs microseconds and reads CLOCK_MONOTONIC itself (the
  // clock std::chrono::steady_clock reads, so next_timer_ms() is on the caller's clock).
  bool send(PeerId peer, std::string_view message) override;
  void poll(int64_t now_ms, std::vector<PeerEvent>& out) override;
  bool connected(PeerId peer) const override;
  void disconnect(PeerId peer) override;
  const char* name() const override { return "dpdk"; }
  PeerCounters counters(PeerId peer) const override;

  // Sends what is due now without waiting for poll() (poll() does this too).
  void flush();
  // Between polls: returns at once while busy, else sleeps idle_sleep_us, or less when a timer is due sooner or
  // max_wait_us is smaller (see the header comment).
  void wait_for_work(int64_t max_wait_us);
  // Monotonic milliseconds by which poll() must run again for the link's timers; -1 when nothing is timed.
  int64_t next_timer_ms() const override;
  // For a loop that polls several transports: 0 while in the spin window (traffic within spin_us) or frames wait
  // for the port; otherwise idle_sleep_us (there is no fd to block on).
  int64_t block_budget_us() override;
  // Messages to `peer` it has not acknowledged yet.
  size_t unacked_messages(PeerId peer) const { return link_->unacked_messages(peer); }
  DpdkTransportStats stats() const;
  DpdkLinkStatus link_status() const { return port_->link_status(); }
  const DpdkPort& port() const { return *port_; }

 private:
  DpdkTransport(DpdkTransportOptions options, std::unique_ptr<DpdkPort> port, std::unique_ptr<dpdk::PeerLink> link);

  // Data path (dpdk_transport_datapath.cc).
  static int64_t monotonic_us();
  bool chance(uint32_t per_million);
  void receive_bursts(int64_t now_us);
  void receive_one(rte_mbuf* m, int64_t now_us);
  bool retry_pending_tx();
  void transmit_due(int64_t now_us);

  static constexpr size_t kMaxBurst = 64;

  DpdkTransportOptions options_;
  std::unique_ptr<DpdkPort> port_;
  std::unique_ptr<dpdk::PeerLink> link_;
  bool offload_tx_checksum_ = false;
  bool use_rx_verdicts_ = false;
  uint16_t burst_ = 32;
  std::array<rte_mbuf*, kMaxBurst> tx_pending_{};  // built frames the port has not taken yet, oldest first
  uint16_t tx_pending_count_ = 0;
  std::array<rte_mbuf*, kMaxBurst> spare_{};  // allocated, not yet holding a frame: the next bursts build here
  uint16_t spare_count_ = 0;
  int64_t last_work_us_ = 0;
  std::mt19937_64 fault_rng_;
  DpdkTransportStats stats_;
};

}  // namespace uk
