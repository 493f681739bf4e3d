// The request pipeline (server/src/processor.cc) driven directly: request bodies built with JuteWriter, reply
// frames decoded with JuteReader. zookeeper-protocol.md §3–§8: reply bodies, error precedence, sequential names,
// containers and TTLs, multi/multiRead, watches (incl. setWatches catch-up), sessions.
#include "ukeeper/server/processor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "ukeeper/server/acl.h"

namespace uk {
namespace {

constexpr SessionId kSession = 0x100000001;
constexpr SessionId kOther = 0x100000002;
constexpr int64_t kNow = 1'700'000'000'000;

const AclList kOpen = {Acl{perm::kAll, Id{"world", "anyone"}}};
const AclList kReadOnly = {Acl{perm::kRead, Id{"world", "anyone"}}};
const std::string kUserDigest = "user:smGaoVKd/cQkjm7b88GyorAUz20=";  // user:pass

struct Event {
  EventType type;
  std::string path;
  bool operator==(const Event&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Event& e) {
  return os << "{" << static_cast<int>(e.type) << ", " << e.path << "}";
}
using Events = std::vector<Event>;

// A connection stand-in: records events and, when `wire` is set, appends the event frame to it as a connection
// would append to its output buffer.
class FakeWatcher final : public Watcher {
 public:
  explicit FakeWatcher(const std::vector<Id>* ids) : ids_(ids) {}
  void deliver_event(EventType type, const std::string& path) override {
    events.push_back(Event{type, path});
    if (wire != nullptr) encode_watch_event(*wire, type, path);
  }
  const std::vector<Id>& watcher_ids() const override { return *ids_; }
  Events take() {
    Events out = std::move(events);
    events.clear();
    return out;
  }
  Events events;
  std::string* wire = nullptr;

 private:
  const std::vector<Id>* ids_;
};

struct Reply {
  int32_t xid = 0;
  Zxid zxid = 0;
  int32_t err = 0;
  std::string body;
  AfterReply after = AfterReply::kContinue;
  size_t frame_bytes = 0;
};

// --- request bodies --------------------------------------------------------------------------------------------

void put_acl(JuteWriter& w, const AclList& acl) { encode(w, acl); }

std::string create_body(const std::string& path, std::optional<std::string> data, const AclList& acl,
                        int32_t flags, std::optional<int64_t> ttl = std::nullopt) {
  std::string b;
  JuteWriter w(b);
  w.put_string(path);
  w.put_buffer(data);
  put_acl(w, acl);
  w.put_int(flags);
  if (ttl) w.put_long(*ttl);
  return b;
}

std::string path_version_body(const std::string& path, int32_t version) {
  std::string b;
  JuteWriter w(b);
  w.put_string(path);
  w.put_int(version);
  return b;
}

std::string path_watch_body(const std::string& path, bool watch) {
  std::string b;
  JuteWriter w(b);
  w.put_string(path);
  w.put_bool(watch);
  return b;
}

std::string path_body(const std::string& path) {
  std::string b;
  JuteWriter(b).put_string(path);
  return b;
}

std::string set_data_body(const std::string& path, std::optional<std::string> data, int32_t version) {
  std::string b;
  JuteWriter w(b);
  w.put_string(path);
  w.put_buffer(data);
  w.put_int(version);
  return b;
}

std::string set_acl_body(const std::string& path, const AclList& acl, int32_t version) {
  std::string b;
  JuteWriter w(b);
  w.put_string(path);
  put_acl(w, acl);
  w.put_int(version);
  return b;
}

std::string multi_body(const std::vector<std::pair<OpCode, std::string>>& ops) {
  std::string b;
  JuteWriter w(b);
  for (const auto& [op, body] : ops) {
    encode(w, MultiHeader{static_cast<int32_t>(op), false, -1});
    b.append(body);
  }
  encode(w, MultiHeader{-1, true, -1});
  return b;
}

std::string set_watches_body(Zxid rel, const std::vector<std::string>& data, const std::vector<std::string>& exist,
                             const std::vector<std::string>& child,
                             const std::optional<std::pair<std::vector<std::string>, std::vector<std::string>>>& v2 =
                                 std::nullopt) {
  std::string b;
  JuteWriter w(b);
  w.put_long(rel);
  encode(w, data);
  encode(w, exist);
  encode(w, child);
  if (v2) {
    encode(w, v2->first);
    encode(w, v2->second);
  }
  return b;
}

// --- reply decoding --------------------------------------------------------------------------------------------

Stat read_stat(JuteReader& r) {
  Stat s;
  EXPECT_TRUE(decode(r, s));
  return s;
}

Stat stat_of(const std::string& body) {
  JuteReader r(body);
  Stat s = read_stat(r);
  EXPECT_TRUE(r.at_end());
  return s;
}

std::string ustring(const std::string& s) {
  std::string b;
  JuteWriter(b).put_string(s);
  return b;
}

std::vector<std::string> read_strings(JuteReader& r) {
  std::vector<std::string> v;
  EXPECT_TRUE(decode_string_list(r, v));
  return v;
}

struct MultiResult {
  MultiHeader header;
  std::string path;           // create / create2
  std::optional<Stat> stat;   // create2, setData
  int32_t error = 0;          // error entries
  std::optional<std::string> data;
  std::vector<std::string> children;
};

// Decodes a multi (14) or multiRead (22) response; `read` selects the multiRead body shapes.
std::vector<MultiResult> decode_multi(const std::string& body, bool read = false) {
  std::vector<MultiResult> out;
  JuteReader r(body);
  for (;;) {
    MultiResult m;
    EXPECT_TRUE(decode(r, m.header));
    if (!r.ok() || m.header.done) break;
    switch (m.header.type) {
      case -1: m.error = r.get_int(); break;
      case 1: m.path = r.get_string(); break;
      case 15:
        m.path = r.get_string();
        m.stat = read_stat(r);
        break;
      case 5: m.stat = read_stat(r); break;
      case 4:
        if (read) {
          m.data = r.get_buffer();
          m.stat = read_stat(r);
        }
        break;
      case 8:
        if (read) m.children = read_strings(r);
        break;
      default: break;  // delete (2), check (13): no body
    }
    out.push_back(std::move(m));
  }
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.at_end()) << "trailing bytes in multi response";
  return out;
}

ServerConfig test_config(bool extended) {
  ServerConfig c;
  c.min_session_timeout_ms = 4000;
  c.max_session_timeout_ms = 40000;
  c.extended_types_enabled = extended;
  return c;
}

class ProcessorTest : public ::testing::Test {
 protected:
  explicit ProcessorTest(bool extended = true)
      : config_(test_config(extended)), proc_(config_, tree_, watches_) {
    client_.session = kSession;
    client_.auth_ids = {Id{"ip", "127.0.0.1"}};
    client_.watcher = &w1_;
    other_.session = kOther;
    other_.auth_ids = {Id{"ip", "127.0.0.1"}};
    other_.watcher = &w2_;
    proc_.create_session(0, kSession, 30000, kNow);
    proc_.create_session(0, kOther, 30000, kNow);
  }

  Reply call(ClientContext& c, OpCode op, const std::string& body, int64_t now_ms = kNow) {
    return call_raw(c, static_cast<int32_t>(op), body, now_ms);
  }
  Reply call(OpCode op, const std::string& body, int64_t now_ms = kNow) { return call(client_, op, body, now_ms); }

  Reply call_raw(ClientContext& c, int32_t type, const std::string& body, int64_t now_ms = kNow) {
    RequestHeader h{next_xid_++, type};
    JuteReader br(body);
    std::string out;
    Reply rep;
    rep.after = proc_.handle(c, h, br, out, now_ms);
    return parse_reply(out, h.xid, rep.after);
  }

  static Reply parse_reply(const std::string& out, int32_t xid, AfterReply after) {
    Reply rep;
    rep.after = after;
    rep.frame_bytes = out.size();
    JuteReader r(out);
    int32_t len = r.get_int();
    EXPECT_EQ(static_cast<size_t>(len), out.size() - 4) << "frame length";
    rep.xid = r.get_int();
    rep.zxid = r.get_long();
    rep.err = r.get_int();
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(rep.xid, xid) << "reply xid";
    rep.body = out.substr(std::min<size_t>(out.size(), 20));
    if (rep.err != 0) {
      EXPECT_TRUE(rep.body.empty()) << "an error reply carries no body";
    }
    return rep;
  }

