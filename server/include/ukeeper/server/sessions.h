// Client sessions: ids, passwords, negotiated timeouts and expiry deadlines.
// The tracker only keeps time; it reads no clock (callers pass now_ms) so tests drive it directly.
// Thread-safety: owned by the thread that applies transactions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ukeeper/common/types.h"

namespace uk {

struct Session {
  SessionId id = 0;
  int32_t timeout_ms = 0;
  int64_t expires_at_ms = 0;
  void* owner = nullptr;  // the connection currently attached, or null while the client is away
  bool closing = false;   // a closeSession or expiry is under way; refuse reattachment
};

class SessionTracker {
 public:
  // `secret` keys the session passwords; any server holding it can validate a reconnect.
  SessionTracker(int64_t server_id, std::string secret, int64_t now_ms);

  SessionId next_session_id() { return next_id_++; }
  // Replaces the password key (the server loads it from its data directory so passwords survive restarts).
  void set_secret(std::string secret) { secret_ = std::move(secret); }
  // 16 bytes derived from the session id and the secret (never stored, recomputed on each check).
  std::string password_for(SessionId id) const;

  Session& open(SessionId id, int32_t timeout_ms, int64_t now_ms);
  Session* find(SessionId id);
  const Session* find_const(SessionId id) const;
  const std::map<SessionId, Session>& all() const { return sessions_; }
  // Any request or ping from the owning connection pushes the deadline out by the timeout.
  void touch(Session& s, int64_t now_ms) { s.expires_at_ms = now_ms + s.timeout_ms; }
  // Sessions whose deadline has passed, oldest first.
  std::vector<SessionId> expired(int64_t now_ms) const;
  void remove(SessionId id) { sessions_.erase(id); }

 private:
  std::string secret_;
  SessionId next_id_;
  std::map<SessionId, Session> sessions_;
};

}  // namespace uk
