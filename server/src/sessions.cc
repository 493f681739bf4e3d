#include "ukeeper/server/sessions.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cassert>
#include <utility>

#include "ukeeper/server/proto.h"

namespace uk {

SessionTracker::SessionTracker(int64_t server_id, std::string secret, int64_t now_ms, int64_t bucket_ms)
    : secret_(std::move(secret)), bucket_ms_(std::max<int64_t>(bucket_ms, 1)) {
  // As ZooKeeper: the server id in the top byte, the start time in the middle, a counter at the bottom, so ids
  // from different servers and different runs do not collide.
  uint64_t base = (static_cast<uint64_t>(now_ms) << 24) >> 8;
  next_id_ = static_cast<SessionId>(base | (static_cast<uint64_t>(server_id & 0xff) << 56));
  if (next_id_ == 0) next_id_ = 1;
}

std::string SessionTracker::password_for(SessionId id) const {
  std::string material = secret_;
  for (int i = 7; i >= 0; i--) material.push_back(static_cast<char>((static_cast<uint64_t>(id) >> (8 * i)) & 0xff));
  unsigned char sha[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(material.data()), material.size(), sha);
  return std::string(reinterpret_cast<const char*>(sha), kPasswordBytes);
}

Session& SessionTracker::open(SessionId id, int32_t timeout_ms, int64_t now_ms) {
  auto [it, inserted] = sessions_.try_emplace(id);
  Session& s = it->second;
  if (!inserted) unlink(s);  // reopened (e.g. after a leader change): refile it under its new deadline
  s.id = id;
  s.timeout_ms = timeout_ms;
  s.expires_at_ms = now_ms + timeout_ms;
  link(s);
  return s;
}

Session* SessionTracker::find(SessionId id) {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second;
}

const Session* SessionTracker::find_const(SessionId id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second;
}

void SessionTracker::touch(Session& s, int64_t now_ms) {
  assert(find_const(s.id) == &s && "touch() of a session this tracker does not hold");
  s.expires_at_ms = now_ms + s.timeout_ms;
  // A busy client touches many times per bucket: only refile when the rounded deadline actually moved.
  if (bucket_key_for(s.expires_at_ms) == s.bucket_key_) return;
  unlink(s);
  link(s);
}

void SessionTracker::remove(SessionId id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  unlink(it->second);
  sessions_.erase(it);
}

std::vector<SessionId> SessionTracker::expired(int64_t now_ms) const {
  std::vector<std::pair<int64_t, SessionId>> due;
  size_t visits = 0;
  // Every session in a bucket keyed <= now has expires_at_ms <= key <= now, so none is reported early; the first
  // bucket keyed > now holds only sessions not yet reportable and ends the walk.
  for (auto b = buckets_.begin(); b != buckets_.end() && b->first <= now_ms; ++b) {
    for (const Session* s = b->second.head; s != nullptr; s = s->bucket_next_) {
      visits++;
      if (!s->closing) due.emplace_back(s->expires_at_ms, s->id);
    }
  }
  last_scan_visits_ = visits;
  // Buckets come out in deadline order already; within one bucket the exact deadlines differ, hence the sort
  // (over the due sessions only).
  std::sort(due.begin(), due.end());
  std::vector<SessionId> out;
  out.reserve(due.size());
  for (const auto& d : due) out.push_back(d.second);
  return out;
}

int64_t SessionTracker::bucket_key_for(int64_t deadline_ms) const {
  // Round up (toward +infinity, also for negative times: C++ division truncates toward zero, which is already
  // the ceiling for negatives) so a bucket's time is never before any deadline filed in it.
  int64_t q = deadline_ms / bucket_ms_;
  if (deadline_ms % bucket_ms_ > 0) q++;
  return q * bucket_ms_;
}

void SessionTracker::link(Session& s) {
  s.bucket_key_ = bucket_key_for(s.expires_at_ms);
  Bucket& b = buckets_[s.bucket_key_];
  s.bucket_prev_ = nullptr;
  s.bucket_next_ = b.head;
  if (b.head != nullptr) b.head->bucket_prev_ = &s;
  b.head = &s;
}

void SessionTracker::unlink(Session& s) {
  if (s.bucket_prev_ != nullptr) {
    s.bucket_prev_->bucket_next_ = s.bucket_next_;
  } else {
    // The head of its bucket: the bucket itself must change, and goes away once empty so expired() never
    // steps over empty buckets.
    auto it = buckets_.find(s.bucket_key_);
    assert(it != buckets_.end() && it->second.head == &s);
    it->second.head = s.bucket_next_;
    if (it->second.head == nullptr) buckets_.erase(it);
  }
  if (s.bucket_next_ != nullptr) s.bucket_next_->bucket_prev_ = s.bucket_prev_;
  s.bucket_prev_ = nullptr;
  s.bucket_next_ = nullptr;
}

}  // namespace uk