  // Shorthands for the common requests (as `client_` unless told).
  Reply create(const std::string& path, std::optional<std::string> data = std::string(), int32_t flags = 0,
               const AclList& acl = kOpen) {
    return call(OpCode::kCreate, create_body(path, std::move(data), acl, flags));
  }
  Reply create_as(ClientContext& c, const std::string& path, int32_t flags = 0, const AclList& acl = kOpen) {
    return call(c, OpCode::kCreate, create_body(path, std::string(), acl, flags));
  }
  Reply create2(const std::string& path, std::optional<std::string> data, int32_t flags = 0,
                const AclList& acl = kOpen, int64_t now_ms = kNow) {
    return call(OpCode::kCreate2, create_body(path, std::move(data), acl, flags), now_ms);
  }
  void must_create(const std::string& path, int32_t flags = 0, const AclList& acl = kOpen) {
    Reply r = create(path, std::string(), flags, acl);
    ASSERT_EQ(r.err, 0) << "create " << path;
  }
  Reply del(const std::string& path, int32_t version = -1) {
    return call(OpCode::kDelete, path_version_body(path, version));
  }
  Reply set_data(const std::string& path, std::optional<std::string> data, int32_t version = -1,
                 int64_t now_ms = kNow) {
    return call(OpCode::kSetData, set_data_body(path, std::move(data), version), now_ms);
  }
  Reply set_acl(const std::string& path, const AclList& acl, int32_t version = -1) {
    return call(OpCode::kSetAcl, set_acl_body(path, acl, version));
  }
  Reply get_data(ClientContext& c, const std::string& path, bool watch = false) {
    return call(c, OpCode::kGetData, path_watch_body(path, watch));
  }
  Reply exists(ClientContext& c, const std::string& path, bool watch = false) {
    return call(c, OpCode::kExists, path_watch_body(path, watch));
  }
  Reply get_children(ClientContext& c, const std::string& path, bool watch = false) {
    return call(c, OpCode::kGetChildren, path_watch_body(path, watch));
  }
  Reply check_watches(ClientContext& c, const std::string& path, int32_t type) {
    return call(c, OpCode::kCheckWatches, path_version_body(path, type));
  }
  // Makes `path` with a child "c", then locks `path` down to `acl` (the creator keeps nothing extra).
  void make_locked_with_child(const std::string& path, const AclList& acl) {
    must_create(path);
    must_create(path + "/c");
    ASSERT_EQ(set_acl(path, acl).err, 0);
  }
  // The node at `path`; a missing node fails the test and reads as an empty node (never a null dereference).
  const Node& node(const std::string& path) {
    static const Node kMissing{};
    const Node* n = tree_.get(path);
    if (n == nullptr) {
      ADD_FAILURE() << "missing node " << path;
      return kMissing;
    }
    return *n;
  }
  Stat node_stat(const std::string& path) { return client_stat(node(path).stat); }

