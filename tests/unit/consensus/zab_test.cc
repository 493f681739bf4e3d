// Zab driven directly: a tiny in-test network delivers every Send at once, in order, and the log persists every
// Append at once. Scenarios the simulator reaches only by chance are pinned down here.
#include "ukeeper/consensus/zab.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>

namespace uk::zab {
namespace {

struct Member {
  std::unique_ptr<Zab> zab;
  Epochs durable_epochs;
  std::vector<Entry> log;
  std::vector<Zxid> applied;
  bool up = false;
};

class Net {
 public:
  explicit Net(int voters) {
    for (int i = 1; i <= voters; i++) ids_.push_back(i);
    for (PeerId id : ids_) boot(id, Recovered{});
  }

  void boot(PeerId id, Recovered r) {
    Options o;
    o.my_id = id;
    o.voters = ids_;
    Member& m = members_[id];
    m.zab = std::make_unique<Zab>(o, static_cast<uint64_t>(id));
    m.up = true;
    m.durable_epochs = r.epochs;
    m.zab->start(std::move(r));
    for (PeerId other : ids_) {
      if (other != id && members_[other].up) connect(id, other);
    }
    pump();
  }

  void connect(PeerId a, PeerId b) {
    members_[a].zab->peer_connected(b);
    members_[b].zab->peer_connected(a);
  }

  void crash(PeerId id) {
    members_[id].up = false;
    for (PeerId other : ids_) {
      if (other != id && members_[other].up) members_[other].zab->peer_disconnected(id);
    }
    pump();
  }

  // Carries out every action until nothing moves.
  void pump() {
    int rounds = 0;
    for (bool moved = true; moved;) {
      if (++rounds > 100000) {
        ADD_FAILURE() << "the members keep exchanging messages without ticks (a livelock)";
        return;
      }
      moved = false;
      for (PeerId id : ids_) {
        Member& m = members_[id];
        if (!m.up) continue;
        std::vector<Action> actions = m.zab->take_actions();
        moved = moved || !actions.empty();
        for (Action& a : actions) {
          if (auto* s = std::get_if<Send>(&a)) {
            if (members_[s->peer].up) queue_.push_back({id, s->peer, s->bytes});
          } else if (auto* ap = std::get_if<Append>(&a)) {
            m.log.push_back(ap->entry);
            m.zab->persisted(ap->entry.zxid);
          } else if (auto* p = std::get_if<PersistEpochs>(&a)) {
            m.durable_epochs = p->epochs;
          } else if (auto* t = std::get_if<Truncate>(&a)) {
            while (!m.log.empty() && m.log.back().zxid > t->after) m.log.pop_back();
          } else if (auto* apply = std::get_if<Apply>(&a)) {
            m.applied.push_back(apply->entry.zxid);
          } else if (auto* n = std::get_if<Note>(&a)) {
            if (getenv("ZAB_TEST_NOTES")) printf("%ld: %s\n", static_cast<long>(id), n->text.c_str());
          }
        }
      }
      while (!queue_.empty()) {
        auto [from, to, bytes] = queue_.front();
        queue_.pop_front();
        if (members_[to].up) members_[to].zab->receive(from, bytes);
        moved = true;
      }
    }
  }

  void ticks(int n) {
    for (int i = 0; i < n; i++) {
      for (PeerId id : ids_) {
        if (members_[id].up) members_[id].zab->tick();
      }
      pump();
    }
  }

  PeerId leader() {
    for (PeerId id : ids_) {
      if (members_[id].up && members_[id].zab->role() == Role::kLeading && members_[id].zab->serving()) return id;
    }
    return 0;
  }

  bool all_serving() {
    for (PeerId id : ids_) {
      if (members_[id].up && !members_[id].zab->serving()) return false;
    }
    return leader() != 0;
  }

  Member& operator[](PeerId id) { return members_[id]; }

 private:
  struct InFlight {
    PeerId from;
    PeerId to;
    std::string bytes;
  };
  std::vector<PeerId> ids_;
  std::map<PeerId, Member> members_;
  std::deque<InFlight> queue_;
};

TEST(Zab, ThreeVotersElectTheMostUpToDateAndCommit) {
  Net net(3);
  net.ticks(10);
  ASSERT_TRUE(net.all_serving());
  PeerId l = net.leader();
  EXPECT_EQ(l, 3);  // equal logs and epochs: the highest id wins
  Zab& z = *net[l].zab;
  ASSERT_TRUE(z.propose(z.next_zxid(), "a"));
  ASSERT_TRUE(z.propose(z.next_zxid(), "b"));
  net.pump();
  for (PeerId id : {1, 2, 3}) {
    EXPECT_EQ(net[id].applied.size(), 2u) << "member " << id;
    EXPECT_EQ(net[id].durable_epochs.current, 1u);
  }
}

TEST(Zab, ProposeRefusedUnlessEstablishedLeaderWithTheNextZxid) {
  Net net(3);
  net.ticks(10);
  PeerId l = net.leader();
  PeerId f = l == 1 ? 2 : 1;
  EXPECT_FALSE(net[f].zab->propose(make_zxid(1, 1), "x"));
  EXPECT_FALSE(net[l].zab->propose(make_zxid(1, 5), "x"));  // not the next zxid
  EXPECT_TRUE(net[l].zab->propose(net[l].zab->next_zxid(), "x"));
}

TEST(Zab, LeaderCrashElectsTheFollowerWithTheLongerLog) {
  Net net(3);
  net.ticks(10);
  PeerId l = net.leader();
  Zab& z = *net[l].zab;
  for (int i = 0; i < 5; i++) z.propose(z.next_zxid(), "v");
  net.pump();
  net.crash(l);
  net.ticks(50);
  ASSERT_NE(net.leader(), 0);
  EXPECT_NE(net.leader(), l);
  PeerId nl = net.leader();
  EXPECT_EQ(net[nl].zab->epoch(), 2u);
  EXPECT_GE(net[nl].applied.size(), 5u);  // nothing committed is lost
}

// A voter that promised an epoch to a leader that never got established (here: it comes back from disk with that
// promise) must not stay out forever: the established leader steps down, the votes carry the promise, and the next
// epoch goes above it.
TEST(Zab, OrphanEpochPromiseDoesNotLockAMemberOut) {
  Net net(3);
  net.ticks(10);
  PeerId l = net.leader();
  PeerId f = l == 1 ? 2 : 1;
  net.crash(f);
  Recovered r;
  r.epochs = Epochs{9, 1};  // promised epoch 9 to someone; last followed epoch 1
  r.entries = net[f].log;
  net.boot(f, r);
  net.ticks(100);
  ASSERT_TRUE(net.all_serving());
  EXPECT_GT(net[net.leader()].zab->epoch(), 9u);
  EXPECT_EQ(net[f].zab->role(), Role::kFollowing);
}

TEST(Zab, MinorityCannotCommit) {
  Net net(3);
  net.ticks(10);
  PeerId l = net.leader();
  for (PeerId id : {1, 2, 3}) {
    if (id != l) net.crash(id);
  }
  Zab& z = *net[l].zab;
  z.propose(z.next_zxid(), "lonely");  // may be accepted before the leader notices
  net.ticks(100);
  EXPECT_FALSE(z.serving());  // stepped down without a quorum
  for (Zxid applied : net[l].applied) EXPECT_LT(applied, make_zxid(1, 1));
}

}  // namespace
}  // namespace uk::zab
