// The reliability layer of the DPDK dataplane (dataplane/dpdk/src/peer_link*.cc) over a seeded fake Ethernet: loss,
// reordering, duplication and corruption; batching and fragmentation; connect/disconnect, restarts and stale
// incarnations; hostile frames (unknown peers, forged lengths, replays, acks for data never sent). Virtual time only:
// every run replays exactly from its seed, and nothing asserts a duration.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ukeeper/dataplane/dpdk/peer_link.h"

namespace uk::dpdk {
namespace {

using Kind = PeerEvent::Kind;

Endpoint endpoint_of(PeerId id) {
  Endpoint e;
  e.mac = {0x02, 0, 0, 0, 0, static_cast<uint8_t>(id)};
  e.ip = 0x0a000000u | static_cast<uint32_t>(id);
  e.udp_port = 7400;
  return e;
}

struct Faults {
  double loss = 0;
  double duplicate = 0;
  double corrupt = 0;
  int64_t min_delay_us = 50;
  int64_t max_delay_us = 50;  // above min_delay_us: frames overtake each other
};

// Frames in flight between links, delivered by virtual time; ties keep send order.
class FakeNet {
 public:
  FakeNet(std::vector<PeerId> ids, uint64_t seed, Faults faults = {},
          std::function<void(PeerLinkOptions&)> tweak = nullptr)
      : ids_(std::move(ids)), rng_(seed), faults_(faults), tweak_(std::move(tweak)) {
    for (PeerId id : ids_) start(id, 1000);
  }

  PeerLinkOptions options_for(PeerId id, uint64_t first_incarnation) {
    PeerLinkOptions o;
    o.my_id = id;
    o.me = endpoint_of(id);
    for (PeerId other : ids_) o.peers.push_back(LinkPeer{other, endpoint_of(other)});
    o.retransmit_timeout_us = 2000;
    o.hello_interval_us = 5000;
    o.keepalive_interval_us = 20000;
    o.peer_timeout_us = 200000;
    o.first_incarnation = first_incarnation;
    if (tweak_) tweak_(o);
    return o;
  }

  // (Re)starts a node, as a restarted process would: a new link, incarnations above the old ones.
  void start(PeerId id, uint64_t first_incarnation) {
    std::string error;
    links_[id] = PeerLink::create(options_for(id, first_incarnation), error);
    ASSERT_NE(links_[id], nullptr) << error;
    events_[id].clear();
  }

  PeerLink& link(PeerId id) { return *links_.at(id); }
  std::vector<PeerEvent>& events(PeerId id) { return events_[id]; }
  int64_t now() const { return now_us_; }
  void set_faults(Faults f) { faults_ = f; }
  void cut(PeerId id, bool on) { cut_[id] = on; }  // a cut node neither sends nor receives
  // Every frame a node sends, as sent (before faults), for replay and forgery tests.
  std::vector<std::vector<uint8_t>>& tap(PeerId id) { return tap_[id]; }
  void inject(PeerId to, std::vector<uint8_t> frame) { enqueue(to, std::move(frame), 0); }

  void step(int64_t dt_us = 100) {
    for (auto& [id, link] : links_) {
      link->tick(now_us_);
      std::vector<uint8_t> buf(link->max_frame_bytes());
      while (size_t n = link->next_frame(now_us_, buf.data())) {
        std::vector<uint8_t> frame(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n));
        tap_[id].push_back(frame);
        if (cut_[id]) continue;
        route(std::move(frame));
      }
    }
    now_us_ += dt_us;
    std::stable_sort(wire_.begin(), wire_.end(),
                     [](const InFlight& a, const InFlight& b) { return a.at_us < b.at_us; });
    size_t delivered = 0;
    while (delivered < wire_.size() && wire_[delivered].at_us <= now_us_) {
      InFlight& f = wire_[delivered++];
      if (cut_[f.to] || links_.count(f.to) == 0) continue;
      links_[f.to]->receive(f.frame.data(), f.frame.size(), now_us_);
    }
    wire_.erase(wire_.begin(), wire_.begin() + static_cast<ptrdiff_t>(delivered));
    for (auto& [id, link] : links_) link->take_events(events_[id]);
  }

