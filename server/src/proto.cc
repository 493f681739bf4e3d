#include "ukeeper/server/proto.h"

#include "ukeeper/common/znode_codec.h"

namespace uk {

bool decode(JuteReader& r, ConnectRequest& m) {
  m.protocol_version = r.get_int();
  m.last_zxid_seen = r.get_long();
  m.timeout_ms = r.get_int();
  m.session_id = r.get_long();
  m.passwd = r.get_string();
  if (r.ok() && r.remaining() >= 1) {
    m.has_read_only = true;
    m.read_only = r.get_bool();
  }
  return r.ok();
}

void encode(JuteWriter& w, const ConnectResponse& m) {
  w.put_int(m.protocol_version);
  w.put_int(m.timeout_ms);
  w.put_long(m.session_id);
  std::string pw = m.passwd;
  pw.resize(kPasswordBytes, '\0');
  w.put_buffer(std::string_view(pw));
  if (m.has_read_only) w.put_bool(m.read_only);
}

bool decode(JuteReader& r, RequestHeader& m) {
  m.xid = r.get_int();
  m.type = r.get_int();
  return r.ok();
}

void encode(JuteWriter& w, const ReplyHeader& m) {
  w.put_int(m.xid);
  w.put_long(m.zxid);
  w.put_int(m.err);
}

bool decode_acl_list(JuteReader& r, AclList& acl) {
  int32_t n = r.get_count(12);
  acl.clear();
  acl.reserve(static_cast<size_t>(n));
  for (int32_t i = 0; i < n && r.ok(); i++) {
    Acl a;
    a.perms = r.get_int();
    a.id.scheme = r.get_string();
    a.id.id = r.get_string();
    acl.push_back(std::move(a));
  }
  return r.ok();
}

void encode(JuteWriter& w, const AclList& acl) { put_acl_list(w, acl); }

bool decode_string_list(JuteReader& r, std::vector<std::string>& out) {
  int32_t n = r.get_count(4);
  out.clear();
  out.reserve(static_cast<size_t>(n));
  for (int32_t i = 0; i < n && r.ok(); i++) out.push_back(r.get_string());
  return r.ok();
}

void encode(JuteWriter& w, const std::vector<std::string>& strings) {
  w.put_int(static_cast<int32_t>(strings.size()));
  for (const std::string& s : strings) w.put_string(s);
}

bool decode(JuteReader& r, CreateRequest& m, bool with_ttl) {
  m.path = r.get_string();
  m.data = r.get_buffer();
  decode_acl_list(r, m.acl);
  m.flags = r.get_int();
  if (with_ttl) m.ttl = r.get_long();
  return r.ok();
}

bool decode(JuteReader& r, DeleteRequest& m) {
  m.path = r.get_string();
  m.version = r.get_int();
  return r.ok();
}

bool decode(JuteReader& r, PathWatchRequest& m) {
  m.path = r.get_string();
  m.watch = r.get_bool();
  return r.ok();
}

bool decode(JuteReader& r, PathRequest& m) {
  m.path = r.get_string();
  return r.ok();
}

bool decode(JuteReader& r, SetDataRequest& m) {
  m.path = r.get_string();
  m.data = r.get_buffer();
  m.version = r.get_int();
  return r.ok();
}

bool decode(JuteReader& r, SetAclRequest& m) {
  m.path = r.get_string();
  decode_acl_list(r, m.acl);
  m.version = r.get_int();
  return r.ok();
}

bool decode(JuteReader& r, CheckVersionRequest& m) {
  m.path = r.get_string();
  m.version = r.get_int();
  return r.ok();
}

bool decode(JuteReader& r, PathIntRequest& m) {
  m.path = r.get_string();
  m.value = r.get_int();
  return r.ok();
}

bool decode(JuteReader& r, SetWatchesRequest& m, bool version2) {
  m.relative_zxid = r.get_long();
  decode_string_list(r, m.data);
  decode_string_list(r, m.exist);
  decode_string_list(r, m.child);
  if (version2) {
    decode_string_list(r, m.persistent);
    decode_string_list(r, m.persistent_recursive);
  }
  return r.ok();
}

bool decode(JuteReader& r, AuthPacket& m) {
  m.type = r.get_int();
  m.scheme = r.get_string();
  m.auth = r.get_buffer().value_or(std::string());
  return r.ok();
}

bool decode(JuteReader& r, MultiHeader& m) {
  m.type = r.get_int();
  m.done = r.get_bool();
  m.err = r.get_int();
  return r.ok();
}

void encode(JuteWriter& w, const MultiHeader& m) {
  w.put_int(m.type);
  w.put_bool(m.done);
  w.put_int(m.err);
}

void encode(JuteWriter& w, const Stat& s) { put_stat(w, s); }

bool decode(JuteReader& r, Stat& s) {
  get_stat(r, s);
  return r.ok();
}

void encode_watch_event(std::string& out, EventType type, const std::string& path) {
  JuteWriter w(out);
  size_t frame = w.begin_frame();
  encode(w, ReplyHeader{kXidWatchEvent, -1, 0});
  w.put_int(static_cast<int32_t>(type));
  w.put_int(kKeeperStateSyncConnected);
  w.put_string(path);
  w.end_frame(frame);
}

}  // namespace uk
