// Ensemble state of a Server (private to server/src): the ZAB state machine, the peer transport, and the
// messages members exchange above consensus (forwarded writes and their replies, session creation and touches).
//
// The write path of a follower, end to end: its client's write is forwarded (kForward) to the leader over the peer
// channel; the leader's Processor validates it against its tree and pending txns exactly as for its own clients
// and proposes the txn through Zab; once a quorum has it durably, every member applies it; the leader's reply frame
// travels back (kReply) and the follower releases it once it has applied that zxid itself, so the client's next
// read there sees its write. Errors found in validation come back the same way, queued behind the connection's
// earlier writes by the leader's Processor.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ukeeper/common/types.h"
#include "ukeeper/common/znode.h"
#include "ukeeper/consensus/zab.h"
#include "peer_lanes.h"

namespace uk {

// The peer lanes' epoll fd in the server's epoll set (tags below 1000 are the server's own; see server.cc).
inline constexpr uint64_t kPeerEpollTag = 3;

// Host messages carried in zab kApp payloads.
enum class PeerAppKind : uint8_t {
  kForward = 1,         // learner -> leader: a client write (conn, session, xid, type, body, auth ids)
  kReply = 2,           // leader -> learner: the reply frame for conn, to release once zxid is applied
  kCreateSession = 3,   // learner -> leader: open session for conn with timeout
  kSessionCreated = 4,  // leader -> learner: the createSession txn of conn is committed at zxid
  kTouch = 5,           // learner -> leader: sessions its clients were heard from
};

struct PeerApp {
  PeerAppKind kind = PeerAppKind::kForward;
  uint64_t conn = 0;
  SessionId session = 0;
  int32_t xid = 0;
  int32_t type = 0;
  int32_t timeout_ms = 0;
  Zxid zxid = 0;
  bool close_after = false;
  std::string bytes;  // kForward: the request body; kReply: the frame
  std::vector<Id> auth_ids;
  std::vector<SessionId> sessions;
};

std::string encode_peer_app(const PeerApp& m);
std::optional<PeerApp> decode_peer_app(std::string_view bytes);

// A token naming a connection on another member: the member's id in the top 16 bits, its connection id below.
// Local connection ids stay below 2^48.
inline constexpr uint64_t remote_token(int64_t member, uint64_t conn) {
  return (static_cast<uint64_t>(member) << 48) | conn;
}
inline constexpr int64_t token_member(uint64_t token) { return static_cast<int64_t>(token >> 48); }
inline constexpr uint64_t token_conn(uint64_t token) { return token & ((uint64_t{1} << 48) - 1); }

struct EnsembleState {
  int64_t my_id = 0;
  bool observer = false;
  std::unique_ptr<zab::Zab> zab;
  PeerLanes lanes;  // lanes.transport is the peer transport consensus talks through
  zab::Recovered recovered;     // handed to zab at start
  int64_t tick_ms = 10;         // one consensus tick
  int64_t next_tick_ms = 0;
  Zxid reported_persisted = 0;  // last persisted() given to zab
  bool serving = false;
  zab::Role role = zab::Role::kLooking;
  int64_t leader = 0;
  uint64_t epoch = 0;
  // Learner: replies from the leader waiting for the local apply of their zxid, in arrival order.
  std::deque<PeerApp> held;
  // Syncs waiting for their barrier: token -> connection id.
  std::unordered_map<uint64_t, uint64_t> syncs;
  uint64_t next_sync_token = 1;
  // Learner: sessions heard from since the last report to the leader.
  std::set<SessionId> touched;
  int64_t next_touch_ms = 0;
  int64_t touch_interval_ms = 1000;
  uint64_t role_changes = 0;
};

}  // namespace uk
