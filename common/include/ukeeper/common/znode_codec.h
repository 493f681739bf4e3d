// Jute encoding of the znode records every layer shares (Stat, ACL lists), and the zxid-named files of the
// data directory. One definition for the wire (server/), the txn log and the snapshots (storage/).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ukeeper/common/jute.h"
#include "ukeeper/common/znode.h"

namespace uk {

// Stat in wire order (zookeeper-protocol.md §6): 68 bytes.
void put_stat(JuteWriter& w, const Stat& s);
void get_stat(JuteReader& r, Stat& s);
// vector<ACL>: count, then {perms, scheme, id} each.
void put_acl_list(JuteWriter& w, const AclList& acl);

// "<prefix><zxid as 16 lowercase hex digits><suffix>", and back (nullopt for any other name).
std::string zxid_file_name(std::string_view prefix, Zxid zxid, std::string_view suffix);
std::optional<Zxid> parse_zxid_file_name(std::string_view name, std::string_view prefix, std::string_view suffix);

}  // namespace uk
