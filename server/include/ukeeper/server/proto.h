// ZooKeeper client protocol records (zookeeper-protocol.md §2–§5) and their jute encoding.
// Decoders read from a JuteReader and leave it !ok() on malformed input; callers check once per record.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ukeeper/common/jute.h"
#include "ukeeper/common/types.h"
#include "ukeeper/common/znode.h"

namespace uk {

enum class OpCode : int32_t {
  kNotification = 0,
  kCreate = 1,
  kDelete = 2,
  kExists = 3,
  kGetData = 4,
  kSetData = 5,
  kGetAcl = 6,
  kSetAcl = 7,
  kGetChildren = 8,
  kSync = 9,
  kPing = 11,
  kGetChildren2 = 12,
  kCheck = 13,
  kMulti = 14,
  kCreate2 = 15,
  kReconfig = 16,
  kCheckWatches = 17,
  kRemoveWatches = 18,
  kCreateContainer = 19,
  kDeleteContainer = 20,
  kCreateTtl = 21,
  kMultiRead = 22,
  kAuth = 100,
  kSetWatches = 101,
  kSasl = 102,
  kGetEphemerals = 103,
  kGetAllChildrenNumber = 104,
  kSetWatches2 = 105,
  kAddWatch = 106,
  kWhoAmI = 107,
  kCreateSession = -10,
  kCloseSession = -11,
  kError = -1,
};

// The requests that change one node (each becomes a single-op txn); multi and closeSession are txns too.
inline bool is_single_write(OpCode op) {
  switch (op) {
    case OpCode::kCreate:
    case OpCode::kCreate2:
    case OpCode::kCreateContainer:
    case OpCode::kCreateTtl:
    case OpCode::kDelete:
    case OpCode::kDeleteContainer:
    case OpCode::kSetData:
    case OpCode::kSetAcl:
      return true;
    default:
      return false;
  }
}

inline constexpr int32_t kXidWatchEvent = -1;
inline constexpr int32_t kXidPing = -2;
inline constexpr int32_t kXidAuth = -4;
inline constexpr int32_t kXidSetWatches = -8;
inline constexpr int32_t kPasswordBytes = 16;
inline constexpr int32_t kKeeperStateSyncConnected = 3;

struct ConnectRequest {
  int32_t protocol_version = 0;
  Zxid last_zxid_seen = 0;
  int32_t timeout_ms = 0;
  SessionId session_id = 0;
  std::string passwd;
  bool has_read_only = false;  // the client sent the readOnly byte (and expects it back)
  bool read_only = false;
};
bool decode(JuteReader& r, ConnectRequest& m);

struct ConnectResponse {
  int32_t protocol_version = 0;
  int32_t timeout_ms = 0;
  SessionId session_id = 0;
  std::string passwd;  // always kPasswordBytes on the wire
  bool has_read_only = false;
  bool read_only = false;
};
void encode(JuteWriter& w, const ConnectResponse& m);

struct RequestHeader {
  int32_t xid = 0;
  int32_t type = 0;
};
bool decode(JuteReader& r, RequestHeader& m);

struct ReplyHeader {
  int32_t xid = 0;
  Zxid zxid = 0;
  int32_t err = 0;
};
void encode(JuteWriter& w, const ReplyHeader& m);

// create (1), create2 (15), createContainer (19), createTTL (21: ttl present).
struct CreateRequest {
  std::string path;
  std::optional<std::string> data;
  AclList acl;
  int32_t flags = 0;
  int64_t ttl = -1;  // only createTTL carries it
};
bool decode(JuteReader& r, CreateRequest& m, bool with_ttl);

struct DeleteRequest {
  std::string path;
  int32_t version = -1;
};
bool decode(JuteReader& r, DeleteRequest& m);

// exists, getData, getChildren, getChildren2.
struct PathWatchRequest {
  std::string path;
  bool watch = false;
};
bool decode(JuteReader& r, PathWatchRequest& m);

// getACL, sync, getEphemerals, getAllChildrenNumber.
struct PathRequest {
  std::string path;
};
bool decode(JuteReader& r, PathRequest& m);

struct SetDataRequest {
  std::string path;
  std::optional<std::string> data;
  int32_t version = -1;
};
bool decode(JuteReader& r, SetDataRequest& m);

struct SetAclRequest {
  std::string path;
  AclList acl;
  int32_t version = -1;
};
bool decode(JuteReader& r, SetAclRequest& m);

struct CheckVersionRequest {
  std::string path;
  int32_t version = -1;
};
bool decode(JuteReader& r, CheckVersionRequest& m);

// checkWatches (17), removeWatches (18): type is a WatcherType; addWatch (106): mode.
struct PathIntRequest {
  std::string path;
  int32_t value = 0;
};
bool decode(JuteReader& r, PathIntRequest& m);

struct SetWatchesRequest {
  Zxid relative_zxid = 0;
  std::vector<std::string> data;
  std::vector<std::string> exist;
  std::vector<std::string> child;
  std::vector<std::string> persistent;            // setWatches2 only
  std::vector<std::string> persistent_recursive;  // setWatches2 only
};
bool decode(JuteReader& r, SetWatchesRequest& m, bool version2);

struct AuthPacket {
  int32_t type = 0;
  std::string scheme;
  std::string auth;
};
bool decode(JuteReader& r, AuthPacket& m);

struct MultiHeader {
  int32_t type = -1;
  bool done = true;
  int32_t err = -1;
};
bool decode(JuteReader& r, MultiHeader& m);
void encode(JuteWriter& w, const MultiHeader& m);

// Shared pieces of responses.
void encode(JuteWriter& w, const Stat& s);
bool decode(JuteReader& r, Stat& s);
void encode(JuteWriter& w, const AclList& acl);
bool decode_acl_list(JuteReader& r, AclList& acl);
void encode(JuteWriter& w, const std::vector<std::string>& strings);
bool decode_string_list(JuteReader& r, std::vector<std::string>& out);

// A complete watch-event frame (length prefix included).
void encode_watch_event(std::string& out, EventType type, const std::string& path);

}  // namespace uk
