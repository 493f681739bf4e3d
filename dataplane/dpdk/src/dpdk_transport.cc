// DpdkTransport setup: EAL, port, link construction and the calls that are not per frame. The poll loop and the frame
// movement are in dpdk_transport_datapath.cc.
#include "ukeeper/dataplane/dpdk/dpdk_transport.h"

#include <time.h>

#include <algorithm>
#include <cinttypes>

#include "ukeeper/common/log.h"

namespace uk {
namespace {

uint64_t realtime_us() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

std::unique_ptr<DpdkTransport> DpdkTransport::open(DpdkTransportOptions options, std::string& error) {
  if (options.port.burst_size == 0 || options.port.burst_size > kMaxBurst) {
    error = "dpdk transport: port.burst_size must be in [1, " + std::to_string(kMaxBurst) + "]";
    return nullptr;
  }
  if (options.spin_us < 0 || options.idle_sleep_us < 0) {
    error = "dpdk transport: spin_us and idle_sleep_us must not be negative";
    return nullptr;
  }
  if (!dpdk_eal_init(options.eal, error)) return nullptr;
  std::unique_ptr<DpdkPort> port = DpdkPort::open(options.port, error);
  if (port == nullptr) return nullptr;

  dpdk::PeerLinkOptions& lo = options.link;
  if (lo.me.mac == dpdk::MacAddress{}) {
    lo.me.mac = port->mac();
  } else if (lo.me.mac != port->mac()) {
    error = "dpdk transport: configured MAC " + dpdk::format_mac(lo.me.mac) + " differs from port " + port->name() +
            "'s " + dpdk::format_mac(port->mac());
    return nullptr;
  }
  lo.mtu_bytes = port->mtu_bytes();
  lo.checksum_mode = port->offloads().tx_checksum ? dpdk::ChecksumMode::kOffload : dpdk::ChecksumMode::kSoftware;
  lo.first_incarnation = std::max(lo.first_incarnation, realtime_us());
  std::unique_ptr<dpdk::PeerLink> link = dpdk::PeerLink::create(lo, error);
  if (link == nullptr) return nullptr;
  UK_INFO("dpdk: transport for node %lld on %s: %s:%u, %zu peer(s), checksums in %s", static_cast<long long>(lo.my_id),
          port->name().c_str(), dpdk::format_ipv4(lo.me.ip).c_str(), lo.me.udp_port, lo.peers.size(),
          lo.checksum_mode == dpdk::ChecksumMode::kOffload ? "the port" : "software");
  return std::unique_ptr<DpdkTransport>(new DpdkTransport(std::move(options), std::move(port), std::move(link)));
}

DpdkTransport::DpdkTransport(DpdkTransportOptions options, std::unique_ptr<DpdkPort> port,
                             std::unique_ptr<dpdk::PeerLink> link)
    : options_(std::move(options)),
      port_(std::move(port)),
      link_(std::move(link)),
      offload_tx_checksum_(port_->offloads().tx_checksum),
      use_rx_verdicts_(port_->offloads().rx_checksum),
      burst_(port_->burst_size()),
      last_work_us_(monotonic_us()),
      fault_rng_(options_.faults.seed) {
  const DpdkFaultOptions& f = options_.faults;
  if (f.tx_drop_per_million + f.rx_drop_per_million + f.rx_corrupt_per_million + f.rx_duplicate_per_million > 0) {
    UK_WARN("dpdk: fault layer on (per million: tx drop %u, rx drop %u, rx corrupt %u, rx duplicate %u, seed %" PRIu64
            ")", f.tx_drop_per_million, f.rx_drop_per_million, f.rx_corrupt_per_million, f.rx_duplicate_per_million,
            f.seed);
  }
}

DpdkTransport::~DpdkTransport() {
  DpdkPort::free_bulk(tx_pending_.data(), tx_pending_count_);
  tx_pending_count_ = 0;
  DpdkPort::free_bulk(spare_.data(), spare_count_);
  spare_count_ = 0;
}

bool DpdkTransport::send(PeerId peer, std::string_view message) { return link_->send(peer, message); }

bool DpdkTransport::connected(PeerId peer) const { return link_->connected(peer); }

void DpdkTransport::disconnect(PeerId peer) { link_->disconnect(peer); }

PeerCounters DpdkTransport::counters(PeerId peer) const { return link_->counters(peer); }

DpdkTransportStats DpdkTransport::stats() const {
  DpdkTransportStats s = stats_;
  s.link = link_->stats();
  s.port = port_->stats();
  return s;
}

int64_t DpdkTransport::next_timer_ms() const {
  if (tx_pending_count_ > 0) return monotonic_us() / 1000;
  int64_t now_us = monotonic_us();
  int64_t due = link_->next_deadline_us(now_us);
  if (due == INT64_MAX) return -1;
  return (std::max(due, now_us) + 999) / 1000;
}

}  // namespace uk