  ServerConfig config_;
  DataTree tree_;
  WatchManager watches_;
  Processor proc_;
  ClientContext client_;
  ClientContext other_;
  FakeWatcher w1_{&client_.auth_ids};
  FakeWatcher w2_{&other_.auth_ids};
  int32_t next_xid_ = 1;
};

constexpr int32_t kNoNode = -101, kNoAuth = -102, kBadVersion = -103, kNoChildrenForEphemerals = -108,
                  kNodeExists = -110, kNotEmpty = -111, kInvalidAcl = -114, kBadArguments = -8, kUnimplemented = -6,
                  kMarshalling = -5, kNoWatcher = -121, kRuntimeInconsistency = -2;

// ---------------------------------------------------------------------------------------------------------------
// Success replies of each write.

TEST_F(ProcessorTest, CreateRepliesWithPathOnly) {
  Zxid before = proc_.last_zxid();
  Reply r = create("/a", "hello");
  EXPECT_EQ(r.err, 0);
  EXPECT_EQ(r.body, ustring("/a"));
  EXPECT_EQ(r.zxid, before + 1);
  EXPECT_EQ(proc_.last_zxid(), before + 1);
  EXPECT_EQ(node("/a").stat.czxid, r.zxid);
  EXPECT_EQ(node("/a").data, std::optional<std::string>("hello"));
  EXPECT_EQ(r.after, AfterReply::kContinue);
}

TEST_F(ProcessorTest, Create2RepliesWithPathAndStat) {
  Reply r = create2("/a", "abc", 0, kOpen, kNow + 5);
  ASSERT_EQ(r.err, 0);
  JuteReader br(r.body);
  EXPECT_EQ(br.get_string(), "/a");
  Stat s = read_stat(br);
  EXPECT_TRUE(br.at_end());
  EXPECT_EQ(r.body.size(), 4u + 2u + 68u);
  EXPECT_EQ(s.czxid, r.zxid);
  EXPECT_EQ(s.mzxid, r.zxid);
  EXPECT_EQ(s.pzxid, r.zxid);
  EXPECT_EQ(s.ctime_ms, kNow + 5);
  EXPECT_EQ(s.mtime_ms, kNow + 5);
  EXPECT_EQ(s.version, 0);
  EXPECT_EQ(s.cversion, 0);
  EXPECT_EQ(s.aversion, 0);
  EXPECT_EQ(s.ephemeral_owner, 0);
  EXPECT_EQ(s.data_length, 3);
  EXPECT_EQ(s.num_children, 0);
}

TEST_F(ProcessorTest, EphemeralCreate2StatShowsSession) {
  Reply r = create2("/e", "", 1);
  ASSERT_EQ(r.err, 0);
  JuteReader br(r.body);
  EXPECT_EQ(br.get_string(), "/e");
  EXPECT_EQ(read_stat(br).ephemeral_owner, kSession);
  ASSERT_NE(tree_.ephemerals_of(kSession), nullptr);
  EXPECT_EQ(*tree_.ephemerals_of(kSession), (std::set<std::string>{"/e"}));
}

TEST_F(ProcessorTest, DeleteRepliesEmpty) {
  must_create("/a");
  Zxid before = proc_.last_zxid();
  Reply r = del("/a", 0);
  EXPECT_EQ(r.err, 0);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(r.frame_bytes, 20u);
  EXPECT_EQ(r.zxid, before + 1);
  EXPECT_EQ(tree_.get("/a"), nullptr);
}

TEST_F(ProcessorTest, SetDataRepliesWithStat) {
  must_create("/a");
  Reply r = set_data("/a", "new data", 0, kNow + 100);
  ASSERT_EQ(r.err, 0);
  Stat s = stat_of(r.body);
  EXPECT_EQ(s.version, 1);
  EXPECT_EQ(s.mzxid, r.zxid);
  EXPECT_EQ(s.mtime_ms, kNow + 100);
  EXPECT_EQ(s.ctime_ms, kNow);
  EXPECT_EQ(s.data_length, 8);
  EXPECT_EQ(s, node_stat("/a"));
  EXPECT_EQ(node("/a").data, std::optional<std::string>("new data"));
  // Version -1 matches any version.
  Reply r2 = set_data("/a", std::nullopt, -1);
  ASSERT_EQ(r2.err, 0);
  EXPECT_EQ(stat_of(r2.body).version, 2);
  EXPECT_EQ(stat_of(r2.body).data_length, 0);
  EXPECT_EQ(node("/a").data, std::nullopt);
}

TEST_F(ProcessorTest, SetAclChecksAversionAndRepliesWithStat) {
  must_create("/a");
  AclList two = {Acl{perm::kAll, Id{"ip", "127.0.0.1"}}, Acl{perm::kRead, Id{"world", "anyone"}}};
  Reply r = set_acl("/a", two, 0);
  ASSERT_EQ(r.err, 0);
  Stat s = stat_of(r.body);
  EXPECT_EQ(s.aversion, 1);
  EXPECT_EQ(s.version, 0);
  EXPECT_NE(s.mzxid, r.zxid);  // setACL changes neither data nor mzxid
  EXPECT_EQ(node("/a").acl, two);
  EXPECT_EQ(set_acl("/a", two, 0).err, kBadVersion);  // aversion is now 1
  EXPECT_EQ(stat_of(set_acl("/a", two, 1).body).aversion, 2);
  EXPECT_EQ(stat_of(set_acl("/a", two, -1).body).aversion, 3);
  EXPECT_EQ(set_acl("/a", {}, -1).err, kInvalidAcl);
  EXPECT_EQ(set_acl("/missing", two, -1).err, kNoNode);
}

TEST_F(ProcessorTest, GetAclRepliesWithAclAndStat) {
  must_create("/a");
  ASSERT_EQ(set_acl("/a", kOpen, -1).err, 0);
  Reply r = call(OpCode::kGetAcl, path_body("/a"));
  ASSERT_EQ(r.err, 0);
  JuteReader br(r.body);
  AclList acl;
  ASSERT_TRUE(decode_acl_list(br, acl));
  EXPECT_EQ(acl, kOpen);
  Stat s = read_stat(br);
  EXPECT_TRUE(br.at_end());
  EXPECT_EQ(s.aversion, 1);
  EXPECT_EQ(call(OpCode::kGetAcl, path_body("/missing")).err, kNoNode);
}

TEST_F(ProcessorTest, GetAclNeedsReadOrAdmin) {
  must_create("/admin-only", 0, {Acl{perm::kAdmin, Id{"ip", "127.0.0.1"}}});
  must_create("/write-only", 0, {Acl{perm::kWrite, Id{"ip", "127.0.0.1"}}});
  EXPECT_EQ(call(OpCode::kGetAcl, path_body("/admin-only")).err, 0);
  EXPECT_EQ(call(OpCode::kGetAcl, path_body("/write-only")).err, kNoAuth);
}

TEST_F(ProcessorTest, GetAclWithoutAdminRedactsDigests) {
  AclList acl = {Acl{perm::kRead, Id{"world", "anyone"}}, Acl{perm::kAll, Id{"digest", kUserDigest}}};
  must_create("/d", 0, acl);
  Reply r = call(OpCode::kGetAcl, path_body("/d"));
  ASSERT_EQ(r.err, 0);
  JuteReader br(r.body);
  AclList shown;
  ASSERT_TRUE(decode_acl_list(br, shown));
  EXPECT_EQ(shown, (AclList{Acl{perm::kRead, Id{"world", "anyone"}}, Acl{perm::kAll, Id{"digest", "user:x"}}}));
  // With ADMIN (as the digest user) the hash is shown.
  ASSERT_EQ(authenticate("digest", "user:pass", "", client_.auth_ids), Err::kOk);
  Reply full = call(OpCode::kGetAcl, path_body("/d"));
  JuteReader br2(full.body);
  ASSERT_TRUE(decode_acl_list(br2, shown));
  EXPECT_EQ(shown, acl);
}

TEST_F(ProcessorTest, SetAclFiresNoWatch) {
  must_create("/a");
  ASSERT_EQ(get_data(client_, "/a", true).err, 0);
  ASSERT_EQ(get_children(client_, "/a", true).err, 0);
  ASSERT_EQ(set_acl("/a", kOpen, -1).err, 0);
  EXPECT_TRUE(w1_.take().empty());
  EXPECT_EQ(check_watches(client_, "/a", 2).err, 0);
}

// ---------------------------------------------------------------------------------------------------------------
// Reads.

TEST_F(ProcessorTest, ExistsGetDataGetChildrenReplies) {
  ASSERT_EQ(create("/p", "pd").err, 0);
  must_create("/p/b");
  must_create("/p/a");
  ASSERT_EQ(create("/p/n", std::nullopt).err, 0);

  Reply e = exists(client_, "/p");
  ASSERT_EQ(e.err, 0);
  EXPECT_EQ(stat_of(e.body), node_stat("/p"));
  EXPECT_EQ(stat_of(e.body).num_children, 3);

  Reply g = get_data(client_, "/p");
  ASSERT_EQ(g.err, 0);
  JuteReader gr(g.body);
  EXPECT_EQ(gr.get_buffer(), std::optional<std::string>("pd"));
  EXPECT_EQ(read_stat(gr), node_stat("/p"));
  EXPECT_TRUE(gr.at_end());

  // Null data comes back as a null buffer (length -1).
  Reply gn = get_data(client_, "/p/n");
  ASSERT_EQ(gn.err, 0);
  EXPECT_EQ(gn.body.substr(0, 4), std::string(4, '\xff'));

  Reply c = get_children(client_, "/p");
  ASSERT_EQ(c.err, 0);
  JuteReader cr(c.body);
  EXPECT_EQ(read_strings(cr), (std::vector<std::string>{"a", "b", "n"}));
  EXPECT_TRUE(cr.at_end());

  Reply c2 = call(OpCode::kGetChildren2, path_watch_body("/p", false));
  ASSERT_EQ(c2.err, 0);
  JuteReader c2r(c2.body);
  EXPECT_EQ(read_strings(c2r), (std::vector<std::string>{"a", "b", "n"}));
  EXPECT_EQ(read_stat(c2r), node_stat("/p"));
  EXPECT_TRUE(c2r.at_end());

  EXPECT_EQ(exists(client_, "/nope").err, kNoNode);
  EXPECT_EQ(get_data(client_, "/nope").err, kNoNode);
  EXPECT_EQ(get_children(client_, "/nope").err, kNoNode);
}

TEST_F(ProcessorTest, ReadsReplyWithLastZxid) {
  must_create("/a");
  Zxid last = proc_.last_zxid();
  EXPECT_EQ(get_data(client_, "/a").zxid, last);
  EXPECT_EQ(exists(client_, "/missing").zxid, last);
  EXPECT_EQ(call(OpCode::kPing, "").zxid, last);
}

TEST_F(ProcessorTest, ChildrenStatCountsCreatesAndDeletes) {
  // Clients see cversion as creations + deletions (ZooKeeper's 2*creates - numChildren).
  must_create("/p");
  must_create("/p/a");
  must_create("/p/b");
  ASSERT_EQ(del("/p/a").err, 0);
  Stat s = stat_of(exists(client_, "/p").body);
  EXPECT_EQ(s.cversion, 3);
  EXPECT_EQ(s.num_children, 1);
  EXPECT_EQ(s.pzxid, proc_.last_zxid());
}

TEST_F(ProcessorTest, ReadsNeedRead) {
  must_create("/secret", 0, {Acl{perm::kWrite, Id{"world", "anyone"}}});
  EXPECT_EQ(get_data(client_, "/secret").err, kNoAuth);
  EXPECT_EQ(get_children(client_, "/secret").err, kNoAuth);
  EXPECT_EQ(call(OpCode::kGetAllChildrenNumber, path_body("/secret")).err, kNoAuth);
  // A super user reads anyway.
  ClientContext su;
  su.session = kSession;
  su.auth_ids = {Id{"super", ""}};
  EXPECT_EQ(get_data(su, "/secret").err, 0);
}

TEST_F(ProcessorTest, PingSyncReply) {
  Reply p = call(OpCode::kPing, "");
  EXPECT_EQ(p.err, 0);
  EXPECT_TRUE(p.body.empty());
  Reply s = call(OpCode::kSync, path_body("/zookeeper"));
  EXPECT_EQ(s.err, 0);
  EXPECT_EQ(s.body, ustring("/zookeeper"));
}

// ---------------------------------------------------------------------------------------------------------------
// Error precedence: create.

TEST_F(ProcessorTest, CreateBadArgumentsBeforeInvalidAcl) {
  EXPECT_EQ(call(OpCode::kCreate, create_body("noslash", "", {}, 0)).err, kBadArguments);
  EXPECT_EQ(call(OpCode::kCreate, create_body(std::string("/a\0b", 4), "", {}, 0)).err, kBadArguments);
  EXPECT_EQ(call(OpCode::kCreate, create_body("/a", "", {}, 7)).err, kBadArguments);   // unknown flags
  EXPECT_EQ(call(OpCode::kCreate, create_body("/a", "", {}, -1)).err, kBadArguments);  // unknown flags
}

TEST_F(ProcessorTest, CreateInvalidAclBeforeNoNode) {
  EXPECT_EQ(call(OpCode::kCreate, create_body("/missing/x", "", {}, 0)).err, kInvalidAcl);
  EXPECT_EQ(call(OpCode::kCreate, create_body("/missing/x", "", {Acl{31, Id{"world", "nobody"}}}, 0)).err,
            kInvalidAcl);
  EXPECT_EQ(call(OpCode::kCreate, create_body("/missing/x", "", {Acl{31, Id{"auth", ""}}}, 0)).err, kInvalidAcl);
  EXPECT_EQ(call(OpCode::kCreate, create_body("/missing/x", "", {Acl{31, Id{"ip", "1.2.3.4/40"}}}, 0)).err,
            kInvalidAcl);
}

TEST_F(ProcessorTest, CreateNoNodeBeforeNoAuth) {
  must_create("/locked", 0, kReadOnly);
  EXPECT_EQ(create("/locked/missing/x").err, kNoNode);
  EXPECT_EQ(create("/missing/x").err, kNoNode);
  EXPECT_EQ(create("/locked/x").err, kNoAuth);
}

TEST_F(ProcessorTest, CreateNoAuthBeforeNodeExists) {
  make_locked_with_child("/locked", kReadOnly);
  EXPECT_EQ(create("/locked/c").err, kNoAuth);
  must_create("/open");
  EXPECT_EQ(create("/open").err, kNodeExists);
  EXPECT_EQ(create("/").err, kNodeExists);
  EXPECT_EQ(create("/zookeeper").err, kNodeExists);
}

TEST_F(ProcessorTest, CreateNodeExistsBeforeNoChildrenForEphemerals) {
  must_create("/e", 1);
  EXPECT_EQ(create("/e/c").err, kNoChildrenForEphemerals);
  EXPECT_EQ(create("/e").err, kNodeExists);
  EXPECT_EQ(create("/e/s-", std::string(), 2).err, kNoChildrenForEphemerals);
  // An ephemeral the caller may not create under: NOAUTH comes first.
  ASSERT_EQ(set_acl("/e", kReadOnly, -1).err, 0);
  EXPECT_EQ(create("/e/c").err, kNoAuth);
}

TEST_F(ProcessorTest, CreateInvalidPathAfterParentChecks) {
  // ZooKeeper looks up the parent (text before the last '/') before validating the whole path.
  EXPECT_EQ(create("/missing/").err, kNoNode);
  EXPECT_EQ(create("/a//b").err, kNoNode);
  must_create("/a");
  EXPECT_EQ(create("/a/").err, kBadArguments);
  EXPECT_EQ(create("/a/.").err, kBadArguments);
  EXPECT_EQ(create("/a/..").err, kBadArguments);
  EXPECT_EQ(create("/a/\x01").err, kBadArguments);
  EXPECT_EQ(create("/a/", std::string(), 2).err, 0);  // sequential: "/a/0000000000"
}

TEST_F(ProcessorTest, CreateWithAuthAcl) {
  EXPECT_EQ(create("/x", "", 0, {Acl{perm::kAll, Id{"auth", ""}}}).err, kInvalidAcl);
  ASSERT_EQ(authenticate("digest", "user:pass", "", client_.auth_ids), Err::kOk);
  ASSERT_EQ(create("/x", "", 0, {Acl{perm::kAll, Id{"auth", ""}}}).err, 0);
  EXPECT_EQ(node("/x").acl, (AclList{Acl{perm::kAll, Id{"digest", kUserDigest}}}));
  // Someone else cannot read it.
  EXPECT_EQ(get_data(other_, "/x").err, kNoAuth);
  EXPECT_EQ(get_data(client_, "/x").err, 0);
}

TEST_F(ProcessorTest, FailedWriteChangesNothing) {
  must_create("/a");
  Zxid last = proc_.last_zxid();
  size_t nodes = tree_.node_count();
  EXPECT_EQ(create("/a").err, kNodeExists);
  EXPECT_EQ(del("/missing").err, kNoNode);
  EXPECT_EQ(set_data("/a", "x", 7).err, kBadVersion);
  EXPECT_EQ(proc_.last_zxid(), last);
  EXPECT_EQ(tree_.node_count(), nodes);
  EXPECT_EQ(node("/a").stat.version, 0);
}

// ---------------------------------------------------------------------------------------------------------------
// Error precedence: delete and setData.

TEST_F(ProcessorTest, DeleteBadArguments) {
  for (const char* p : {"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config", "noslash"}) {
    EXPECT_EQ(del(p).err, kBadArguments) << p;
  }
  EXPECT_EQ(del(std::string("/a\0", 3)).err, kBadArguments);
  EXPECT_NE(tree_.get("/zookeeper"), nullptr);
}

TEST_F(ProcessorTest, DeleteNoNodeParentBeforeNoAuth) {
  must_create("/locked", 0, kReadOnly);
  EXPECT_EQ(del("/missing/x").err, kNoNode);
  EXPECT_EQ(del("/locked/missing/x").err, kNoNode);
}

TEST_F(ProcessorTest, DeleteNoAuthBeforeNoNode) {
  must_create("/locked", 0, kReadOnly);
  EXPECT_EQ(del("/locked/missing").err, kNoAuth);
  EXPECT_EQ(del("/missing").err, kNoNode);
}

TEST_F(ProcessorTest, DeleteNoAuthBeforeBadVersion) {
  make_locked_with_child("/locked", kReadOnly);
  EXPECT_EQ(del("/locked/c", 99).err, kNoAuth);
}

TEST_F(ProcessorTest, DeleteBadVersionBeforeNotEmpty) {
  must_create("/p");
  must_create("/p/c");
  EXPECT_EQ(del("/p", 5).err, kBadVersion);
  EXPECT_EQ(del("/p", 0).err, kNotEmpty);
  EXPECT_EQ(del("/p", -1).err, kNotEmpty);
  ASSERT_EQ(set_data("/p/c", "x").err, 0);
  EXPECT_EQ(del("/p/c", 0).err, kBadVersion);
  EXPECT_EQ(del("/p/c", 1).err, 0);
  EXPECT_EQ(del("/p", 0).err, 0);
}

TEST_F(ProcessorTest, SetDataNoNodeBeforeNoAuthBeforeBadVersion) {
  EXPECT_EQ(set_data("/missing", "x", 99).err, kNoNode);
  must_create("/ro", 0, kReadOnly);
  EXPECT_EQ(set_data("/ro", "x", 99).err, kNoAuth);
  must_create("/rw");
  EXPECT_EQ(set_data("/rw", "x", 99).err, kBadVersion);
  EXPECT_EQ(set_data("/rw", "x", 0).err, 0);
}

// ---------------------------------------------------------------------------------------------------------------
// Sequential names.

TEST_F(ProcessorTest, SequentialNamesFromParentCversion) {
  must_create("/q");
  EXPECT_EQ(create("/q/lock-", "", 2).body, ustring("/q/lock-0000000000"));
  EXPECT_EQ(create("/q/lock-", "", 2).body, ustring("/q/lock-0000000001"));
  must_create("/q/plain");  // any child create bumps the counter
  EXPECT_EQ(create("/q/lock-", "", 3).body, ustring("/q/lock-0000000003"));
  ASSERT_EQ(del("/q/plain").err, 0);  // deletes do not
  EXPECT_EQ(create("/q/", "", 2).body, ustring("/q/0000000004"));
  EXPECT_NE(tree_.get("/q/lock-0000000003"), nullptr);
  EXPECT_EQ(node("/q/lock-0000000003").stat.ephemeral_owner, kSession);
  EXPECT_EQ(node("/q/lock-0000000001").stat.ephemeral_owner, 0);
}

TEST_F(ProcessorTest, SequentialAtRoot) {
  // "/" with the sequential flag names a child of the root, as ZooKeeper (the system nodes count no creates).
  Reply r = create("/", "", 2);
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.body, ustring("/0000000000"));
}

TEST_F(ProcessorTest, SequentialCreate2ReturnsNameAndStat) {
  must_create("/q");
  Reply r = create2("/q/s-", "", 2);
  ASSERT_EQ(r.err, 0);
  JuteReader br(r.body);
  EXPECT_EQ(br.get_string(), "/q/s-0000000000");
  EXPECT_EQ(read_stat(br).czxid, r.zxid);
}

// ---------------------------------------------------------------------------------------------------------------
// Containers and TTL nodes.

TEST_F(ProcessorTest, ContainerCreateAndReap) {
  Reply r = call(OpCode::kCreateContainer, create_body("/c", "", kOpen, 4));
  ASSERT_EQ(r.err, 0);
  JuteReader br(r.body);
  EXPECT_EQ(br.get_string(), "/c");
  Stat s = read_stat(br);
  EXPECT_EQ(s.czxid, r.zxid);
  EXPECT_EQ(s.ephemeral_owner, 0);  // ZooKeeper 3.8 shows 0 for containers
  EXPECT_EQ(node("/c").stat.ephemeral_owner, owner::kContainer);
  EXPECT_EQ(tree_.containers(), (std::set<std::string>{"/c"}));

  // Never had a child: stays.
  proc_.reap_containers_and_ttls(kNow + 100000);
  ASSERT_NE(tree_.get("/c"), nullptr);
  must_create("/c/x");
  proc_.reap_containers_and_ttls(kNow + 100000);
  ASSERT_NE(tree_.get("/c"), nullptr);  // not empty
  ASSERT_EQ(exists(client_, "/c", true).err, 0);
  ASSERT_EQ(del("/c/x").err, 0);
  w1_.take();
  Zxid before = proc_.last_zxid();
  proc_.reap_containers_and_ttls(kNow + 100000);
  EXPECT_EQ(tree_.get("/c"), nullptr);
  EXPECT_TRUE(tree_.containers().empty());
  EXPECT_EQ(proc_.last_zxid(), before + 1);
  EXPECT_EQ(w1_.take(), (Events{{EventType::kNodeDeleted, "/c"}}));
}

TEST_F(ProcessorTest, ContainerMayHoldEphemerals) {
  ASSERT_EQ(call(OpCode::kCreateContainer, create_body("/c", "", kOpen, 4)).err, 0);
  EXPECT_EQ(create("/c/e", "", 1).err, 0);  // containers may hold ephemerals
}

TEST_F(ProcessorTest, TtlCreateAndReap) {
  Reply r = call(OpCode::kCreateTtl, create_body("/t", "", kOpen, 5, 1000), kNow);
  ASSERT_EQ(r.err, 0);
  JuteReader br(r.body);
  EXPECT_EQ(br.get_string(), "/t");
  Stat s = read_stat(br);
  EXPECT_EQ(s.ephemeral_owner, 0);  // ZooKeeper 3.8 shows 0 for TTL nodes
  EXPECT_EQ(node("/t").stat.ephemeral_owner, owner::make_ttl(1000));
  EXPECT_EQ(tree_.ttl_nodes(), (std::set<std::string>{"/t"}));

  proc_.reap_containers_and_ttls(kNow + 1000);  // not yet past the ttl
  ASSERT_NE(tree_.get("/t"), nullptr);
  must_create("/t/child");
  proc_.reap_containers_and_ttls(kNow + 5000);  // has a child
  ASSERT_NE(tree_.get("/t"), nullptr);
  ASSERT_EQ(del("/t/child").err, 0);
  ASSERT_EQ(set_data("/t", "touch", -1, kNow + 4000).err, 0);  // mtime moves the deadline
  proc_.reap_containers_and_ttls(kNow + 5000);
  ASSERT_NE(tree_.get("/t"), nullptr);
  proc_.reap_containers_and_ttls(kNow + 5001);
  EXPECT_EQ(tree_.get("/t"), nullptr);
  EXPECT_TRUE(tree_.ttl_nodes().empty());
}

TEST_F(ProcessorTest, TtlSequential) {
  must_create("/q");
  Reply r = call(OpCode::kCreateTtl, create_body("/q/t-", "", kOpen, 6, 60000));
  ASSERT_EQ(r.err, 0);
  JuteReader br(r.body);
  EXPECT_EQ(br.get_string(), "/q/t-0000000000");
}

TEST_F(ProcessorTest, TtlBadArguments) {
  EXPECT_EQ(call(OpCode::kCreateTtl, create_body("/t", "", kOpen, 5, 0)).err, kBadArguments);
  EXPECT_EQ(call(OpCode::kCreateTtl, create_body("/t", "", kOpen, 5, -5)).err, kBadArguments);
  EXPECT_EQ(call(OpCode::kCreateTtl, create_body("/t", "", kOpen, 5, int64_t{1} << 40)).err, kBadArguments);
  EXPECT_EQ(call(OpCode::kCreateTtl, create_body("/t", "", kOpen, 0, 1000)).err, kBadArguments);
  EXPECT_EQ(call(OpCode::kCreate, create_body("/t", "", kOpen, 5)).err, kBadArguments);  // TTL flag without ttl
  EXPECT_EQ(tree_.get("/t"), nullptr);
}

class ProcessorNoExtendedTypesTest : public ProcessorTest {
 protected:
  ProcessorNoExtendedTypesTest() : ProcessorTest(false) {}
};

TEST_F(ProcessorNoExtendedTypesTest, TtlUnimplemented) {
  EXPECT_EQ(call(OpCode::kCreateTtl, create_body("/t", "", kOpen, 5, 1000)).err, kUnimplemented);
  EXPECT_EQ(call(OpCode::kCreateTtl, create_body("/t", "", kOpen, 6, 1000)).err, kUnimplemented);
  EXPECT_EQ(call(OpCode::kCreate, create_body("/t", "", kOpen, 5)).err, kUnimplemented);
  EXPECT_EQ(tree_.get("/t"), nullptr);
  // Containers do not need extended types.
  EXPECT_EQ(call(OpCode::kCreateContainer, create_body("/c", "", kOpen, 4)).err, 0);
}

// ---------------------------------------------------------------------------------------------------------------
// multi

TEST_F(ProcessorTest, MultiSuccessUnderOneZxid) {
  must_create("/s");
  Zxid before = proc_.last_zxid();
  Reply r = call(OpCode::kMulti, multi_body({{OpCode::kCreate, create_body("/m", "a", kOpen, 0)},
                                             {OpCode::kCreate2, create_body("/m/c2", "bb", kOpen, 0)},
                                             {OpCode::kCreateContainer, create_body("/m/k", "", kOpen, 4)},
                                             {OpCode::kSetData, set_data_body("/m", "aaa", 0)},
                                             {OpCode::kCheck, path_version_body("/m", 1)},
                                             {OpCode::kDelete, path_version_body("/s", 0)},
                                             {OpCode::kCreate, create_body("/m/seq-", "", kOpen, 2)},
                                             {OpCode::kCreate, create_body("/m/seq-", "", kOpen, 2)}}));
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.zxid, before + 1);
  EXPECT_EQ(proc_.last_zxid(), before + 1);
  std::vector<MultiResult> res = decode_multi(r.body);
  ASSERT_EQ(res.size(), 8u);
  for (const MultiResult& m : res) {
    EXPECT_FALSE(m.header.done);
    EXPECT_EQ(m.header.err, 0);
  }
  EXPECT_EQ(res[0].header.type, 1);
  EXPECT_EQ(res[0].path, "/m");
  // ZooKeeper 3.8 answers create2 inside a multi with a plain CreateResponse.
  EXPECT_EQ(res[1].header.type, 1);
  EXPECT_EQ(res[1].path, "/m/c2");
  EXPECT_EQ(res[2].header.type, 15);
  EXPECT_EQ(res[2].path, "/m/k");
  ASSERT_TRUE(res[2].stat.has_value());
  EXPECT_EQ(res[2].stat->czxid, r.zxid);
  EXPECT_EQ(res[3].header.type, 5);
  ASSERT_TRUE(res[3].stat.has_value());
  EXPECT_EQ(res[3].stat->version, 1);
  EXPECT_EQ(res[3].stat->mzxid, r.zxid);
  EXPECT_EQ(res[4].header.type, 13);
  EXPECT_EQ(res[5].header.type, 2);
  EXPECT_EQ(res[6].path, "/m/seq-0000000002");
  EXPECT_EQ(res[7].path, "/m/seq-0000000003");
  for (const char* p : {"/m", "/m/c2", "/m/k", "/m/seq-0000000002", "/m/seq-0000000003"}) {
    ASSERT_NE(tree_.get(p), nullptr) << p;
    EXPECT_EQ(node(p).stat.czxid, r.zxid) << p;
  }
  EXPECT_EQ(tree_.get("/s"), nullptr);
  EXPECT_EQ(node("/m").data, std::optional<std::string>("aaa"));
}

