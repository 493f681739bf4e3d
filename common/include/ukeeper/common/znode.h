// Znode metadata shared by the store (storage/) and the wire codec (server/): Stat, Id and ACL records
// (zookeeper-protocol.md §4, §6, §8).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ukeeper/common/types.h"

namespace uk {

struct Stat {
  Zxid czxid = 0;
  Zxid mzxid = 0;
  int64_t ctime_ms = 0;
  int64_t mtime_ms = 0;
  int32_t version = 0;
  int32_t cversion = 0;
  int32_t aversion = 0;
  int64_t ephemeral_owner = 0;
  int32_t data_length = 0;
  int32_t num_children = 0;
  Zxid pzxid = 0;
  bool operator==(const Stat&) const = default;
};

struct Id {
  std::string scheme;
  std::string id;
  bool operator==(const Id&) const = default;
  bool operator<(const Id& o) const { return scheme != o.scheme ? scheme < o.scheme : id < o.id; }
};

struct Acl {
  int32_t perms = 0;
  Id id;
  bool operator==(const Acl&) const = default;
};

using AclList = std::vector<Acl>;

namespace perm {
inline constexpr int32_t kRead = 1;
inline constexpr int32_t kWrite = 2;
inline constexpr int32_t kCreate = 4;
inline constexpr int32_t kDelete = 8;
inline constexpr int32_t kAdmin = 16;
inline constexpr int32_t kAll = 31;
}  // namespace perm

// ephemeralOwner encodings for the special node kinds (zookeeper-protocol.md §6).
namespace owner {
inline constexpr int64_t kContainer = static_cast<int64_t>(0x8000000000000000ULL);
inline constexpr int64_t kTtlMarker = static_cast<int64_t>(0xFF00000000000000ULL);
inline constexpr int64_t kTtlMaxMs = (int64_t{1} << 40) - 1;
inline bool is_container(int64_t o) { return o == kContainer; }
inline bool is_ttl(int64_t o) { return (o & kTtlMarker) == kTtlMarker && o != -1; }
inline int64_t ttl_ms(int64_t o) { return o & kTtlMaxMs; }
inline int64_t make_ttl(int64_t ttl) { return kTtlMarker | (ttl & kTtlMaxMs); }
inline bool is_ephemeral(int64_t o) { return o != 0 && !is_container(o) && !is_ttl(o); }
}  // namespace owner

// Create modes (CreateRequest.flags).
enum class CreateMode : int32_t {
  kPersistent = 0,
  kEphemeral = 1,
  kPersistentSequential = 2,
  kEphemeralSequential = 3,
  kContainer = 4,
  kPersistentWithTtl = 5,
  kPersistentSequentialWithTtl = 6,
};

inline bool create_mode_valid(int32_t f) { return f >= 0 && f <= 6; }
inline bool create_mode_sequential(CreateMode m) {
  return m == CreateMode::kPersistentSequential || m == CreateMode::kEphemeralSequential ||
         m == CreateMode::kPersistentSequentialWithTtl;
}
inline bool create_mode_ephemeral(CreateMode m) {
  return m == CreateMode::kEphemeral || m == CreateMode::kEphemeralSequential;
}
inline bool create_mode_ttl(CreateMode m) {
  return m == CreateMode::kPersistentWithTtl || m == CreateMode::kPersistentSequentialWithTtl;
}

// Watch event types as sent to clients (WatcherEvent.type).
enum class EventType : int32_t {
  kNone = -1,
  kNodeCreated = 1,
  kNodeDeleted = 2,
  kNodeDataChanged = 3,
  kNodeChildrenChanged = 4,
};

}  // namespace uk
