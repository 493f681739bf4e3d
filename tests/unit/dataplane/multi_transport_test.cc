// MultiTransport (dataplane/multi_transport.h) over in-memory lanes whose channels break and come back, each side
// learning of a break in its own time. Checks the logical channel's contract as consensus relies on it: within one
// channel (from a kConnected to the next kDisconnected at the receiver) the messages delivered are exactly the
// sender's messages of one of its channels, in order, from the first, without gaps or repeats; a sender's channel
// is delivered in at most one receiver channel; after the faults stop, both sides are connected over the best lane
// and everything sent arrives.
#include "ukeeper/dataplane/multi_transport.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace uk {
namespace {

using Kind = PeerEvent::Kind;

// One lane between two members: per direction a queue of events on their way; each side believes the channel up
// from the kConnected it is given until the kDisconnected it is given. A cut loses what is in flight.
struct Link {
  std::deque<PeerEvent> to[2];  // to[s]: events travelling to side s
  bool up[2] = {false, false};  // what side s believes
  bool alive = false;           // the wire carries messages
  PeerId id[2] = {0, 0};

  void connect() {
    alive = true;
    for (int s = 0; s < 2; ++s) to[s].push_back(PeerEvent{Kind::kConnected, id[1 - s], {}});
  }
  void cut() {
    if (!alive) return;
    alive = false;
    for (auto& q : to) {
      std::erase_if(q, [](const PeerEvent& e) { return e.kind == Kind::kMessage; });
      q.push_back(PeerEvent{Kind::kDisconnected, 0, {}});
    }
    for (int s = 0; s < 2; ++s) to[s].back().peer = id[1 - s];
  }
  // Both sides have seen the last cut: the lane may connect again.
  bool quiet() const { return !alive && !up[0] && !up[1] && to[0].empty() && to[1].empty(); }
};

class FakeLane final : public Transport {
 public:
  FakeLane(Link& link, int side, const char* name) : link_(link), side_(side), name_(name) {}
  bool send(PeerId, std::string_view message) override {
    if (!link_.up[side_]) return false;
    if (link_.alive) link_.to[1 - side_].push_back(PeerEvent{Kind::kMessage, link_.id[side_], std::string(message)});
    return true;
  }
  void poll(int64_t, std::vector<PeerEvent>& out) override {
    for (PeerEvent& e : inbox_) {
      if (e.kind == Kind::kConnected) link_.up[side_] = true;
      if (e.kind == Kind::kDisconnected) link_.up[side_] = false;
      out.push_back(std::move(e));
    }
    inbox_.clear();
  }
  bool connected(PeerId) const override { return link_.up[side_]; }
  void disconnect(PeerId) override { link_.cut(); }
  const char* name() const override { return name_; }
  PeerCounters counters(PeerId) const override { return {}; }
  // The network hands over up to n events of this side's queue.
  void arrive(size_t n) {
    auto& q = link_.to[side_];
    while (n-- > 0 && !q.empty()) {
      inbox_.push_back(std::move(q.front()));
      q.pop_front();
    }
  }

 private:
  Link& link_;
  int side_;
  const char* name_;
  std::vector<PeerEvent> inbox_;
};

// What one side of the pair has sent and received, as the checker sees it.
struct Side {
  std::unique_ptr<MultiTransport> t;
  FakeLane* lanes[2] = {nullptr, nullptr};
  PeerId me = 0, peer = 0;
  int send_session = 0;  // counts our kConnected events: messages carry (session, seq)
  uint64_t next_seq = 1;
  uint64_t sent_in_session = 0;
  bool up = false;
  // Receiving: the sender session the current receive channel delivers, and the next seq expected.
  int recv_from = -1;
  uint64_t expect = 1;
  std::set<int> sessions_seen;  // sender sessions already delivered in some receive channel
  uint64_t delivered = 0;
};

std::string encode(int session, uint64_t seq) { return std::to_string(session) + ":" + std::to_string(seq); }

class Pair {
 public:
  explicit Pair(uint64_t seed) : rng_(seed) {
    for (Link& l : links_) {
      l.id[0] = 2;
      l.id[1] = 1;
    }
    // side 0 is member 2 (owns the channel), side 1 is member 1.
    for (int s = 0; s < 2; ++s) {
      Side& side = sides_[s];
      side.me = s == 0 ? 2 : 1;
      side.peer = s == 0 ? 1 : 2;
      MultiTransportOptions o;
      o.my_id = side.me;
      o.peers = {1, 2};
      o.first_channel_id = 1000 * (s + 1);
      o.upgrade_after_ms = 5;
      o.reopen_retry_ms = 7;
      std::vector<MultiTransport::Lane> lanes;
      auto fast = std::make_unique<FakeLane>(links_[0], s, "fast");
      auto slow = std::make_unique<FakeLane>(links_[1], s, "slow");
      side.lanes[0] = fast.get();
      side.lanes[1] = slow.get();
      lanes.push_back({std::move(fast), kLaneRdma});
      lanes.push_back({std::move(slow), kLaneTcp});
      side.t = std::make_unique<MultiTransport>(o, std::move(lanes));
    }
  }