TEST_F(ProcessorTest, MultiFailureAppliesNothing) {
  must_create("/exists");
  Zxid before = proc_.last_zxid();
  size_t nodes = tree_.node_count();
  Reply r = call(OpCode::kMulti, multi_body({{OpCode::kCreate, create_body("/f1", "", kOpen, 0)},
                                             {OpCode::kSetData, set_data_body("/exists", "x", -1)},
                                             {OpCode::kSetData, set_data_body("/missing", "x", -1)},
                                             {OpCode::kCreate, create_body("/f2", "", kOpen, 0)},
                                             {OpCode::kDelete, path_version_body("/exists", -1)}}));
  EXPECT_EQ(r.err, 0);  // a failed multi still has ReplyHeader.err 0
  std::vector<MultiResult> res = decode_multi(r.body);
  ASSERT_EQ(res.size(), 5u);
  std::vector<int32_t> want = {0, 0, kNoNode, kRuntimeInconsistency, kRuntimeInconsistency};
  for (size_t i = 0; i < res.size(); i++) {
    EXPECT_EQ(res[i].header.type, -1) << i;
    EXPECT_FALSE(res[i].header.done) << i;
    EXPECT_EQ(res[i].header.err, want[i]) << i;
    EXPECT_EQ(res[i].error, want[i]) << i;
  }
  EXPECT_EQ(tree_.get("/f1"), nullptr);
  EXPECT_EQ(tree_.get("/f2"), nullptr);
  EXPECT_EQ(node("/exists").stat.version, 0);
  EXPECT_EQ(tree_.node_count(), nodes);
  EXPECT_EQ(proc_.last_zxid(), before);
  EXPECT_EQ(r.zxid, before);
}

