#include "ukeeper/server/sessions.h"

#include <openssl/sha.h>

#include <algorithm>

#include "ukeeper/server/proto.h"

namespace uk {

SessionTracker::SessionTracker(int64_t server_id, std::string secret, int64_t now_ms) : secret_(std::move(secret)) {
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
  Session& s = sessions_[id];
  s.id = id;
  s.timeout_ms = timeout_ms;
  s.expires_at_ms = now_ms + timeout_ms;
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

std::vector<SessionId> SessionTracker::expired(int64_t now_ms) const {
  std::vector<std::pair<int64_t, SessionId>> due;
  for (const auto& [id, s] : sessions_) {
    if (!s.closing && s.expires_at_ms <= now_ms) due.emplace_back(s.expires_at_ms, id);
  }
  std::sort(due.begin(), due.end());
  std::vector<SessionId> out;
  out.reserve(due.size());
  for (const auto& d : due) out.push_back(d.second);
  return out;
}

}  // namespace uk
