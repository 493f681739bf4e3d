// ZAB peer messages and their encoding. One struct carries every kind; each kind uses the fields listed beside it
// and the codec writes only those. Every message carries the sender's epoch context and, for the leader/learner
// protocol, the learner's attempt number, so that a message from an earlier epoch or an earlier connection attempt
// is recognised and dropped instead of being mistaken for a current one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ukeeper/common/types.h"
#include "ukeeper/dataplane/transport.h"

namespace uk::zab {

inline constexpr uint64_t epoch_of(Zxid z) { return static_cast<uint64_t>(z) >> 32; }
inline constexpr uint32_t counter_of(Zxid z) { return static_cast<uint32_t>(static_cast<uint64_t>(z) & 0xffffffffu); }
inline constexpr Zxid make_zxid(uint64_t epoch, uint32_t counter) {
  return static_cast<Zxid>((epoch << 32) | counter);
}

// "1f00000003": zxids in logs and notes, as ZooKeeper prints them.
std::string hex_zxid(Zxid z);

// One log record as consensus sees it: a zxid and the transaction bytes (opaque here).
struct Entry {
  Zxid zxid = 0;
  std::string payload;
  bool operator==(const Entry&) const = default;
};

enum class PeerState : uint8_t { kLooking = 0, kFollowing = 1, kLeading = 2, kObserving = 3 };

enum class MsgType : uint8_t {
  kVote = 1,          // election notification: round, state, vote (leader, zxid, epoch), observer, accepted_epoch
  kFollowerInfo = 2,  // learner -> leader: attempt, accepted_epoch, observer
  kLeaderInfo = 3,    // leader -> learner: attempt, epoch (the new epoch)
  kAckEpoch = 4,      // learner -> leader: attempt, current_epoch, zxid (last logged), base, epoch_ends, observer
                      //   (here: true = the ack does not count toward the epoch quorum, see zab_learner.cc)
  kSyncDiff = 5,      // leader -> learner: attempt, epoch; entries follow as kProposal
  kSyncTrunc = 6,     // leader -> learner: attempt, epoch, zxid (truncate everything after it); entries follow
  kSyncSnap = 7,      // leader -> learner: attempt, epoch, zxid (state as of it), payload (the snapshot)
  kProposal = 8,      // leader -> learner: attempt, epoch, entries, commit
  kNewLeader = 9,     // leader -> learner: attempt, epoch, zxid (last entry of the sync)
  kAckNewLeader = 10, // learner -> leader: attempt, epoch
  kUpToDate = 11,     // leader -> learner: attempt, epoch, commit
  kAck = 12,          // learner -> leader: attempt, epoch, zxid (durable up to)
  kCommit = 13,       // leader -> learner: attempt, epoch, commit
  kPing = 14,         // leader -> learner: attempt, epoch, commit, token (ping round)
  kPingAck = 15,      // learner -> leader: attempt, epoch, token (ping round)
  kBarrier = 16,      // learner -> leader: attempt, epoch, token (the learner's barrier token)
  kBarrierDone = 17,  // leader -> learner: attempt, epoch, token, zxid (apply up to it first), commit
  kApp = 18,          // either way, leader <-> learner: attempt, epoch, payload (host messages, opaque here)
};

struct Message {
  MsgType type = MsgType::kVote;
  uint64_t epoch = 0;
  uint64_t attempt = 0;
  Zxid zxid = 0;
  Zxid commit = 0;
  uint64_t token = 0;
  // kVote
  uint64_t round = 0;
  PeerState state = PeerState::kLooking;
  PeerId vote_leader = 0;
  Zxid vote_zxid = 0;
  uint64_t vote_epoch = 0;
  bool observer = false;  // kVote, kFollowerInfo: the sender does not vote
  // kFollowerInfo / kAckEpoch
  uint64_t accepted_epoch = 0;
  uint64_t current_epoch = 0;
  Zxid base = 0;                 // the learner's log starts after this (state up to it is committed and applied)
  std::vector<Zxid> epoch_ends;  // the last zxid of each epoch present in the learner's log, ascending
  // kProposal
  std::vector<Entry> entries;
  // kSyncSnap, kApp
  std::string payload;
};

const char* to_string(MsgType type);
const char* to_string(PeerState state);

// Appends the encoding of `m` to `out`.
void encode(const Message& m, std::string& out);
std::string encode(const Message& m);
// nullopt on malformed bytes (unknown type, truncated, trailing bytes, impossible counts).
std::optional<Message> decode(std::string_view bytes);

}  // namespace uk::zab