  // Steps until `done` or a generous virtual deadline (a failure, never a measured duration).
  template <class Done>
  bool run_until(Done done, int64_t max_virtual_us = 120000000) {
    const int64_t deadline = now_us_ + max_virtual_us;
    while (!done()) {
      if (now_us_ > deadline) return false;
      step();
    }
    return true;
  }

  void run_for(int64_t virtual_us) {
    const int64_t until = now_us_ + virtual_us;
    while (now_us_ < until) step();
  }

  bool all_connected() {
    for (PeerId a : ids_) {
      for (PeerId b : ids_) {
        if (a != b && !links_.at(a)->connected(b)) return false;
      }
    }
    return true;
  }

 private:
  struct InFlight {
    int64_t at_us;
    PeerId to;
    std::vector<uint8_t> frame;
  };

  double uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }

  void route(std::vector<uint8_t> frame) {
    PeerId to = frame[5];  // the destination MAC's last byte is the node id
    if (uniform() < faults_.loss) return;
    if (uniform() < faults_.corrupt) {
      size_t at = kEthernetHeaderBytes + rng_() % (frame.size() - kEthernetHeaderBytes);
      frame[at] = static_cast<uint8_t>(frame[at] ^ (1 + rng_() % 255));
    }
    if (uniform() < faults_.duplicate) enqueue(to, frame, delay());
    enqueue(to, std::move(frame), delay());
  }

  int64_t delay() {
    return faults_.min_delay_us +
           static_cast<int64_t>(rng_() % static_cast<uint64_t>(faults_.max_delay_us - faults_.min_delay_us + 1));
  }

  void enqueue(PeerId to, std::vector<uint8_t> frame, int64_t delay_us) {
    wire_.push_back(InFlight{now_us_ + delay_us, to, std::move(frame)});
  }

  std::vector<PeerId> ids_;
  std::mt19937_64 rng_;
  Faults faults_;
  std::function<void(PeerLinkOptions&)> tweak_;
  int64_t now_us_ = 1000000;
  std::map<PeerId, std::unique_ptr<PeerLink>> links_;
  std::map<PeerId, std::vector<PeerEvent>> events_;
  std::map<PeerId, bool> cut_;
  std::map<PeerId, std::vector<std::vector<uint8_t>>> tap_;
  std::vector<InFlight> wire_;
};

std::vector<std::string> messages_from(const std::vector<PeerEvent>& events, PeerId from) {
  std::vector<std::string> out;
  for (const PeerEvent& e : events) {
    if (e.kind == Kind::kMessage && e.peer == from) out.push_back(e.message);
  }
  return out;
}

std::vector<Kind> channel_events(const std::vector<PeerEvent>& events, PeerId peer) {
  std::vector<Kind> out;
  for (const PeerEvent& e : events) {
    if (e.kind != Kind::kMessage && e.peer == peer) out.push_back(e.kind);
  }
  return out;
}

// A message whose bytes follow from (from, k, seed): sizes from empty to several frames, some far larger.
std::string make_message(PeerId from, uint64_t k, uint64_t seed, size_t max_large = 100000) {
  std::mt19937_64 r(seed * 1000003 + static_cast<uint64_t>(from) * 7919 + k);
  size_t size;
  switch (r() % 10) {
    case 0: size = 0; break;
    case 1: size = 1400 + r() % 20; break;  // around the segment size
    case 2: size = r() % max_large; break;
    case 3: size = 3000 + r() % 5000; break;
    default: size = r() % 200; break;
  }
  std::string m(size, '\0');
  for (char& c : m) c = static_cast<char>(r());
  return m;
}