TEST_F(ProcessorTest, MultiSeesItsOwnEarlierOps) {
  // delete of a node that an earlier op gave a child fails NOTEMPTY; nothing applies.
  Reply r = call(OpCode::kMulti, multi_body({{OpCode::kCreate, create_body("/m", "", kOpen, 0)},
                                             {OpCode::kCreate, create_body("/m/c", "", kOpen, 0)},
                                             {OpCode::kDelete, path_version_body("/m", -1)}}));
  ASSERT_EQ(r.err, 0);
  std::vector<MultiResult> res = decode_multi(r.body);
  ASSERT_EQ(res.size(), 3u);
  EXPECT_EQ(res[0].error, 0);
  EXPECT_EQ(res[1].error, 0);
  EXPECT_EQ(res[2].error, kNotEmpty);
  EXPECT_EQ(tree_.get("/m"), nullptr);

  // An ephemeral made earlier in the multi cannot take a child.
  Reply e = call(OpCode::kMulti, multi_body({{OpCode::kCreate, create_body("/e", "", kOpen, 1)},
                                             {OpCode::kCreate, create_body("/e/c", "", kOpen, 0)}}));
  res = decode_multi(e.body);
  ASSERT_EQ(res.size(), 2u);
  EXPECT_EQ(res[1].error, kNoChildrenForEphemerals);

  // A check sees a setData made earlier in the same multi.
  must_create("/v");
  Reply v = call(OpCode::kMulti, multi_body({{OpCode::kSetData, set_data_body("/v", "x", 0)},
                                             {OpCode::kCheck, path_version_body("/v", 0)}}));
  res = decode_multi(v.body);
  ASSERT_EQ(res.size(), 2u);
  EXPECT_EQ(res[1].error, kBadVersion);
  EXPECT_EQ(node("/v").stat.version, 0);
}