  Link& link(int i) { return links_[i]; }
  Side& side(int s) { return sides_[s]; }

  void poll(int s) {
    Side& me = sides_[s];
    Side& other = sides_[1 - s];
    std::vector<PeerEvent> events;
    me.t->poll(now_, events);
    for (PeerEvent& e : events) {
      ASSERT_EQ(e.peer, me.peer);
      if (e.kind == Kind::kConnected) {
        ASSERT_FALSE(me.up) << "kConnected twice";
        me.up = true;
        ++me.send_session;
        me.next_seq = 1;
        me.recv_from = -1;
        me.expect = 1;
      } else if (e.kind == Kind::kDisconnected) {
        ASSERT_TRUE(me.up) << "kDisconnected while down";
        me.up = false;
      } else {
        ASSERT_TRUE(me.up) << "message while down";
        int session = 0;
        unsigned long long seq = 0;
        ASSERT_EQ(std::sscanf(e.message.c_str(), "%d:%llu", &session, &seq), 2) << e.message;
        if (me.recv_from < 0) {
          ASSERT_EQ(me.sessions_seen.count(session), 0u) << "sender session " << session << " delivered twice";
          me.sessions_seen.insert(session);
          me.recv_from = session;
        }
        ASSERT_EQ(session, me.recv_from) << "two sender sessions in one channel";
        ASSERT_EQ(seq, me.expect) << "gap, repeat or reorder in session " << session << " received by member " << me.me;
        ++me.expect;
        ++me.delivered;
      }
    }
    (void)other;
  }

  bool send(int s) {
    Side& me = sides_[s];
    if (!me.up) return false;
    bool ok = me.t->send(me.peer, encode(me.send_session, me.next_seq));
    if (ok) ++me.next_seq;
    return ok;
  }

  // One random step of the network and the members; cut lanes come back only when `reconnect`.
  void step(bool faults, bool reconnect = true) {
    now_ += std::uniform_int_distribution<int>(0, 3)(rng_);
    std::uniform_int_distribution<int> pct(0, 99);
    for (int s = 0; s < 2; ++s) {
      int n = pct(rng_) % 4;
      for (int i = 0; i < n; ++i) send(s);
    }
    for (int s = 0; s < 2; ++s) {
      for (int l = 0; l < 2; ++l) {
        // Now and then a lane direction stalls for a while (a slow path: frames on the other lane overtake).
        if (stalled_[s][l] > 0) {
          --stalled_[s][l];
          continue;
        }
        if (stalls_ && pct(rng_) < 2) stalled_[s][l] = pct(rng_) % 30;
        sides_[s].lanes[l]->arrive(pct(rng_) % 5);
      }
    }
    if (faults) {
      for (int l = 0; l < 2; ++l) {
        if (links_[l].alive && pct(rng_) < 3) links_[l].cut();
      }
      if (pct(rng_) < 1) {
        int s = pct(rng_) % 2;
        sides_[s].t->disconnect(sides_[s].peer);
      }
    }
    for (int l = 0; l < 2; ++l) {
      if (reconnect && links_[l].quiet() && pct(rng_) < (faults ? 10 : 50)) links_[l].connect();
    }
    int first = pct(rng_) % 2;
    poll(first);
    poll(1 - first);
  }