// Rewrites a captured frame's IPv4 and UDP checksums after a test changed its bytes (a forger would).
void refresh_checksums(std::vector<uint8_t>& f) {
  uint8_t* ip = f.data() + kEthernetHeaderBytes;
  uint8_t* udp = ip + kIpv4HeaderBytes;
  put_be16(ip + 10, 0);
  put_be16(ip + 10, static_cast<uint16_t>(~checksum_fold(checksum_add(0, ip, kIpv4HeaderBytes))));
  const uint16_t udp_bytes = get_be16(udp + 4);
  put_be16(udp + 6, 0);
  uint64_t sum = uint64_t{get_be32(ip + 12) >> 16} + (get_be32(ip + 12) & 0xffff) + (get_be32(ip + 16) >> 16) +
                 (get_be32(ip + 16) & 0xffff) + kIpProtocolUdp + udp_bytes;
  uint16_t c = static_cast<uint16_t>(~checksum_fold(checksum_add(sum, udp, udp_bytes)));
  put_be16(udp + 6, c == 0 ? 0xffff : c);
}

LinkHeader header_of(const std::vector<uint8_t>& f) {
  LinkHeader h;
  EXPECT_TRUE(read_link_header(f.data() + kUdpFrameHeaderBytes, f.size() - kUdpFrameHeaderBytes, h));
  return h;
}

const std::vector<uint8_t>* last_data_frame(FakeNet& net, PeerId from) {
  auto& tap = net.tap(from);
  for (auto it = tap.rbegin(); it != tap.rend(); ++it) {
    if (header_of(*it).type == FrameType::kData) return &*it;
  }
  return nullptr;
}

TEST(DpdkPeerLink, ConnectsOnceAndDeliversInOrder) {
  FakeNet net({1, 2}, 1);
  ASSERT_TRUE(net.run_until([&] { return net.all_connected(); }));
  EXPECT_EQ(channel_events(net.events(1), 2), std::vector<Kind>{Kind::kConnected});
  EXPECT_EQ(channel_events(net.events(2), 1), std::vector<Kind>{Kind::kConnected});
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(net.link(1).send(2, "m" + std::to_string(i)));
    ASSERT_TRUE(net.link(2).send(1, "r" + std::to_string(i)));
  }
  ASSERT_TRUE(net.run_until([&] { return messages_from(net.events(2), 1).size() == 50 &&
                                         messages_from(net.events(1), 2).size() == 50; }));
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(messages_from(net.events(2), 1)[static_cast<size_t>(i)], "m" + std::to_string(i));
    EXPECT_EQ(messages_from(net.events(1), 2)[static_cast<size_t>(i)], "r" + std::to_string(i));
  }
  ASSERT_TRUE(net.run_until([&] { return net.link(1).unacked_messages(2) == 0; }));
  PeerCounters c = net.link(1).counters(2);
  EXPECT_EQ(c.messages_sent, 50u);
  EXPECT_EQ(c.messages_received, 50u);
  EXPECT_EQ(c.connects, 1u);
  EXPECT_EQ(c.dropped, 0u);
  EXPECT_EQ(net.link(1).stats().segments_retransmitted, 0u);  // a perfect link needs none
}

TEST(DpdkPeerLink, BatchesSmallMessagesOfOneTurnIntoFewFrames) {
  FakeNet net({1, 2}, 2);
  ASSERT_TRUE(net.run_until([&] { return net.all_connected(); }));
  net.run_for(1000);
  const uint64_t frames_before = net.link(1).stats().data_frames_sent;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(net.link(1).send(2, std::string(20, 'x')));
  ASSERT_TRUE(net.run_until([&] { return messages_from(net.events(2), 1).size() == 100; }));
  // 100 segments of 28 bytes each fit in 2 frames of 1408 payload bytes; at most one more for a retransmission.
  EXPECT_LE(net.link(1).stats().data_frames_sent - frames_before, 3u);
}