TEST_F(ProcessorTest, MultiCheckFailure) {
  must_create("/c");
  Reply r = call(OpCode::kMulti, multi_body({{OpCode::kCheck, path_version_body("/c", 3)},
                                             {OpCode::kCreate, create_body("/n", "", kOpen, 0)}}));
  std::vector<MultiResult> res = decode_multi(r.body);
  ASSERT_EQ(res.size(), 2u);
  EXPECT_EQ(res[0].error, kBadVersion);
  EXPECT_EQ(res[1].error, kRuntimeInconsistency);
  EXPECT_EQ(tree_.get("/n"), nullptr);
}

TEST_F(ProcessorTest, MultiWithReadOpIsMarshallingError) {
  must_create("/a");
  Zxid before = proc_.last_zxid();
  Reply r = call(OpCode::kMulti, multi_body({{OpCode::kCreate, create_body("/b", "", kOpen, 0)},
                                             {OpCode::kGetData, path_watch_body("/a", false)}}));
  EXPECT_EQ(r.err, kMarshalling);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(tree_.get("/b"), nullptr);
  EXPECT_EQ(proc_.last_zxid(), before);
}

TEST_F(ProcessorTest, MultiTruncatedIsMarshallingError) {
  std::string body = multi_body({{OpCode::kCreate, create_body("/b", "", kOpen, 0)}});
  body.resize(body.size() - 9);  // drop the end marker
  body.resize(body.size() - 2);  // and cut into the create
  EXPECT_EQ(call(OpCode::kMulti, body).err, kMarshalling);
  EXPECT_EQ(tree_.get("/b"), nullptr);
}

TEST_F(ProcessorTest, EmptyMulti) {
  Zxid before = proc_.last_zxid();
  Reply r = call(OpCode::kMulti, multi_body({}));
  ASSERT_EQ(r.err, 0);
  EXPECT_TRUE(decode_multi(r.body).empty());
  EXPECT_EQ(proc_.last_zxid(), before);
}

TEST_F(ProcessorTest, MultiEventsFireAfterApply) {
  ASSERT_EQ(exists(other_, "/m", true).err, kNoNode);
  ASSERT_EQ(call(OpCode::kMulti, multi_body({{OpCode::kCreate, create_body("/m", "", kOpen, 0)},
                                             {OpCode::kSetData, set_data_body("/m", "x", -1)}}))
                .err,
            0);
  EXPECT_EQ(w2_.take(), (Events{{EventType::kNodeCreated, "/m"}}));
}

// ---------------------------------------------------------------------------------------------------------------
// multiRead

