// uk_dpdk_peer: one end of the real DPDK test (dpdk_af_packet_test.cc runs two of these, one in each of two network
// namespaces joined by a veth pair, each on net_af_packet over its end). Both ends run the same script:
//  1. wait for the channel; send `messages` messages (mostly small, every 50th between 64 KiB and 1 MiB) while
//     receiving the peer's, each checked byte for byte against the generator below, in order; then a marker;
//  2. once both ends have the other's marker (the higher id says so with a message), the lower id calls
//     disconnect(): both must see
//     kDisconnected then kConnected, and a message sent on the new channel must arrive;
//  3. wait until everything sent is acknowledged, keep answering for a while (the peer may still need our acks),
//     check the counters the injected faults must have moved, print them and exit 0.
// Any failure prints "FAIL: ..." and exits 1; options or setup problems exit 2. The gtest bounds the run's time.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ukeeper/dataplane/dpdk/dpdk_transport.h"

namespace {

using uk::PeerEvent;
using Kind = uk::PeerEvent::Kind;

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Message k of node `from`: its size and every byte follow from (from, k), so the receiver checks without a copy.
std::string message(int64_t from, uint64_t k) {
  uint64_t h = splitmix((static_cast<uint64_t>(from) << 40) ^ k);
  size_t size = k % 50 == 49 ? (64u << 10) + h % (960u << 10) : h % 301;
  std::string m(size, '\0');
  for (size_t i = 0; i < size; i += 8) {
    uint64_t v = splitmix(h + i);
    std::memcpy(&m[i], &v, std::min<size_t>(8, size - i));
  }
  return m;
}

const std::string kMarker = "phase-1-done";

struct Args {
  std::map<std::string, std::string> kv;
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  long long num(const std::string& k, long long def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::atoll(it->second.c_str());
  }
};

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "uk_dpdk_peer: %s\n", what.c_str());
  std::exit(2);
}

[[noreturn]] void fail(const std::string& what) {
  std::printf("FAIL: %s\n", what.c_str());
  std::fflush(stdout);
  std::exit(1);
}

class Peer {
 public:
  Peer(uk::DpdkTransport& t, int64_t me, int64_t peer) : t_(t), me_(me), peer_(peer) {}

  // Polls once and checks every event against what the script expects.
  void poll_once() {
    events_.clear();
    t_.poll(now_ms(), events_);
    for (PeerEvent& e : events_) {
      if (e.peer != peer_) fail("event from unexpected peer " + std::to_string(e.peer));
      on_event(e);
    }
    t_.wait_for_work(1000);
  }

  void on_event(PeerEvent& e) {
    switch (e.kind) {
      case Kind::kConnected: ++connects_; return;
      case Kind::kDisconnected: ++disconnects_; return;
      case Kind::kMessage: break;
    }
    if (!marker_in_) {
      if (received_ == messages_) {
        if (e.message != kMarker) fail("expected the marker after " + std::to_string(received_) + " messages");
        marker_in_ = true;
        return;
      }
      if (e.message != message(peer_, received_)) {
        fail("message " + std::to_string(received_) + " from peer differs (" + std::to_string(e.message.size()) +
             " bytes; expected " + std::to_string(message(peer_, received_).size()) + "): order or integrity broken");
      }
      ++received_;
      bytes_received_ += e.message.size();
      return;
    }
    if (e.message == "ready-" + std::to_string(peer_)) {
      ready_in_ = true;
      return;
    }
    if (e.message != "after-reconnect-" + std::to_string(peer_)) fail("unexpected message after the marker");
    if (disconnects_ != 1 || connects_ != 2) fail("message of the second channel before its reconnect events");
    after_reconnect_in_ = true;
  }

  template <class Done>
  void run_until(Done done, int64_t deadline_ms, const char* what) {
    while (!done()) {
      if (now_ms() > deadline_ms) fail(std::string("timed out waiting for ") + what);
      poll_once();
    }
  }