TEST(DpdkPeerLink, FragmentsAndReassemblesLargeMessages) {
  FakeNet net({1, 2}, 3);
  ASSERT_TRUE(net.run_until([&] { return net.all_connected(); }));
  std::string big(3 * 1000 * 1000 + 17, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + (i >> 12));
  const size_t segment = max_segment_bytes(1500);
  ASSERT_TRUE(net.link(1).send(2, big));
  ASSERT_TRUE(net.link(1).send(2, ""));
  ASSERT_TRUE(net.link(1).send(2, std::string(segment, 's')));      // exactly one segment
  ASSERT_TRUE(net.link(1).send(2, std::string(segment + 1, 't')));  // just over: two
  ASSERT_TRUE(net.run_until([&] { return messages_from(net.events(2), 1).size() == 4; }));
  auto got = messages_from(net.events(2), 1);
  EXPECT_TRUE(got[0] == big);
  EXPECT_EQ(got[1], "");
  EXPECT_EQ(got[2], std::string(segment, 's'));
  EXPECT_EQ(got[3], std::string(segment + 1, 't'));
  EXPECT_GE(net.link(1).stats().segments_sent, big.size() / segment + 4);
}

// The main property: over loss, reordering, duplication and corruption, three nodes sending to each other at once
// see every message exactly once, in order, intact, and no channel breaks. Several seeds.
TEST(DpdkPeerLink, ReliableFifoOverAHostileLink) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Faults f;
    f.loss = 0.1;
    f.duplicate = 0.05;
    f.corrupt = 0.03;
    f.min_delay_us = 20;
    f.max_delay_us = 3000;  // frames overtake each other freely
    FakeNet net({1, 2, 3}, seed, f);
    ASSERT_TRUE(net.run_until([&] { return net.all_connected(); }));
    const std::vector<PeerId> ids = {1, 2, 3};
    const uint64_t per_pair = 150;
    uint64_t sent = 0;
    auto all_in = [&] {
      for (PeerId to : ids) {
        for (PeerId from : ids) {
          if (from != to && messages_from(net.events(to), from).size() < per_pair) return false;
        }
      }
      return true;
    };
    // Sending keeps going while traffic flows: a few messages per step and pair.
    ASSERT_TRUE(net.run_until([&] {
      if (sent < per_pair) {
        for (int i = 0; i < 3 && sent < per_pair; ++i, ++sent) {
          for (PeerId from : ids) {
            for (PeerId to : ids) {
              if (from == to) continue;
              EXPECT_TRUE(net.link(from).send(to, make_message(from * 10 + to, sent, seed)));
            }
          }
        }
      }
      return sent == per_pair && all_in();
    }));
    for (PeerId to : ids) {
      for (PeerId from : ids) {
        if (from == to) continue;
        auto got = messages_from(net.events(to), from);
        ASSERT_EQ(got.size(), per_pair);
        for (uint64_t k = 0; k < per_pair; ++k) {
          ASSERT_TRUE(got[k] == make_message(from * 10 + to, k, seed)) << from << "->" << to << " message " << k;
        }
        EXPECT_EQ(channel_events(net.events(to), from), std::vector<Kind>{Kind::kConnected});
      }
    }
    uint64_t retransmitted = 0, duplicates = 0, out_of_order = 0, bad_checksum = 0;
    for (PeerId id : ids) {
      const PeerLinkStats& s = net.link(id).stats();
      retransmitted += s.segments_retransmitted;
      duplicates += s.segments_duplicate;
      out_of_order += s.segments_out_of_order;
      bad_checksum += s.frames_bad_checksum;
    }
    EXPECT_GT(retransmitted, 0u);
    EXPECT_GT(duplicates, 0u);
    EXPECT_GT(out_of_order, 0u);
    EXPECT_GT(bad_checksum, 0u);
  }
}