TEST_F(ProcessorTest, MultiReadPerOpResults) {
  ASSERT_EQ(create("/a", "data").err, 0);
  must_create("/a/x");
  must_create("/a/y");
  must_create("/secret", 0, {Acl{perm::kWrite, Id{"world", "anyone"}}});
  Reply r = call(OpCode::kMultiRead, multi_body({{OpCode::kGetData, path_watch_body("/a", false)},
                                                 {OpCode::kGetChildren, path_watch_body("/a", false)},
                                                 {OpCode::kGetData, path_watch_body("/missing", false)},
                                                 {OpCode::kGetChildren, path_watch_body("/secret", false)}}));
  ASSERT_EQ(r.err, 0);
  std::vector<MultiResult> res = decode_multi(r.body, true);
  ASSERT_EQ(res.size(), 4u);
  EXPECT_EQ(res[0].header.type, 4);
  EXPECT_EQ(res[0].header.err, 0);
  EXPECT_EQ(res[0].data, std::optional<std::string>("data"));
  ASSERT_TRUE(res[0].stat.has_value());
  EXPECT_EQ(*res[0].stat, node_stat("/a"));
  EXPECT_EQ(res[1].header.type, 8);
  EXPECT_EQ(res[1].children, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(res[2].header.type, -1);
  EXPECT_EQ(res[2].header.err, kNoNode);
  EXPECT_EQ(res[2].error, kNoNode);
  EXPECT_EQ(res[3].header.type, -1);
  EXPECT_EQ(res[3].error, kNoAuth);
}

TEST_F(ProcessorTest, MultiReadWithWriteIsMarshallingError) {
  Reply r = call(OpCode::kMultiRead, multi_body({{OpCode::kGetData, path_watch_body("/zookeeper", false)},
                                                 {OpCode::kCreate, create_body("/b", "", kOpen, 0)}}));
  EXPECT_EQ(r.err, kMarshalling);
  EXPECT_EQ(tree_.get("/b"), nullptr);
}

// ---------------------------------------------------------------------------------------------------------------
// Watches through requests.

TEST_F(ProcessorTest, ExistsWatchOnMissingNodeFiresNodeCreatedBeforeReply) {
  EXPECT_EQ(exists(client_, "/w", true).err, kNoNode);
  EXPECT_EQ(check_watches(client_, "/w", 2).err, 0);
  // The creator is another connection; its reply is built after the event reached the watcher.
  std::string other_out;
  w1_.wire = &other_out;  // w1's connection buffer
  Reply r = create_as(other_, "/w");
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(w1_.take(), (Events{{EventType::kNodeCreated, "/w"}}));
  // The event frame is complete on the watcher's connection.
  JuteReader er(other_out);
  EXPECT_EQ(er.get_int(), static_cast<int32_t>(other_out.size() - 4));
  EXPECT_EQ(er.get_int(), -1);
  EXPECT_EQ(er.get_long(), -1);
  EXPECT_EQ(er.get_int(), 0);
  EXPECT_EQ(er.get_int(), 1);
  EXPECT_EQ(er.get_int(), 3);
  EXPECT_EQ(er.get_string(), "/w");
  // One-shot.
  ASSERT_EQ(set_data("/w", "x").err, 0);
  EXPECT_TRUE(w1_.take().empty());
}

TEST_F(ProcessorTest, OwnWatchEventPrecedesOwnReply) {
  ASSERT_EQ(exists(client_, "/own", true).err, kNoNode);
  std::string out;
  w1_.wire = &out;
  RequestHeader h{77, static_cast<int32_t>(OpCode::kCreate)};
  std::string body = create_body("/own", "", kOpen, 0);
  JuteReader br(body);
  ASSERT_EQ(proc_.handle(client_, h, br, out, kNow), AfterReply::kContinue);
  JuteReader r(out);
  int32_t len1 = r.get_int();
  EXPECT_EQ(r.get_int(), -1);  // the event comes first
  r.get_long();
  r.get_int();
  EXPECT_EQ(r.get_int(), static_cast<int32_t>(EventType::kNodeCreated));
  r.get_int();
  EXPECT_EQ(r.get_string(), "/own");
  EXPECT_EQ(r.position(), static_cast<size_t>(len1) + 4);
  int32_t len2 = r.get_int();
  EXPECT_EQ(r.get_int(), 77);  // then the reply
  EXPECT_EQ(r.get_long(), proc_.last_zxid());
  EXPECT_EQ(r.get_int(), 0);
  EXPECT_EQ(r.get_string(), "/own");
  EXPECT_TRUE(r.at_end());
  EXPECT_EQ(static_cast<size_t>(len1) + static_cast<size_t>(len2) + 8, out.size());
}

TEST_F(ProcessorTest, GetDataWatchFiresOnSetDataAndDelete) {
  must_create("/d");
  ASSERT_EQ(get_data(client_, "/d", true).err, 0);
  ASSERT_EQ(get_data(other_, "/d", true).err, 0);
  ASSERT_EQ(set_data("/d", "x").err, 0);
  EXPECT_EQ(w1_.take(), (Events{{EventType::kNodeDataChanged, "/d"}}));
  EXPECT_EQ(w2_.take(), (Events{{EventType::kNodeDataChanged, "/d"}}));
  ASSERT_EQ(get_data(client_, "/d", true).err, 0);
  ASSERT_EQ(del("/d").err, 0);
  EXPECT_EQ(w1_.take(), (Events{{EventType::kNodeDeleted, "/d"}}));
  EXPECT_TRUE(w2_.take().empty());
}

TEST_F(ProcessorTest, GetChildrenWatchFiresOnChildCreateAndDelete) {
  must_create("/p");
  ASSERT_EQ(get_children(client_, "/p", true).err, 0);
  ASSERT_EQ(call(other_, OpCode::kGetChildren2, path_watch_body("/p", true)).err, 0);
  must_create("/p/c");
  EXPECT_EQ(w1_.take(), (Events{{EventType::kNodeChildrenChanged, "/p"}}));
  EXPECT_EQ(w2_.take(), (Events{{EventType::kNodeChildrenChanged, "/p"}}));
  ASSERT_EQ(get_children(client_, "/p", true).err, 0);
  ASSERT_EQ(set_data("/p", "x").err, 0);  // data change is not a child change
  EXPECT_TRUE(w1_.take().empty());
  ASSERT_EQ(del("/p/c").err, 0);
  EXPECT_EQ(w1_.take(), (Events{{EventType::kNodeChildrenChanged, "/p"}}));
}

TEST_F(ProcessorTest, DeleteNotifiesDataAndChildWatchersOnce) {
  must_create("/p");
  must_create("/p/c");
  ASSERT_EQ(get_data(client_, "/p/c", true).err, 0);
  ASSERT_EQ(get_children(client_, "/p/c", true).err, 0);
  ASSERT_EQ(get_children(other_, "/p", true).err, 0);
  ASSERT_EQ(del("/p/c").err, 0);
  EXPECT_EQ(w1_.take(), (Events{{EventType::kNodeDeleted, "/p/c"}}));
  EXPECT_EQ(w2_.take(), (Events{{EventType::kNodeChildrenChanged, "/p"}}));
}

TEST_F(ProcessorTest, WatchOnMissingNodeNotSetByGetDataOrGetChildren) {
  EXPECT_EQ(get_data(client_, "/later", true).err, kNoNode);
  EXPECT_EQ(get_children(client_, "/later", true).err, kNoNode);
  EXPECT_EQ(check_watches(client_, "/later", 3).err, kNoWatcher);
  must_create("/later");
  EXPECT_TRUE(w1_.take().empty());
}

TEST_F(ProcessorTest, NoAuthReadSetsNoWatch) {
  must_create("/secret", 0, {Acl{perm::kWrite, Id{"world", "anyone"}}});
  EXPECT_EQ(get_data(client_, "/secret", true).err, kNoAuth);
  EXPECT_EQ(check_watches(client_, "/secret", 3).err, kNoWatcher);
}

// ---------------------------------------------------------------------------------------------------------------
// setWatches / setWatches2

TEST_F(ProcessorTest, SetWatchesCatchUpAndReArm) {
  must_create("/d");        // data watch, unchanged
  must_create("/dm");       // data watch, changed after rel
  must_create("/e");        // exist watch, exists
  must_create("/c");        // child watch, unchanged
  must_create("/cc");       // child watch, children changed after rel
  Zxid rel = proc_.last_zxid();
  ASSERT_EQ(set_data("/dm", "x").err, 0);
  must_create("/cc/k");

  Reply r = call(OpCode::kSetWatches,
                 set_watches_body(rel, {"/d", "/dm", "/gone"}, {"/e", "/ne"}, {"/c", "/cc", "/cgone"}));
  ASSERT_EQ(r.err, 0);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(w1_.take(), (Events{{EventType::kNodeDataChanged, "/dm"},
                                {EventType::kNodeDeleted, "/gone"},
                                {EventType::kNodeCreated, "/e"},
                                {EventType::kNodeChildrenChanged, "/cc"},
                                {EventType::kNodeDeleted, "/cgone"}}));
  // The others were re-armed.
  EXPECT_EQ(check_watches(client_, "/d", 2).err, 0);
  EXPECT_EQ(check_watches(client_, "/ne", 2).err, 0);
  EXPECT_EQ(check_watches(client_, "/c", 1).err, 0);
  EXPECT_EQ(check_watches(client_, "/dm", 3).err, kNoWatcher);
  EXPECT_EQ(check_watches(client_, "/e", 3).err, kNoWatcher);
  ASSERT_EQ(set_data("/d", "x").err, 0);
  must_create("/ne");
  must_create("/c/k");
  EXPECT_EQ(w1_.take(), (Events{{EventType::kNodeDataChanged, "/d"},
                                {EventType::kNodeCreated, "/ne"},
                                {EventType::kNodeChildrenChanged, "/c"}}));
}

TEST_F(ProcessorTest, SetWatchesNothingChanged) {
  must_create("/d");
  Reply r = call(OpCode::kSetWatches, set_watches_body(proc_.last_zxid(), {"/d"}, {}, {"/d"}));
  ASSERT_EQ(r.err, 0);
  EXPECT_TRUE(w1_.take().empty());
  EXPECT_EQ(check_watches(client_, "/d", 2).err, 0);
  EXPECT_EQ(check_watches(client_, "/d", 1).err, 0);
}

TEST_F(ProcessorTest, SetWatches2PersistentReArmWithoutCatchUp) {
  must_create("/p");
  Zxid rel = proc_.last_zxid();
  ASSERT_EQ(set_data("/p", "changed").err, 0);  // no catch-up for persistent watches
  Reply r = call(OpCode::kSetWatches2,
                 set_watches_body(rel, {}, {}, {}, std::make_pair(std::vector<std::string>{"/p"},
                                                                  std::vector<std::string>{"/r"})));
  ASSERT_EQ(r.err, 0);
  EXPECT_TRUE(w1_.take().empty());
  EXPECT_EQ(check_watches(client_, "/p", 4).err, 0);
  EXPECT_EQ(check_watches(client_, "/r", 5).err, 0);
  ASSERT_EQ(set_data("/p", "again").err, 0);
  ASSERT_EQ(set_data("/p", "again2").err, 0);
  must_create("/r");
  must_create("/r/x");
  EXPECT_EQ(w1_.take(), (Events{{EventType::kNodeDataChanged, "/p"},
                                {EventType::kNodeDataChanged, "/p"},
                                {EventType::kNodeCreated, "/r"},
                                {EventType::kNodeCreated, "/r/x"}}));
}

TEST_F(ProcessorTest, SetWatchesMalformed) {
  std::string body = set_watches_body(0, {"/a"}, {}, {});
  body.resize(body.size() - 1);
  EXPECT_EQ(call(OpCode::kSetWatches, body).err, kMarshalling);
}

// ---------------------------------------------------------------------------------------------------------------
// checkWatches / removeWatches / addWatch

TEST_F(ProcessorTest, CheckAndRemoveWatches) {
  must_create("/a");
  EXPECT_EQ(check_watches(client_, "/a", 2).err, kNoWatcher);
  EXPECT_EQ(call(OpCode::kRemoveWatches, path_version_body("/a", 3)).err, kNoWatcher);
  ASSERT_EQ(get_data(client_, "/a", true).err, 0);
  Reply ok = check_watches(client_, "/a", 2);
  EXPECT_EQ(ok.err, 0);
  EXPECT_TRUE(ok.body.empty());
  EXPECT_EQ(check_watches(client_, "/a", 1).err, kNoWatcher);
  EXPECT_EQ(check_watches(client_, "/a", 3).err, 0);
  EXPECT_EQ(check_watches(other_, "/a", 3).err, kNoWatcher);  // watches are per connection
  EXPECT_EQ(call(OpCode::kRemoveWatches, path_version_body("/a", 1)).err, kNoWatcher);
  EXPECT_EQ(call(OpCode::kRemoveWatches, path_version_body("/a", 2)).err, 0);
  EXPECT_EQ(call(OpCode::kRemoveWatches, path_version_body("/a", 2)).err, kNoWatcher);
  ASSERT_EQ(set_data("/a", "x").err, 0);
  EXPECT_TRUE(w1_.take().empty());
}

TEST_F(ProcessorTest, CheckWatchesBadType) {
  EXPECT_EQ(check_watches(client_, "/a", 0).err, kBadArguments);
  EXPECT_EQ(check_watches(client_, "/a", 6).err, kBadArguments);
}

TEST_F(ProcessorTest, AddWatchPersistent) {
  Reply r = call(OpCode::kAddWatch, path_version_body("/p", 0));
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.body, std::string(4, '\0'));  // ErrorResponse{0}
  must_create("/p");
  ASSERT_EQ(set_data("/p", "1").err, 0);
  ASSERT_EQ(set_data("/p", "2").err, 0);
  must_create("/p/c");
  must_create("/p/c/d");  // not a child of /p: nothing
  ASSERT_EQ(del("/p/c/d").err, 0);
  ASSERT_EQ(del("/p/c").err, 0);
  EXPECT_EQ(w1_.take(), (Events{{EventType::kNodeCreated, "/p"},
                                {EventType::kNodeDataChanged, "/p"},
                                {EventType::kNodeDataChanged, "/p"},
                                {EventType::kNodeChildrenChanged, "/p"},
                                {EventType::kNodeChildrenChanged, "/p"}}));
  EXPECT_EQ(check_watches(client_, "/p", 4).err, 0);
}

TEST_F(ProcessorTest, AddWatchPersistentRecursive) {
  ASSERT_EQ(call(OpCode::kAddWatch, path_version_body("/r", 1)).err, 0);
  must_create("/r");
  must_create("/r/a");
  must_create("/r/a/b");
  ASSERT_EQ(set_data("/r/a/b", "x").err, 0);
  ASSERT_EQ(del("/r/a/b").err, 0);
  must_create("/rr");  // sibling sharing the prefix
  EXPECT_EQ(w1_.take(), (Events{{EventType::kNodeCreated, "/r"},
                                {EventType::kNodeCreated, "/r/a"},
                                {EventType::kNodeCreated, "/r/a/b"},
                                {EventType::kNodeDataChanged, "/r/a/b"},
                                {EventType::kNodeDeleted, "/r/a/b"}}));
  EXPECT_EQ(check_watches(client_, "/r", 5).err, 0);
  EXPECT_EQ(call(OpCode::kRemoveWatches, path_version_body("/r", 5)).err, 0);
  must_create("/r/z");
  EXPECT_TRUE(w1_.take().empty());
}