  void run(uint64_t messages, int64_t deadline_ms) {
    messages_ = messages;
    run_until([&] { return t_.connected(peer_); }, deadline_ms, "the first channel");
    uint64_t sent = 0;
    // Phase 1: a few messages per poll, so sending, receiving and acks interleave.
    while (sent < messages_ || !marker_in_ || t_.unacked_messages(peer_) > 0) {
      if (now_ms() > deadline_ms) fail("timed out in phase 1 (" + std::to_string(received_) + " received)");
      for (int i = 0; i < 20 && sent < messages_; ++i) {
        std::string m = message(me_, sent);
        if (!t_.send(peer_, m)) fail("send refused on an up channel (message " + std::to_string(sent) + ")");
        ++sent;
        bytes_sent_ += m.size();
        if (sent == messages_ && !t_.send(peer_, kMarker)) fail("marker refused");
      }
      poll_once();
      if (disconnects_ > 0) fail("channel lost during phase 1");
    }
    // Phase 2: a deliberate reset, by the lower id once the higher one says it is done with phase 1 too.
    if (me_ < peer_) {
      run_until([&] { return ready_in_; }, deadline_ms, "the peer's end of phase 1");
      t_.disconnect(peer_);
    } else if (!t_.send(peer_, "ready-" + std::to_string(me_))) {
      fail("send refused before the reset");
    }
    run_until([&] { return disconnects_ == 1 && connects_ == 2; }, deadline_ms, "disconnect and reconnect");
    if (!t_.send(peer_, "after-reconnect-" + std::to_string(me_))) fail("send refused on the new channel");
    run_until([&] { return after_reconnect_in_ && t_.unacked_messages(peer_) == 0; }, deadline_ms,
              "the message of the second channel");
    // Keep answering: the peer may still be retransmitting something whose ack we sent and it lost.
    int64_t linger_until = now_ms() + 1500;
    run_until([&] { return now_ms() > linger_until; }, deadline_ms, "the linger");
    if (disconnects_ != 1 || connects_ != 2) fail("the channel flapped after the reconnect");
  }

  uint64_t received() const { return received_; }
  uint64_t bytes_sent() const { return bytes_sent_; }
  uint64_t bytes_received() const { return bytes_received_; }