TEST(DpdkPeerLink, SmallWindowStillDeliversEverything) {
  Faults f;
  f.loss = 0.2;
  f.max_delay_us = 1000;
  FakeNet net({1, 2}, 7, f, [](PeerLinkOptions& o) { o.window_segments = 3; });
  ASSERT_TRUE(net.run_until([&] { return net.all_connected(); }));
  for (uint64_t k = 0; k < 100; ++k) ASSERT_TRUE(net.link(1).send(2, make_message(1, k, 7, 10000)));
  ASSERT_TRUE(net.run_until([&] { return messages_from(net.events(2), 1).size() == 100; }));
  auto got = messages_from(net.events(2), 1);
  for (uint64_t k = 0; k < 100; ++k) ASSERT_TRUE(got[k] == make_message(1, k, 7, 10000)) << k;
}

TEST(DpdkPeerLink, RefusesSendsWithoutAChannelAndOversizedMessages) {
  FakeNet net({1, 2}, 8, {}, [](PeerLinkOptions& o) { o.max_message_bytes = 5000; });
  EXPECT_FALSE(net.link(1).send(2, "too early"));
  EXPECT_FALSE(net.link(1).send(9, "nobody"));
  EXPECT_EQ(net.link(1).counters(2).dropped, 1u);
  ASSERT_TRUE(net.run_until([&] { return net.all_connected(); }));
  EXPECT_FALSE(net.link(1).send(2, std::string(5001, 'x')));
  EXPECT_TRUE(net.link(1).send(2, std::string(5000, 'x')));
  EXPECT_EQ(net.link(1).counters(2).dropped, 2u);
}

TEST(DpdkPeerLink, SilenceBreaksTheChannelLosingWhatWasInFlightAndItComesBack) {
  FakeNet net({1, 2}, 9);
  ASSERT_TRUE(net.run_until([&] { return net.all_connected(); }));
  net.cut(2, true);
  ASSERT_TRUE(net.link(1).send(2, "lost in the cut"));
  ASSERT_TRUE(net.run_until([&] { return !net.link(1).connected(2) && !net.link(2).connected(1); }));
  EXPECT_EQ(net.link(1).stats().peer_timeouts, 1u);
  EXPECT_EQ(net.link(1).stats().messages_lost, 1u);
  EXPECT_EQ(net.link(1).unacked_messages(2), 0u);
  EXPECT_FALSE(net.link(1).send(2, "refused while down"));
  net.cut(2, false);
  ASSERT_TRUE(net.run_until([&] { return net.all_connected(); }));
  ASSERT_TRUE(net.link(1).send(2, "after"));
  ASSERT_TRUE(net.run_until([&] { return !messages_from(net.events(2), 1).empty(); }));
  EXPECT_EQ(messages_from(net.events(2), 1), std::vector<std::string>{"after"});
  const std::vector<Kind> flap = {Kind::kConnected, Kind::kDisconnected, Kind::kConnected};
  EXPECT_EQ(channel_events(net.events(1), 2), flap);
  EXPECT_EQ(channel_events(net.events(2), 1), flap);
}

TEST(DpdkPeerLink, DisconnectResetsBothSidesAndANewChannelFollows) {
  FakeNet net({1, 2}, 10);
  ASSERT_TRUE(net.run_until([&] { return net.all_connected(); }));
  ASSERT_TRUE(net.link(1).send(2, "before"));
  ASSERT_TRUE(net.run_until([&] { return net.link(1).unacked_messages(2) == 0; }));
  net.link(1).disconnect(2);
  EXPECT_FALSE(net.link(1).connected(2));
  ASSERT_TRUE(net.run_until([&] { return net.all_connected() && channel_events(net.events(2), 1).size() == 3; }));
  ASSERT_TRUE(net.link(2).send(1, "after"));
  ASSERT_TRUE(net.run_until([&] { return !messages_from(net.events(1), 2).empty(); }));
  const std::vector<Kind> flap = {Kind::kConnected, Kind::kDisconnected, Kind::kConnected};
  EXPECT_EQ(channel_events(net.events(1), 2), flap);
  EXPECT_EQ(channel_events(net.events(2), 1), flap);
  EXPECT_EQ(messages_from(net.events(2), 1), std::vector<std::string>{"before"});
}

