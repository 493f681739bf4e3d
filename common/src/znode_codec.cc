#include "ukeeper/common/znode_codec.h"

#include <cinttypes>
#include <cstdio>

namespace uk {

void put_stat(JuteWriter& w, const Stat& s) {
  w.put_long(s.czxid);
  w.put_long(s.mzxid);
  w.put_long(s.ctime_ms);
  w.put_long(s.mtime_ms);
  w.put_int(s.version);
  w.put_int(s.cversion);
  w.put_int(s.aversion);
  w.put_long(s.ephemeral_owner);
  w.put_int(s.data_length);
  w.put_int(s.num_children);
  w.put_long(s.pzxid);
}

void get_stat(JuteReader& r, Stat& s) {
  s.czxid = r.get_long();
  s.mzxid = r.get_long();
  s.ctime_ms = r.get_long();
  s.mtime_ms = r.get_long();
  s.version = r.get_int();
  s.cversion = r.get_int();
  s.aversion = r.get_int();
  s.ephemeral_owner = r.get_long();
  s.data_length = r.get_int();
  s.num_children = r.get_int();
  s.pzxid = r.get_long();
}

void put_acl_list(JuteWriter& w, const AclList& acl) {
  w.put_int(static_cast<int32_t>(acl.size()));
  for (const Acl& a : acl) {
    w.put_int(a.perms);
    w.put_string(a.id.scheme);
    w.put_string(a.id.id);
  }
}

std::string zxid_file_name(std::string_view prefix, Zxid zxid, std::string_view suffix) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016" PRIx64, static_cast<uint64_t>(zxid));
  std::string name(prefix);
  name += hex;
  name += suffix;
  return name;
}

std::optional<Zxid> parse_zxid_file_name(std::string_view name, std::string_view prefix, std::string_view suffix) {
  if (name.size() != prefix.size() + 16 + suffix.size()) return std::nullopt;
  if (!name.starts_with(prefix) || !name.ends_with(suffix)) return std::nullopt;
  uint64_t v = 0;
  for (char c : name.substr(prefix.size(), 16)) {
    uint64_t d;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint64_t>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
    v = (v << 4) | d;
  }
  return static_cast<Zxid>(v);
}

}  // namespace uk