 private:
  uk::DpdkTransport& t_;
  int64_t me_;
  int64_t peer_;
  std::vector<PeerEvent> events_;
  uint64_t messages_ = 0;
  uint64_t received_ = 0;
  uint64_t bytes_sent_ = 0;
  uint64_t bytes_received_ = 0;
  bool marker_in_ = false;
  bool ready_in_ = false;
  bool after_reconnect_in_ = false;
  int connects_ = 0;
  int disconnects_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) != 0) usage_error("unexpected argument " + s);
    size_t eq = s.find('=');
    if (eq == std::string::npos) usage_error("expected --key=value, got " + s);
    a.kv[s.substr(2, eq - 2)] = s.substr(eq + 1);
  }
  uk::DpdkTransportOptions o;
  o.eal.lcores = a.get("lcores", "0");
  o.eal.memory_mb = static_cast<int>(a.num("memory-mb", 256));
  o.eal.no_huge = true;
  o.eal.in_memory = true;
  o.eal.no_pci = true;
  o.eal.log_level = a.get("log-level", "warning");
  if (!a.get("vdev").empty()) o.eal.vdevs.push_back(a.get("vdev"));
  o.port.device = a.get("device");
  o.link.my_id = a.num("id", 0);
  const int64_t peer_id = a.num("peer-id", 0);
  if (!uk::dpdk::parse_ipv4(a.get("ip"), o.link.me.ip)) usage_error("bad --ip");
  o.link.me.udp_port = static_cast<uint16_t>(a.num("udp-port", 7400));
  uk::dpdk::LinkPeer p;
  p.id = peer_id;
  if (!uk::dpdk::parse_ipv4(a.get("peer-ip"), p.endpoint.ip)) usage_error("bad --peer-ip");
  if (!uk::dpdk::parse_mac(a.get("peer-mac"), p.endpoint.mac)) usage_error("bad --peer-mac");
  p.endpoint.udp_port = static_cast<uint16_t>(a.num("peer-udp-port", 7400));
  o.link.peers.push_back(p);
  o.link.retransmit_timeout_us = a.num("rto-us", 4000);
  o.faults.tx_drop_per_million = static_cast<uint32_t>(a.num("tx-drop-ppm", 0));
  o.faults.rx_drop_per_million = static_cast<uint32_t>(a.num("rx-drop-ppm", 0));
  o.faults.rx_corrupt_per_million = static_cast<uint32_t>(a.num("rx-corrupt-ppm", 0));
  o.faults.rx_duplicate_per_million = static_cast<uint32_t>(a.num("rx-dup-ppm", 0));
  o.faults.seed = static_cast<uint64_t>(a.num("seed", 1));

  std::string error;
  if (a.get("check") == "eal-twice") {  // EAL runs once per process: same arguments again is fine, others are refused
    if (!uk::dpdk_eal_init(o.eal, error)) usage_error("EAL: " + error);
    if (!uk::dpdk_eal_init(o.eal, error)) fail("a second init with the same arguments failed: " + error);
    uk::DpdkEalOptions other = o.eal;
    other.memory_mb += 1;
    if (uk::dpdk_eal_init(other, error)) fail("a second init with other arguments succeeded");
    std::printf("REFUSED: %s\n", error.c_str());
    return 0;
  }
  std::unique_ptr<uk::DpdkTransport> t = uk::DpdkTransport::open(o, error);
  if (t == nullptr) {
    std::fprintf(stderr, "uk_dpdk_peer: cannot open the DPDK transport: %s\n", error.c_str());
    return 2;
  }
  if (a.get("open-only") == "1") {
    std::printf("OPENED %s\n", t->port().name().c_str());
    return 0;
  }
  Peer peer(*t, o.link.my_id, peer_id);
  peer.run(static_cast<uint64_t>(a.num("messages", 1000)), now_ms() + a.num("deadline-ms", 90000));

  uk::DpdkTransportStats s = t->stats();
  uk::PeerCounters c = t->counters(peer_id);
  std::printf("RESULT node %lld: received %" PRIu64 " messages (%" PRIu64 " bytes) in order and intact, sent %" PRIu64
              " bytes; frames sent %" PRIu64 " received %" PRIu64 "; segments retransmitted %" PRIu64
              ", duplicate %" PRIu64 ", out of order %" PRIu64 "; bad checksum %" PRIu64 ", not ours %" PRIu64
              ", stale %" PRIu64 "; faults: tx dropped %" PRIu64 ", rx dropped %" PRIu64 ", corrupted %" PRIu64
              ", duplicated %" PRIu64 "; connects %" PRIu64 ", disconnects %" PRIu64 "; port tx %" PRIu64
              " rx %" PRIu64 "; sleeps %" PRIu64 "\n",
              static_cast<long long>(o.link.my_id), peer.received(), peer.bytes_received(), peer.bytes_sent(),
              s.link.frames_sent, s.link.frames_received, s.link.segments_retransmitted, s.link.segments_duplicate,
              s.link.segments_out_of_order, s.link.frames_bad_checksum, s.link.frames_not_ours, s.link.frames_stale,
              s.fault_tx_dropped, s.fault_rx_dropped, s.fault_rx_corrupted, s.fault_rx_duplicated, c.connects,
              c.disconnects, s.port.tx_frames, s.port.rx_frames, s.sleeps);
  // The injected faults must have been met by the mechanisms meant for them (behaviour, not timing).
  if (s.fault_tx_dropped + s.fault_rx_dropped > 0 && s.link.segments_retransmitted == 0) {
    fail("frames were lost but nothing was retransmitted");
  }
  // (Corruption may also hit other traffic on the port, which is rejected as not ours before any checksum.)
  if (s.fault_rx_corrupted > 0 && s.link.frames_bad_checksum == 0) fail("no corrupted frame was caught by a checksum");
  if (s.fault_rx_duplicated > 0 && s.link.segments_duplicate == 0) fail("duplicated frames were not recognised");
  std::printf("PASS node %lld\n", static_cast<long long>(o.link.my_id));
  std::fflush(stdout);
  return 0;
}