TEST(DpdkPeerLink, ARestartedPeerIsANewChannelAndOldFramesAreStale) {
  FakeNet net({1, 2}, 11);
  ASSERT_TRUE(net.run_until([&] { return net.all_connected(); }));
  ASSERT_TRUE(net.link(2).send(1, "from the old process"));
  ASSERT_TRUE(net.run_until([&] { return net.link(2).unacked_messages(1) == 0; }));
  const std::vector<uint8_t> old_frame = *last_data_frame(net, 2);
  net.start(2, 5000);  // the process restarts: higher incarnations
  ASSERT_TRUE(net.run_until([&] {
    return net.all_connected() && channel_events(net.events(1), 2).size() == 3;
  }));
  EXPECT_EQ(channel_events(net.events(2), 1), std::vector<Kind>{Kind::kConnected});
  // A delayed frame of the old process: dropped as stale, not delivered again.
  const uint64_t stale_before = net.link(1).stats().frames_stale;
  net.inject(1, old_frame);
  net.run_for(1000);
  EXPECT_EQ(net.link(1).stats().frames_stale, stale_before + 1);
  EXPECT_EQ(messages_from(net.events(1), 2), std::vector<std::string>{"from the old process"});
  EXPECT_TRUE(net.link(1).connected(2));
}

TEST(DpdkPeerLink, ReplayedFramesAreNeverDeliveredTwice) {
  FakeNet net({1, 2}, 12);
  ASSERT_TRUE(net.run_until([&] { return net.all_connected(); }));
  ASSERT_TRUE(net.link(1).send(2, "once"));
  ASSERT_TRUE(net.run_until([&] { return net.link(1).unacked_messages(2) == 0; }));
  const std::vector<uint8_t> frame = *last_data_frame(net, 1);
  const uint64_t dup_before = net.link(2).stats().segments_duplicate;
  for (int i = 0; i < 5; ++i) net.inject(2, frame);
  net.run_for(1000);
  EXPECT_EQ(net.link(2).stats().segments_duplicate, dup_before + 5);
  EXPECT_EQ(messages_from(net.events(2), 1), std::vector<std::string>{"once"});
  // After a reset of the channel the same frame is stale: it names an incarnation of node 2 that is gone.
  net.link(2).disconnect(1);
  ASSERT_TRUE(net.run_until([&] { return net.all_connected(); }));
  const uint64_t stale_before = net.link(2).stats().frames_stale;
  net.inject(2, frame);
  net.run_for(1000);
  EXPECT_EQ(net.link(2).stats().frames_stale, stale_before + 1);
  EXPECT_EQ(messages_from(net.events(2), 1), std::vector<std::string>{"once"});
}

// A frame from the peer's current incarnation that names an earlier incarnation of ours belongs to a channel we
// already dropped: stale, even with a sequence number that would be next.
TEST(DpdkPeerLink, FramesNamingAnOldIncarnationOfOursAreStale) {
  FakeNet net({1, 2}, 16);
  ASSERT_TRUE(net.run_until([&] { return net.all_connected(); }));
  ASSERT_TRUE(net.link(1).send(2, "current"));
  ASSERT_TRUE(net.run_until([&] { return net.link(1).unacked_messages(2) == 0; }));
  std::vector<uint8_t> f = *last_data_frame(net, 1);
  const LinkHeader h = header_of(f);
  put_be64(f.data() + kUdpFrameHeaderBytes + 32, h.receiver_incarnation - 1);
  put_be64(f.data() + kUdpFrameHeaderBytes + 40, h.first_seq + 1);  // would be next in order
  refresh_checksums(f);
  const uint64_t stale_before = net.link(2).stats().frames_stale;
  net.inject(2, f);
  net.run_for(1000);
  EXPECT_EQ(net.link(2).stats().frames_stale, stale_before + 1);
  EXPECT_EQ(messages_from(net.events(2), 1), std::vector<std::string>{"current"});
  EXPECT_TRUE(net.link(2).connected(1));
}