TEST_F(ProcessorTest, AddWatchBadMode) {
  EXPECT_EQ(call(OpCode::kAddWatch, path_version_body("/p", 2)).err, kBadArguments);
  EXPECT_EQ(call(OpCode::kAddWatch, path_version_body("/p", -1)).err, kBadArguments);
}

// ---------------------------------------------------------------------------------------------------------------
// getEphemerals / getAllChildrenNumber / whoAmI

TEST_F(ProcessorTest, GetEphemeralsOwnSessionOnly) {
  must_create("/eph");
  must_create("/eph/b", 1);
  must_create("/eph/a", 1);
  must_create("/ephx", 1);
  must_create("/top", 1);
  ASSERT_EQ(create_as(other_, "/eph/other", 1).err, 0);
  must_create("/eph/persistent");

  Reply all = call(OpCode::kGetEphemerals, path_body("/"));
  ASSERT_EQ(all.err, 0);
  JuteReader ar(all.body);
  EXPECT_EQ(read_strings(ar), (std::vector<std::string>{"/eph/a", "/eph/b", "/ephx", "/top"}));
  EXPECT_TRUE(ar.at_end());

  // A string prefix, as ZooKeeper's startsWith: "/eph" also matches "/ephx".
  Reply pre = call(OpCode::kGetEphemerals, path_body("/eph"));
  JuteReader pr(pre.body);
  EXPECT_EQ(read_strings(pr), (std::vector<std::string>{"/eph/a", "/eph/b", "/ephx"}));

  Reply sub = call(OpCode::kGetEphemerals, path_body("/eph/"));
  JuteReader sr(sub.body);
  EXPECT_EQ(read_strings(sr), (std::vector<std::string>{"/eph/a", "/eph/b"}));

  Reply none = call(other_, OpCode::kGetEphemerals, path_body("/top"));
  JuteReader nr(none.body);
  EXPECT_TRUE(read_strings(nr).empty());
}

TEST_F(ProcessorTest, GetAllChildrenNumber) {
  must_create("/a");
  must_create("/a/b");
  must_create("/a/b/c");
  must_create("/a/d");
  Reply r = call(OpCode::kGetAllChildrenNumber, path_body("/a"));
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.body, std::string("\0\0\0\3", 4));
  Reply root = call(OpCode::kGetAllChildrenNumber, path_body("/"));
  JuteReader rr(root.body);
  EXPECT_EQ(rr.get_int(), 3 + 4);  // /zookeeper, quota, config + ours
  EXPECT_EQ(call(OpCode::kGetAllChildrenNumber, path_body("/missing")).err, kNoNode);
}

TEST_F(ProcessorTest, WhoAmI) {
  Reply r = call(OpCode::kWhoAmI, "");
  ASSERT_EQ(r.err, 0);
  std::string want;
  JuteWriter w(want);
  w.put_int(1);
  w.put_string("ip");
  w.put_string("127.0.0.1");
  EXPECT_EQ(r.body, want);

  ASSERT_EQ(authenticate("digest", "user:pass", "", client_.auth_ids), Err::kOk);
  Reply r2 = call(OpCode::kWhoAmI, "");
  JuteReader br(r2.body);
  EXPECT_EQ(br.get_int(), 2);
  EXPECT_EQ(br.get_string(), "ip");
  EXPECT_EQ(br.get_string(), "127.0.0.1");
  EXPECT_EQ(br.get_string(), "digest");
  EXPECT_EQ(br.get_string(), "user");  // the user name only, never the hash
  EXPECT_TRUE(br.at_end());
}

// ---------------------------------------------------------------------------------------------------------------
// Unsupported and malformed requests.

TEST_F(ProcessorTest, UnknownOpcodeUnimplementedAndClose) {
  for (int32_t type : {999, 10, 23, -3, 50}) {
    Reply r = call_raw(client_, type, "");
    EXPECT_EQ(r.err, kUnimplemented) << type;
    EXPECT_EQ(r.after, AfterReply::kClose) << type;
    EXPECT_EQ(r.frame_bytes, 20u);
  }
}

TEST_F(ProcessorTest, CheckAloneUnimplementedAndClose) {
  must_create("/a");
  Reply r = call(OpCode::kCheck, path_version_body("/a", 0));
  EXPECT_EQ(r.err, kUnimplemented);
  EXPECT_EQ(r.after, AfterReply::kClose);
}

TEST_F(ProcessorTest, MalformedBodiesAreMarshallingErrors) {
  std::string create = create_body("/a", "x", kOpen, 0);
  for (size_t cut : {size_t{0}, size_t{3}, size_t{6}, create.size() - 1}) {
    Reply r = call(OpCode::kCreate, create.substr(0, cut));
    EXPECT_EQ(r.err, kMarshalling) << cut;
    EXPECT_EQ(r.after, AfterReply::kContinue);
  }
  EXPECT_EQ(tree_.get("/a"), nullptr);
  EXPECT_EQ(call(OpCode::kGetData, path_body("/zookeeper")).err, kMarshalling);  // no watch byte
  EXPECT_EQ(call(OpCode::kSetData, path_body("/zookeeper")).err, kMarshalling);
  EXPECT_EQ(call(OpCode::kDelete, path_body("/zookeeper")).err, kMarshalling);
  EXPECT_EQ(call(OpCode::kSetAcl, path_body("/zookeeper")).err, kMarshalling);
  EXPECT_EQ(call(OpCode::kGetAcl, "").err, kMarshalling);
  EXPECT_EQ(call(OpCode::kCheckWatches, path_body("/zookeeper")).err, kMarshalling);
  EXPECT_EQ(call(OpCode::kCreateTtl, create_body("/t", "", kOpen, 5)).err, kMarshalling);  // ttl missing
  // Negative string length.
  std::string neg;
  JuteWriter(neg).put_int(-2);
  EXPECT_EQ(call(OpCode::kExists, neg).err, kMarshalling);
  // An ACL count larger than the bytes left.
  std::string acl_bomb;
  JuteWriter w(acl_bomb);
  w.put_string("/b");
  w.put_null();
  w.put_int(100000);
  EXPECT_EQ(call(OpCode::kCreate, acl_bomb).err, kMarshalling);
}

TEST_F(ProcessorTest, ReconfigDisabled) {
  Reply r = call(OpCode::kReconfig, "");
  EXPECT_EQ(r.err, -123);  // RECONFIGDISABLED
  EXPECT_EQ(r.after, AfterReply::kContinue);
}

// ---------------------------------------------------------------------------------------------------------------
// Sessions.

TEST_F(ProcessorTest, CloseSessionRemovesEphemerals) {
  must_create("/p");
  must_create("/p/e1", 1);
  must_create("/e2", 1);
  ASSERT_EQ(create_as(other_, "/o", 1).err, 0);
  ASSERT_EQ(get_children(other_, "/p", true).err, 0);
  ASSERT_EQ(exists(other_, "/e2", true).err, 0);
  Zxid before = proc_.last_zxid();
  Reply r = call(OpCode::kCloseSession, "");
  EXPECT_EQ(r.err, 0);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(r.after, AfterReply::kClose);
  EXPECT_EQ(r.zxid, before + 1);  // one close-session txn
  EXPECT_EQ(proc_.last_zxid(), before + 1);
  EXPECT_EQ(tree_.get("/p/e1"), nullptr);
  EXPECT_EQ(tree_.get("/e2"), nullptr);
  EXPECT_NE(tree_.get("/o"), nullptr);
  EXPECT_EQ(tree_.ephemerals_of(kSession), nullptr);
  EXPECT_EQ(tree_.sessions().count(kSession), 0u);
  EXPECT_EQ(tree_.sessions().count(kOther), 1u);
  EXPECT_EQ(w2_.take(), (Events{{EventType::kNodeDeleted, "/e2"}, {EventType::kNodeChildrenChanged, "/p"}}));
  EXPECT_EQ(node("/p").stat.pzxid, r.zxid);
}

TEST_F(ProcessorTest, CreateSessionIsATxn) {
  Zxid before = proc_.last_zxid();
  proc_.create_session(0, 0x77, 12000, kNow);
  EXPECT_EQ(proc_.last_zxid(), before + 1);
  EXPECT_EQ(tree_.sessions().at(0x77), 12000);
  proc_.close_session(0x77, kNow);
  EXPECT_EQ(tree_.sessions().count(0x77), 0u);
}

TEST_F(ProcessorTest, WriteReplyZxidIsTheWritesZxid) {
  Reply c = create("/z");
  EXPECT_EQ(c.zxid, node("/z").stat.czxid);
  Reply s = set_data("/z", "1");
  EXPECT_EQ(s.zxid, node("/z").stat.mzxid);
  EXPECT_EQ(s.zxid, c.zxid + 1);
  Reply a = set_acl("/z", kOpen);
  EXPECT_EQ(a.zxid, s.zxid + 1);
  Reply d = del("/z");
  EXPECT_EQ(d.zxid, a.zxid + 1);
  EXPECT_EQ(node("/").stat.pzxid, d.zxid);
}

}  // namespace
}  // namespace uk