  // Lets lane directions stall now and then (frames on the other lane overtake theirs).
  void enable_stalls() { stalls_ = true; }

  // Hands everything in flight over, without sending or faults.
  void drain() {
    for (int i = 0; i < 50; ++i) {
      for (Side& s : sides_) {
        for (FakeLane* l : s.lanes) l->arrive(1000);
      }
      poll(0);
      poll(1);
    }
  }

 private:
  std::mt19937_64 rng_;
  Link links_[2];
  Side sides_[2];
  int stalled_[2][2] = {{0, 0}, {0, 0}};  // [side][lane]: steps its arrivals still wait
  bool stalls_ = false;
  int64_t now_ = 0;
};

TEST(MultiTransport, OpensOverTheSlowLaneThenMovesToTheFastOneWithoutAReconnect) {
  Pair pair(1);
  pair.link(1).connect();
  for (int i = 0; i < 50; ++i) pair.step(false, false);
  ASSERT_TRUE(pair.side(0).up);
  ASSERT_TRUE(pair.side(1).up);
  EXPECT_EQ(pair.side(0).t->out_lane(1), 1);
  EXPECT_EQ(pair.side(1).t->out_lane(2), 1);
  pair.link(0).connect();
  for (int i = 0; i < 2000 && (pair.side(0).t->out_lane(1) != 0 || pair.side(1).t->out_lane(2) != 0); ++i) {
    pair.step(false);
  }
  for (int i = 0; i < 50; ++i) pair.step(false);  // the switches reach the other side
  EXPECT_EQ(pair.side(0).t->out_lane(1), 0);
  EXPECT_EQ(pair.side(1).t->out_lane(2), 0);
  EXPECT_EQ(pair.side(0).t->in_lane(1), 0);
  EXPECT_EQ(pair.side(1).t->in_lane(2), 0);
  EXPECT_EQ(pair.side(0).send_session, 1) << "an upgrade must not reopen the channel";
  EXPECT_EQ(pair.side(1).send_session, 1);
  EXPECT_GT(pair.side(0).delivered, 0u);
  EXPECT_GT(pair.side(1).delivered, 0u);
  EXPECT_EQ(pair.side(0).t->counters(1).disconnects, 0u);
  EXPECT_EQ(pair.side(0).t->peer_stats(1).switches, 1u);
  EXPECT_EQ(pair.side(1).t->peer_stats(2).switches, 1u);
  // The lane it moved away from may have lost frames the peer had not taken: losing it costs one reopen, and the
  // new channel lives on the fast lane alone.
  pair.link(1).cut();
  for (int i = 0; i < 50; ++i) pair.step(false, false);
  EXPECT_EQ(pair.side(0).t->counters(1).disconnects, 1u);
  ASSERT_TRUE(pair.side(0).up);
  ASSERT_TRUE(pair.side(1).up);
  EXPECT_EQ(pair.side(0).t->out_lane(1), 0);
  pair.link(1).connect();
  for (int i = 0; i < 50; ++i) pair.step(false, false);
  pair.link(1).cut();
  for (int i = 0; i < 50; ++i) pair.step(false, false);
  EXPECT_EQ(pair.side(0).t->counters(1).disconnects, 1u);
}

TEST(MultiTransport, LosingAnUnusedLaneCostsNothingLosingTheBusyOneReopensOverTheOther) {
  Pair pair(2);
  pair.link(0).connect();  // the channel opens over the fast lane and never touches the slow one
  for (int i = 0; i < 50; ++i) pair.step(false, false);
  pair.link(1).connect();
  for (int i = 0; i < 50; ++i) pair.step(false, false);
  ASSERT_EQ(pair.side(0).t->out_lane(1), 0);
  ASSERT_EQ(pair.side(1).t->out_lane(2), 0);
  const int sessions = pair.side(0).send_session;
  pair.link(1).cut();  // the slow lane, never used by this channel
  for (int i = 0; i < 50; ++i) pair.step(false, false);
  EXPECT_EQ(pair.side(0).send_session, sessions);
  EXPECT_EQ(pair.side(0).t->counters(1).disconnects, 0u);
  // Bring the slow lane back, then cut the fast one: the channel reopens over the slow lane.
  pair.link(1).connect();
  for (int i = 0; i < 50; ++i) pair.step(false, false);
  pair.link(0).cut();
  for (int i = 0; i < 50; ++i) pair.step(false, false);
  EXPECT_EQ(pair.side(0).t->counters(1).disconnects, 1u);
  EXPECT_EQ(pair.side(1).t->counters(2).disconnects, 1u);
  ASSERT_TRUE(pair.side(0).up);
  ASSERT_TRUE(pair.side(1).up);
  EXPECT_EQ(pair.side(0).t->out_lane(1), 1);
  EXPECT_EQ(pair.side(1).t->out_lane(2), 1);
  uint64_t before = pair.side(1).delivered;
  for (int i = 0; i < 200; ++i) pair.step(false, false);
  EXPECT_TRUE(pair.side(0).up);
  EXPECT_TRUE(pair.side(1).up);
  EXPECT_GT(pair.side(1).delivered, before);
}

TEST(MultiTransport, RandomBreaksKeepTheChannelContract) {
  uint64_t total_delivered = 0, total_reopens = 0, total_switches = 0;
  for (uint64_t seed = 1; seed <= 150; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Pair pair(seed);
    pair.enable_stalls();
    pair.link(1).connect();
    for (int i = 0; i < 3000; ++i) {
      pair.step(true);
      if (::testing::Test::HasFatalFailure()) return;
    }
    // Heal: no more faults; both links come back; traffic settles on the fast lane.
    for (int i = 0; i < 3000; ++i) {
      pair.step(false);
      if (::testing::Test::HasFatalFailure()) return;
      if (pair.side(0).up && pair.side(1).up && pair.side(0).t->out_lane(1) == 0 &&
          pair.side(1).t->out_lane(2) == 0 && i > 200) {
        break;
      }
    }
    ASSERT_TRUE(pair.side(0).up);
    ASSERT_TRUE(pair.side(1).up);
    EXPECT_EQ(pair.side(0).t->out_lane(1), 0);
    EXPECT_EQ(pair.side(1).t->out_lane(2), 0);
    // Everything sent from now on arrives.
    pair.drain();
    uint64_t d0 = pair.side(0).delivered, d1 = pair.side(1).delivered;
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(pair.send(0));
      ASSERT_TRUE(pair.send(1));
    }
    pair.drain();
    EXPECT_EQ(pair.side(0).delivered - d0, 20u);
    EXPECT_EQ(pair.side(1).delivered - d1, 20u);
    total_delivered += pair.side(0).delivered + pair.side(1).delivered;
    total_reopens += pair.side(0).t->peer_stats(1).opens;
    total_switches += pair.side(0).t->peer_stats(1).switches + pair.side(1).t->peer_stats(2).switches;
  }
  // The faults must really have exercised reopening and switching.
  EXPECT_GT(total_reopens, 150u * 3);
  EXPECT_GT(total_switches, 150u * 3);
  EXPECT_GT(total_delivered, 150u * 1000);
}

TEST(MultiTransport, GarbageFramesAreCountedNotDelivered) {
  Pair pair(3);
  pair.link(1).connect();
  for (int i = 0; i < 50; ++i) pair.step(false);
  ASSERT_TRUE(pair.side(1).up);
  uint64_t before = pair.side(1).delivered;
  // Raw frames on the lane: too short, unknown kind, a switch to a lane code nobody has.
  pair.link(1).to[1].push_back(PeerEvent{Kind::kMessage, 2, "abc"});
  pair.link(1).to[1].push_back(PeerEvent{Kind::kMessage, 2, std::string("\x09" "12345678", 9)});
  pair.side(1).lanes[1]->arrive(10);
  pair.poll(1);
  EXPECT_EQ(pair.side(1).delivered, before);
  EXPECT_EQ(pair.side(1).t->peer_stats(2).malformed, 2u);
  EXPECT_TRUE(pair.side(1).up);
}

}  // namespace
}  // namespace uk