TEST(DpdkPeerLink, BadFramesAreDroppedAndCountedNeverDelivered) {
  FakeNet net({1, 2, 3}, 13);
  ASSERT_TRUE(net.run_until([&] { return net.all_connected(); }));
  ASSERT_TRUE(net.link(1).send(2, "template"));
  ASSERT_TRUE(net.run_until([&] { return net.link(1).unacked_messages(2) == 0; }));
  const std::vector<uint8_t> good = *last_data_frame(net, 1);
  const size_t body = kUdpFrameHeaderBytes + kLinkHeaderBytes;  // the first segment header
  const PeerLinkStats before = net.link(2).stats();

  std::vector<uint8_t> f = good;  // a bad UDP checksum
  f[body + kSegmentHeaderBytes] ^= 0x40;
  net.inject(2, f);
  f = good;  // a bad IPv4 header checksum
  f[kEthernetHeaderBytes + 8] = 1;  // TTL
  net.inject(2, f);
  f = good;  // unknown sender: an address not in the table, checksums fine
  put_be32(f.data() + kEthernetHeaderBytes + 12, 0x0a0000ffu);
  refresh_checksums(f);
  net.inject(2, f);
  f = good;  // a known address claiming another node's id
  put_be64(f.data() + kUdpFrameHeaderBytes + 8, 3);
  refresh_checksums(f);
  net.inject(2, f);
  f = good;  // a right address from the wrong MAC
  f[11] = 0x77;
  net.inject(2, f);
  f = good;  // a segment longer than the frame
  put_be16(f.data() + body + 2, 2000);
  refresh_checksums(f);
  net.inject(2, f);
  f = good;  // a segment longer than its message
  put_be32(f.data() + body + 4, 1);
  refresh_checksums(f);
  net.inject(2, f);
  f = good;  // trailing bytes after the last segment
  f.push_back(0);
  put_be16(f.data() + kEthernetHeaderBytes + 2, static_cast<uint16_t>(get_be16(f.data() + 16) + 1));
  put_be16(f.data() + kEthernetHeaderBytes + kIpv4HeaderBytes + 4,
           static_cast<uint16_t>(get_be16(f.data() + 38) + 1));
  refresh_checksums(f);
  net.inject(2, f);
  f = good;  // truncated
  f.resize(f.size() - 3);
  net.inject(2, f);
  f = good;  // a message length above max_message_bytes
  put_be32(f.data() + body + 4, 0xffffffffu);
  put_be16(f.data() + body, 0);  // flags: a middle fragment, so the length check is the one that refuses it
  refresh_checksums(f);
  net.inject(2, f);
  net.run_for(1000);

  const PeerLinkStats& after = net.link(2).stats();
  EXPECT_EQ(after.frames_bad_checksum - before.frames_bad_checksum, 2u);
  EXPECT_EQ(after.frames_unknown_peer - before.frames_unknown_peer, 3u);
  EXPECT_EQ(after.frames_bad_length - before.frames_bad_length, 5u);
  EXPECT_EQ(messages_from(net.events(2), 1), std::vector<std::string>{"template"});
  EXPECT_TRUE(net.link(2).connected(1));  // checks before the channel: nothing here could reset it
  EXPECT_EQ(after.protocol_errors, 0u);
}

