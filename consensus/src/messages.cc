#include "ukeeper/consensus/messages.h"

#include <cstdio>

#include "ukeeper/common/jute.h"

namespace uk::zab {
namespace {

constexpr uint8_t kVersion = 1;
// Bounds that no well-formed message exceeds; a count above them is garbage, not a reason to allocate.
constexpr int32_t kMaxEpochEnds = 1 << 20;
constexpr int32_t kMaxEntries = 1 << 24;

bool valid_type(uint8_t t) { return t >= 1 && t <= static_cast<uint8_t>(MsgType::kApp); }

bool has_attempt(MsgType t) { return t != MsgType::kVote; }

}  // namespace

std::string hex_zxid(Zxid z) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(z));
  return buf;
}

const char* to_string(MsgType type) {
  switch (type) {
    case MsgType::kVote: return "VOTE";
    case MsgType::kFollowerInfo: return "FOLLOWERINFO";
    case MsgType::kLeaderInfo: return "LEADERINFO";
    case MsgType::kAckEpoch: return "ACKEPOCH";
    case MsgType::kSyncDiff: return "DIFF";
    case MsgType::kSyncTrunc: return "TRUNC";
    case MsgType::kSyncSnap: return "SNAP";
    case MsgType::kProposal: return "PROPOSAL";
    case MsgType::kNewLeader: return "NEWLEADER";
    case MsgType::kAckNewLeader: return "ACK(NEWLEADER)";
    case MsgType::kUpToDate: return "UPTODATE";
    case MsgType::kAck: return "ACK";
    case MsgType::kCommit: return "COMMIT";
    case MsgType::kPing: return "PING";
    case MsgType::kPingAck: return "PINGACK";
    case MsgType::kBarrier: return "BARRIER";
    case MsgType::kBarrierDone: return "BARRIERDONE";
    case MsgType::kApp: return "APP";
  }
  return "?";
}

const char* to_string(PeerState state) {
  switch (state) {
    case PeerState::kLooking: return "LOOKING";
    case PeerState::kFollowing: return "FOLLOWING";
    case PeerState::kLeading: return "LEADING";
    case PeerState::kObserving: return "OBSERVING";
  }
  return "?";
}

void encode(const Message& m, std::string& out) {
  JuteWriter w(out);
  w.put_byte(static_cast<int8_t>(kVersion));
  w.put_byte(static_cast<int8_t>(m.type));
  w.put_long(static_cast<int64_t>(m.epoch));
  if (has_attempt(m.type)) w.put_long(static_cast<int64_t>(m.attempt));
  switch (m.type) {
    case MsgType::kVote:
      w.put_long(static_cast<int64_t>(m.round));
      w.put_byte(static_cast<int8_t>(m.state));
      w.put_long(m.vote_leader);
      w.put_long(m.vote_zxid);
      w.put_long(static_cast<int64_t>(m.vote_epoch));
      w.put_bool(m.observer);
      w.put_long(static_cast<int64_t>(m.accepted_epoch));
      break;
    case MsgType::kFollowerInfo:
      w.put_long(static_cast<int64_t>(m.accepted_epoch));
      w.put_bool(m.observer);
      break;
    case MsgType::kLeaderInfo:
    case MsgType::kSyncDiff:
    case MsgType::kAckNewLeader:
      break;
    case MsgType::kAckEpoch:
      w.put_long(static_cast<int64_t>(m.current_epoch));
      w.put_long(m.zxid);
      w.put_long(m.base);
      w.put_int(static_cast<int32_t>(m.epoch_ends.size()));
      for (Zxid z : m.epoch_ends) w.put_long(z);
      w.put_bool(m.observer);
      break;
    case MsgType::kSyncTrunc:
    case MsgType::kNewLeader:
    case MsgType::kAck:
      w.put_long(m.zxid);
      break;
    case MsgType::kSyncSnap:
      w.put_long(m.zxid);
      w.put_buffer(std::string_view(m.payload));
      break;
    case MsgType::kProposal:
      w.put_long(m.commit);
      w.put_int(static_cast<int32_t>(m.entries.size()));
      for (const Entry& e : m.entries) {
        w.put_long(e.zxid);
        w.put_buffer(std::string_view(e.payload));
      }
      break;
    case MsgType::kUpToDate:
    case MsgType::kCommit:
      w.put_long(m.commit);
      break;
    case MsgType::kPing:
      w.put_long(m.commit);
      w.put_long(static_cast<int64_t>(m.token));
      break;
    case MsgType::kPingAck:
    case MsgType::kBarrier:
      w.put_long(static_cast<int64_t>(m.token));
      break;
    case MsgType::kBarrierDone:
      w.put_long(static_cast<int64_t>(m.token));
      w.put_long(m.zxid);
      w.put_long(m.commit);
      break;
    case MsgType::kApp:
      w.put_buffer(std::string_view(m.payload));
      break;
  }
}

