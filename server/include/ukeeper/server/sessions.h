// Client sessions: ids, passwords, negotiated timeouts and expiry deadlines.
// The tracker only keeps time; it reads no clock (callers pass now_ms) so tests drive it directly.
// Thread-safety: owned by the thread that applies transactions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ukeeper/common/types.h"

namespace uk {

class SessionTracker;

struct Session {
  SessionId id = 0;
  int32_t timeout_ms = 0;
  // Read-only for callers: the tracker files the session under this deadline, so only open() and touch() may
  // change it (writing it directly would leave the session in the wrong expiry bucket).
  int64_t expires_at_ms = 0;
  void* owner = nullptr;  // the connection currently attached, or null while the client is away
  bool closing = false;   // a closeSession or expiry is under way; refuse reattachment

 private:
  friend class SessionTracker;
  // Expiry bookkeeping: the bucket this session is filed under and its neighbours there. The links are
  // intrusive so moving a session between buckets on every request allocates nothing.
  int64_t bucket_key_ = 0;
  Session* bucket_prev_ = nullptr;
  Session* bucket_next_ = nullptr;
};

// Expiry is a timer wheel in the manner of ZooKeeper's ExpiryQueue: each deadline is rounded UP to a multiple of
// bucket_ms and the session is filed in the bucket for that rounded time. expired(now) opens only the buckets whose
// time is <= now, so its cost follows the number of due sessions, not the number of live ones.
//
// Lateness bound: a session is never reported before its deadline (expires_at_ms <= now always holds for what
// expired() returns), and it is reported by any expired(now) call with now >= expires_at_ms + bucket_ms - 1,
// i.e. rounding makes it late by less than bucket_ms. Exactly: reported iff not closing and
// ceil(expires_at_ms / bucket_ms) * bucket_ms <= now. Callers polling every P ms therefore see a session expire
// at most P + bucket_ms - 1 ms after its deadline.
class SessionTracker {
 public:
  static constexpr int64_t kDefaultBucketMs = 10;

  // `secret` keys the session passwords; any server holding it can validate a reconnect.
  // `bucket_ms` is the expiry granularity (values below 1 mean 1): larger buckets mean fewer of them, but later
  // expiry (see the bound above). The poll interval of the caller is a natural choice.
  SessionTracker(int64_t server_id, std::string secret, int64_t now_ms, int64_t bucket_ms = kDefaultBucketMs);

  // Buckets point into the session map's nodes: a copy would point into the original, so copying is refused.
  // Moving keeps the nodes (std::map moves them without reallocating), so the links stay valid.
  SessionTracker(const SessionTracker&) = delete;
  SessionTracker& operator=(const SessionTracker&) = delete;
  SessionTracker(SessionTracker&&) = default;
  SessionTracker& operator=(SessionTracker&&) = default;
  ~SessionTracker() = default;

  SessionId next_session_id() { return next_id_++; }
  // Replaces the password key (the server loads it from its data directory so passwords survive restarts).
  void set_secret(std::string secret) { secret_ = std::move(secret); }
  // 16 bytes derived from the session id and the secret (never stored, recomputed on each check).
  std::string password_for(SessionId id) const;

  // Opens the session, or, if the id is already open, resets its timeout and deadline (owner and closing stay).
  Session& open(SessionId id, int32_t timeout_ms, int64_t now_ms);
  Session* find(SessionId id);
  const Session* find_const(SessionId id) const;
  const std::map<SessionId, Session>& all() const { return sessions_; }
  // Any request or ping from the owning connection pushes the deadline out by the timeout.
  // `s` must be a session of this tracker (from open() or find()).
  void touch(Session& s, int64_t now_ms);
  // Sessions not closing whose (bucket-rounded) deadline has passed, oldest deadline first, ties by id.
  // A due session is reported again by every call until touch() or remove(); the caller marks it closing to stop
  // that. Due sessions stay in their buckets until then, so a call visits those and nothing else.
  std::vector<SessionId> expired(int64_t now_ms) const;
  void remove(SessionId id);

  int64_t bucket_ms() const { return bucket_ms_; }
  // Sessions the last expired() call looked at (due ones, closing or not): lets tests check it did not walk the
  // live set.
  size_t last_scan_visits() const { return last_scan_visits_; }
  // Non-empty buckets, for tests and diagnostics.
  size_t bucket_count() const { return buckets_.size(); }

 private:
  // Head of a bucket's intrusive list of sessions (order within a bucket is irrelevant: expired() sorts).
  struct Bucket {
    Session* head = nullptr;
  };

  int64_t bucket_key_for(int64_t deadline_ms) const;
  void link(Session& s);
  void unlink(Session& s);

  std::string secret_;
  SessionId next_id_;
  int64_t bucket_ms_;
  std::map<SessionId, Session> sessions_;
  // Keyed by rounded deadline. A sorted map rather than a fixed ring: it needs no bound on session timeouts and no
  // step-by-step advance over empty slots when the caller polls late, holds only non-empty buckets (at most
  // max timeout / bucket_ms of them, tens to a few thousand), and its order gives "oldest first" for free.
  // Finding a bucket costs O(log buckets), which is small and independent of the number of sessions.
  std::map<int64_t, Bucket> buckets_;
  mutable size_t last_scan_visits_ = 0;
};

}  // namespace uk
