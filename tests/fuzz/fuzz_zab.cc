// Fuzzes the ZAB state machine as one member of a 3-voter ensemble (it is server 1; 2 and 3 are the fuzzer). The
// input is a script of steps: ticks, channel events, raw bytes from a peer, structured messages built from a few
// input bytes (echoing the attempt numbers this member sent, so the fuzzer reaches synchronization and broadcast),
// persisted() reports, proposals and barriers. Whatever peers send, the member must not crash, trip an assertion or
// break its own bookkeeping: applied records strictly increase, applied <= commit <= last logged, and everything it
// sends decodes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "ukeeper/consensus/zab.h"

namespace {

using namespace uk;
using namespace uk::zab;

struct Script {
  const uint8_t* p;
  size_t n;
  uint8_t byte() {
    if (n == 0) return 0;
    n--;
    return *p++;
  }
};

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Options o;
  o.my_id = 1;
  o.voters = {1, 2, 3};
  o.max_counter = 40;
  Zab z(o, 7);
  Recovered rec;
  rec.epochs = Epochs{1, 1};
  rec.entries = {Entry{make_zxid(1, 1), "a"}, Entry{make_zxid(1, 2), "b"}};
  z.start(rec);
  std::map<PeerId, uint64_t> attempt_to;  // the attempt number this member last used toward each peer
  uint64_t attempt_from_leader = 0;       // the attempt it registered with (to echo as a leader would)
  Zxid last_applied = 0;
  Script s{data, size};
  auto drain = [&]() {
    for (Action& a : z.take_actions()) {
      if (auto* ap = std::get_if<Apply>(&a)) {
        check(ap->entry.zxid > last_applied);
        last_applied = ap->entry.zxid;
      } else if (auto* is = std::get_if<InstallSnapshot>(&a)) {
        last_applied = is->zxid;
      } else if (auto* sd = std::get_if<Send>(&a)) {
        std::optional<Message> m = decode(sd->bytes);
        check(m.has_value());
        if (m->type != MsgType::kVote) attempt_to[sd->peer] = m->attempt;
        if (m->type == MsgType::kFollowerInfo) attempt_from_leader = m->attempt;
      }
    }
    check(z.applied_zxid() <= z.last_zxid());
    check(z.applied_zxid() <= z.commit_zxid() || z.commit_zxid() == 0);
  };
  drain();
  for (int steps = 0; s.n > 0 && steps < 4000; steps++) {
    uint8_t op = s.byte() % 8;
    PeerId peer = 2 + (s.byte() & 1);
    switch (op) {
      case 0:
        for (int i = s.byte() % 40; i >= 0; i--) z.tick();
        break;
      case 1:
        z.peer_connected(peer);
        break;
      case 2:
        z.peer_disconnected(peer);
        break;
      case 3: {
        size_t len = s.byte() % 64;
        std::string raw;
        for (size_t i = 0; i < len; i++) raw.push_back(static_cast<char>(s.byte()));
        z.receive(peer, raw);
        break;
      }
      case 4: {
        Message m;
        m.type = static_cast<MsgType>(1 + s.byte() % 18);
        m.epoch = s.byte() % 6;
        bool echo = (s.byte() & 3) != 0;
        m.attempt = echo ? (z.role() == Role::kLeading ? attempt_to[peer] : attempt_from_leader) : s.byte();
        m.zxid = make_zxid(s.byte() % 6, s.byte() % 8);
        m.commit = make_zxid(s.byte() % 6, s.byte() % 8);
        m.token = s.byte() % 4;
        m.round = s.byte() % 4;
        m.state = static_cast<PeerState>(s.byte() % 4);
        m.vote_leader = 1 + s.byte() % 3;
        m.vote_zxid = make_zxid(s.byte() % 6, s.byte() % 8);
        m.vote_epoch = s.byte() % 6;
        m.accepted_epoch = s.byte() % 6;
        m.current_epoch = s.byte() % 6;
        m.base = 0;
        int ends = s.byte() % 3;
        for (int i = 0; i < ends; i++) m.epoch_ends.push_back(make_zxid(1 + i, 1 + s.byte() % 4));
        int entries = s.byte() % 4;
        Zxid at = make_zxid(s.byte() % 6, s.byte() % 8);
        for (int i = 0; i < entries; i++) m.entries.push_back(Entry{at + i + 1, "e"});
        if (m.type == MsgType::kSyncSnap) m.payload = "state";
        z.receive(peer, encode(m));
        break;
      }
      case 5:
        z.persisted((s.byte() & 1) ? z.last_zxid() : make_zxid(s.byte() % 6, s.byte() % 8));
        break;
      case 6:
        z.propose(z.next_zxid(), "p");
        break;
      case 7:
        z.barrier(s.byte());
        break;
    }
    drain();
  }
  return 0;
}