std::string encode(const Message& m) {
  std::string out;
  encode(m, out);
  return out;
}

std::optional<Message> decode(std::string_view bytes) {
  JuteReader r(bytes);
  Message m;
  if (static_cast<uint8_t>(r.get_byte()) != kVersion) return std::nullopt;
  auto type = static_cast<uint8_t>(r.get_byte());
  if (!r.ok() || !valid_type(type)) return std::nullopt;
  m.type = static_cast<MsgType>(type);
  m.epoch = static_cast<uint64_t>(r.get_long());
  if (has_attempt(m.type)) m.attempt = static_cast<uint64_t>(r.get_long());
  switch (m.type) {
    case MsgType::kVote: {
      m.round = static_cast<uint64_t>(r.get_long());
      auto state = static_cast<uint8_t>(r.get_byte());
      if (state > static_cast<uint8_t>(PeerState::kObserving)) return std::nullopt;
      m.state = static_cast<PeerState>(state);
      m.vote_leader = r.get_long();
      m.vote_zxid = r.get_long();
      m.vote_epoch = static_cast<uint64_t>(r.get_long());
      m.observer = r.get_bool();
      m.accepted_epoch = static_cast<uint64_t>(r.get_long());
      break;
    }
    case MsgType::kFollowerInfo:
      m.accepted_epoch = static_cast<uint64_t>(r.get_long());
      m.observer = r.get_bool();
      break;
    case MsgType::kLeaderInfo:
    case MsgType::kSyncDiff:
    case MsgType::kAckNewLeader:
      break;
    case MsgType::kAckEpoch: {
      m.current_epoch = static_cast<uint64_t>(r.get_long());
      m.zxid = r.get_long();
      m.base = r.get_long();
      int32_t n = r.get_count(8);
      if (!r.ok() || n > kMaxEpochEnds) return std::nullopt;
      m.epoch_ends.reserve(static_cast<size_t>(n));
      for (int32_t i = 0; i < n; i++) m.epoch_ends.push_back(r.get_long());
      m.observer = r.get_bool();
      break;
    }
    case MsgType::kSyncTrunc:
    case MsgType::kNewLeader:
    case MsgType::kAck:
      m.zxid = r.get_long();
      break;
    case MsgType::kSyncSnap: {
      m.zxid = r.get_long();
      auto b = r.get_buffer();
      if (!b) return std::nullopt;
      m.payload = std::move(*b);
      break;
    }
    case MsgType::kProposal: {
      m.commit = r.get_long();
      int32_t n = r.get_count(12);
      if (!r.ok() || n > kMaxEntries) return std::nullopt;
      m.entries.reserve(static_cast<size_t>(n));
      for (int32_t i = 0; i < n && r.ok(); i++) {
        Entry e;
        e.zxid = r.get_long();
        auto b = r.get_buffer();
        if (!b) return std::nullopt;
        e.payload = std::move(*b);
        m.entries.push_back(std::move(e));
      }
      break;
    }
    case MsgType::kUpToDate:
    case MsgType::kCommit:
      m.commit = r.get_long();
      break;
    case MsgType::kPing:
      m.commit = r.get_long();
      m.token = static_cast<uint64_t>(r.get_long());
      break;
    case MsgType::kPingAck:
    case MsgType::kBarrier:
      m.token = static_cast<uint64_t>(r.get_long());
      break;
    case MsgType::kBarrierDone:
      m.token = static_cast<uint64_t>(r.get_long());
      m.zxid = r.get_long();
      m.commit = r.get_long();
      break;
    case MsgType::kApp: {
      auto b = r.get_buffer();
      if (!b) return std::nullopt;
      m.payload = std::move(*b);
      break;
    }
  }
  if (!r.ok() || r.remaining() != 0) return std::nullopt;
  return m;
}

}  // namespace uk::zab
