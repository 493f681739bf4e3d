// Request records of the ZooKeeper protocol (zookeeper-protocol.md §3), encoded with jute; each function appends
// the record that follows the request header to `out`, so a caller reuses one buffer per request.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ukeeper/common/jute.h"

namespace uk::client {

inline constexpr int32_t kCreatePersistent = 0;
inline constexpr int32_t kCreateEphemeral = 1;
inline constexpr int32_t kCreateSequential = 2;
inline constexpr int32_t kCreateEphemeralSequential = 3;

// getData, exists, getChildren: path + watch flag.
inline void encode_path_watch(std::string& out, std::string_view path, bool watch) {
  JuteWriter w(out);
  w.put_string(path);
  w.put_bool(watch);
}

inline void encode_set_data(std::string& out, std::string_view path, std::string_view data, int32_t version = -1) {
  JuteWriter w(out);
  w.put_string(path);
  w.put_buffer(data);
  w.put_int(version);
}

// create with one ACL, world:anyone with all permissions.
inline void encode_create(std::string& out, std::string_view path, std::string_view data, int32_t flags) {
  JuteWriter w(out);
  w.put_string(path);
  w.put_buffer(data);
  w.put_int(1);
  w.put_int(31);
  w.put_string("world");
  w.put_string("anyone");
  w.put_int(flags);
}

inline void encode_delete(std::string& out, std::string_view path, int32_t version = -1) {
  JuteWriter w(out);
  w.put_string(path);
  w.put_int(version);
}

// multi: each op is a header {type, done = false, err = -1} followed by the op's own record; a header
// {-1, true, -1} ends the request. A caller appends encode_multi_op(out, type), then the op's record, per op.
inline void encode_multi_op(std::string& out, int32_t type) {
  JuteWriter w(out);
  w.put_int(type);
  w.put_bool(false);
  w.put_int(-1);
}
inline void encode_multi_end(std::string& out) {
  JuteWriter w(out);
  w.put_int(-1);
  w.put_bool(true);
  w.put_int(-1);
}

// Whether a multi reply reports success. The reply header's error code does not tell (ZooKeeper answers a failed
// multi with err 0): a multi that failed answers every op with an error result (header type -1), so the first
// op's header does.
inline bool multi_reply_ok(std::string_view body) {
  JuteReader r(body);
  int32_t type = r.get_int();
  bool done = r.get_bool();
  int32_t err = r.get_int();
  return r.ok() && (done || (type != -1 && err == 0));
}

// The path in a create reply (the actual name, with a sequence number for sequential nodes).
inline std::string decode_create_reply(std::string_view body) {
  JuteReader r(body);
  std::string path = r.get_string();
  return r.ok() ? path : std::string();
}

// The names in a getChildren reply.
inline bool decode_children_reply(std::string_view body, std::vector<std::string>& out) {
  JuteReader r(body);
  int32_t n = r.get_count(4);
  out.clear();
  for (int32_t i = 0; i < n && r.ok(); i++) out.push_back(r.get_string());
  return r.ok();
}

}  // namespace uk::client
