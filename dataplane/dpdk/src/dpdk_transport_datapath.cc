// DpdkTransport data path: poll (receive bursts, link timers, transmit), the fault layer and spin-then-sleep waiting.
// Setup is in dpdk_transport.cc.
#include <time.h>

#include <algorithm>
#include <cstring>

#include "ukeeper/dataplane/dpdk/dpdk_transport.h"

namespace uk {
namespace {

// Receive bursts per poll: enough to empty a ring of 512 at bursts of 32 in one poll, bounded so a flood cannot keep
// poll() from transmitting (our acks and data) for long.
constexpr int kMaxRxBurstsPerPoll = 16;
// Transmit bursts per poll, for the same reason the other way round (a window of 128 segments of a big message is
// under 128 frames, so this rarely binds).
constexpr int kMaxTxBurstsPerPoll = 16;

dpdk::RxChecksum to_link(DpdkRxChecksum v) {
  switch (v) {
    case DpdkRxChecksum::kGood: return dpdk::RxChecksum::kGood;
    case DpdkRxChecksum::kBad: return dpdk::RxChecksum::kBad;
    case DpdkRxChecksum::kUnknown: break;
  }
  return dpdk::RxChecksum::kUnknown;
}

}  // namespace

int64_t DpdkTransport::monotonic_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

bool DpdkTransport::chance(uint32_t per_million) {
  return per_million > 0 && fault_rng_() % 1000000u < per_million;
}

void DpdkTransport::poll(int64_t /*now_ms*/, std::vector<PeerEvent>& out) {
  const int64_t now_us = monotonic_us();
  const size_t events_before = out.size();
  receive_bursts(now_us);
  link_->tick(now_us);
  transmit_due(now_us);
  link_->take_events(out);
  if (out.size() != events_before) last_work_us_ = now_us;
}

void DpdkTransport::flush() { transmit_due(monotonic_us()); }

void DpdkTransport::receive_bursts(int64_t now_us) {
  rte_mbuf* mbufs[kMaxBurst];
  for (int b = 0; b < kMaxRxBurstsPerPoll; ++b) {
    const uint16_t n = port_->rx_burst(mbufs, burst_);
    if (n == 0) return;
    ++stats_.rx_bursts;
    last_work_us_ = now_us;
    for (uint16_t i = 0; i < n; ++i) receive_one(mbufs[i], now_us);
    DpdkPort::free_bulk(mbufs, n);
    if (n < burst_) return;
  }
}

void DpdkTransport::receive_one(rte_mbuf* m, int64_t now_us) {
  const DpdkRxFrame f = DpdkPort::rx_frame(m);
  if (!f.single_segment) {
    ++stats_.rx_multi_segment;
    return;
  }
  const DpdkFaultOptions& faults = options_.faults;
  if (chance(faults.rx_drop_per_million)) {
    ++stats_.fault_rx_dropped;
    return;
  }
  dpdk::RxChecksum ip = use_rx_verdicts_ ? to_link(f.ip_checksum) : dpdk::RxChecksum::kUnknown;
  dpdk::RxChecksum udp = use_rx_verdicts_ ? to_link(f.l4_checksum) : dpdk::RxChecksum::kUnknown;
  if (f.bytes > dpdk::kUdpFrameHeaderBytes && chance(faults.rx_corrupt_per_million)) {
    // One byte of the UDP payload changed by a nonzero mask: a one's-complement sum always notices a single
    // changed byte, so this frame must end up in frames_bad_checksum. The port's verdict no longer applies.
    uint8_t* bytes = const_cast<uint8_t*>(f.data);  // the mbuf is ours until freed
    const size_t at = dpdk::kUdpFrameHeaderBytes + fault_rng_() % (f.bytes - dpdk::kUdpFrameHeaderBytes);
    bytes[at] ^= static_cast<uint8_t>(1 + fault_rng_() % 255);
    ip = udp = dpdk::RxChecksum::kUnknown;
    ++stats_.fault_rx_corrupted;
  }
  link_->receive(f.data, f.bytes, now_us, ip, udp);
  if (chance(faults.rx_duplicate_per_million)) {
    ++stats_.fault_rx_duplicated;
    link_->receive(f.data, f.bytes, now_us, ip, udp);
  }
}

// Offers the frames the port refused last time again, oldest first. True when none are left waiting.
bool DpdkTransport::retry_pending_tx() {
  if (tx_pending_count_ == 0) return true;
  const uint16_t sent = port_->tx_burst(tx_pending_.data(), tx_pending_count_);
  ++stats_.tx_bursts;
  if (sent < tx_pending_count_) ++stats_.tx_port_busy;
  std::copy(tx_pending_.begin() + sent, tx_pending_.begin() + tx_pending_count_, tx_pending_.begin());
  tx_pending_count_ = static_cast<uint16_t>(tx_pending_count_ - sent);
  return tx_pending_count_ == 0;
}

// Drains the link's due frames into mbufs, a burst at a time. Frames are built in the spare mbufs, which are
// topped up in bulk only when a burst took some: an idle poll allocates and frees nothing.
void DpdkTransport::transmit_due(int64_t now_us) {
  if (!retry_pending_tx()) return;  // the port is full: new frames would only queue behind these
  rte_mbuf** mbufs = spare_.data();
  for (int b = 0; b < kMaxTxBurstsPerPoll; ++b) {
    if (spare_count_ < burst_) {
      if (!port_->alloc_bulk(mbufs + spare_count_, static_cast<uint16_t>(burst_ - spare_count_))) {
        ++stats_.mbuf_alloc_failures;
        return;
      }
      spare_count_ = burst_;
    }
    uint16_t built = 0;
    bool drained = false;
    while (built < burst_) {
      const size_t n = link_->next_frame(now_us, DpdkPort::tx_frame_data(mbufs[built]));
      if (n == 0) {
        drained = true;
        break;
      }
      if (chance(options_.faults.tx_drop_per_million)) {
        ++stats_.fault_tx_dropped;  // the mbuf is reused for the next frame: this one is "lost on the wire"
        continue;
      }
      DpdkPort::tx_frame_commit(mbufs[built], static_cast<uint32_t>(n), offload_tx_checksum_);
      ++built;
    }
    if (built == 0) return;
    last_work_us_ = now_us;
    const uint16_t sent = port_->tx_burst(mbufs, built);
    ++stats_.tx_bursts;
    if (sent < built) {
      ++stats_.tx_port_busy;
      tx_pending_count_ = static_cast<uint16_t>(built - sent);
      std::copy(mbufs + sent, mbufs + built, tx_pending_.begin());
    }
    // The mbufs the burst did not use move to the front and stay for the next one.
    std::copy(mbufs + built, mbufs + spare_count_, mbufs);
    spare_count_ = static_cast<uint16_t>(spare_count_ - built);
    if (sent < built || drained) return;
  }
}

int64_t DpdkTransport::block_budget_us() {
  if (tx_pending_count_ > 0 || monotonic_us() - last_work_us_ < options_.spin_us) return 0;
  return options_.idle_sleep_us;
}

void DpdkTransport::wait_for_work(int64_t max_wait_us) {
  const int64_t now_us = monotonic_us();
  if (now_us - last_work_us_ < options_.spin_us || tx_pending_count_ > 0) return;
  int64_t sleep_us = std::min(options_.idle_sleep_us, max_wait_us);
  sleep_us = std::min(sleep_us, link_->next_deadline_us(now_us) - now_us);
  if (sleep_us <= 0) return;
  ++stats_.sleeps;
  timespec ts{static_cast<time_t>(sleep_us / 1000000), static_cast<long>(sleep_us % 1000000) * 1000};
  nanosleep(&ts, nullptr);
}

}  // namespace uk