TEST(DpdkPeerLink, SegmentsBeyondTheWindowAreDropped) {
  FakeNet net({1, 2}, 14);
  ASSERT_TRUE(net.run_until([&] { return net.all_connected(); }));
  ASSERT_TRUE(net.link(1).send(2, "in window"));
  ASSERT_TRUE(net.run_until([&] { return net.link(1).unacked_messages(2) == 0; }));
  std::vector<uint8_t> f = *last_data_frame(net, 1);
  put_be64(f.data() + kUdpFrameHeaderBytes + 40, 1000000);  // first_seq far ahead
  refresh_checksums(f);
  net.inject(2, f);
  net.run_for(1000);
  EXPECT_EQ(net.link(2).stats().segments_out_of_window, 1u);
  EXPECT_EQ(messages_from(net.events(2), 1), std::vector<std::string>{"in window"});
}

// A checksummed frame of the current channel that breaks the protocol resets the channel (nothing is delivered
// from it), the way TCP closes on a bad frame.
TEST(DpdkPeerLink, ProtocolViolationsResetTheChannel) {
  FakeNet net({1, 2}, 15);
  ASSERT_TRUE(net.run_until([&] { return net.all_connected(); }));
  ASSERT_TRUE(net.link(1).send(2, "first"));
  ASSERT_TRUE(net.run_until([&] { return net.link(1).unacked_messages(2) == 0; }));
  std::vector<uint8_t> f = *last_data_frame(net, 1);
  const size_t body = kUdpFrameHeaderBytes + kLinkHeaderBytes;
  put_be64(f.data() + kUdpFrameHeaderBytes + 40, 2);  // the next sequence number...
  f[body] = kSegmentLast;                             // ...as the end of a message that never began
  refresh_checksums(f);
  net.inject(2, f);
  net.run_for(1000);
  EXPECT_EQ(net.link(2).stats().protocol_errors, 1u);
  EXPECT_EQ(messages_from(net.events(2), 1), std::vector<std::string>{"first"});
  ASSERT_TRUE(net.run_until([&] { return net.all_connected() && channel_events(net.events(1), 2).size() == 3; }));

  // An ack for data never sent, on the new channel.
  ASSERT_TRUE(net.link(2).send(1, "x"));
  ASSERT_TRUE(net.run_until([&] { return net.link(2).unacked_messages(1) == 0; }));
  std::vector<uint8_t> a = *last_data_frame(net, 2);
  put_be64(a.data() + kUdpFrameHeaderBytes + 48, 1000);
  refresh_checksums(a);
  net.inject(1, a);
  net.run_for(1000);
  EXPECT_EQ(net.link(1).stats().protocol_errors, 1u);
  ASSERT_TRUE(net.run_until([&] { return net.all_connected(); }));
  EXPECT_EQ(channel_events(net.events(1), 2).size(), 5u);
}

TEST(DpdkPeerLink, RejectsBadOptions) {
  std::string error;
  PeerLinkOptions o;
  o.my_id = 1;
  o.me = endpoint_of(1);
  o.peers = {{1, endpoint_of(1)}, {2, endpoint_of(2)}};
  EXPECT_NE(PeerLink::create(o, error), nullptr) << error;
  PeerLinkOptions bad = o;
  bad.mtu_bytes = 100;
  EXPECT_EQ(PeerLink::create(bad, error), nullptr);
  EXPECT_NE(error.find("mtu"), std::string::npos);
  bad = o;
  bad.peers.push_back({3, endpoint_of(2)});
  EXPECT_EQ(PeerLink::create(bad, error), nullptr);
  EXPECT_NE(error.find("share"), std::string::npos);
  bad = o;
  bad.peer_timeout_us = bad.keepalive_interval_us;
  EXPECT_EQ(PeerLink::create(bad, error), nullptr);
  bad = o;
  bad.window_segments = 0;
  EXPECT_EQ(PeerLink::create(bad, error), nullptr);
}

}  // namespace
}  // namespace uk::dpdk
