// Wire records (server/src/proto.cc, zookeeper-protocol.md §2–§5): byte-exact layouts checked against literal
// bytes, since real clients read fixed sizes (the C client reads exactly 41 bytes of ConnectResponse).
#include "ukeeper/server/proto.h"

#include <gtest/gtest.h>

#include <string>

namespace uk {
namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int v : b) s.push_back(static_cast<char>(v));
  return s;
}

// ---------------------------------------------------------------------------------------------------------------
// ConnectRequest

std::string connect_body(int64_t session, const std::string& passwd, bool with_read_only, bool read_only) {
  std::string out;
  JuteWriter w(out);
  w.put_int(0);                      // protocolVersion
  w.put_long(0x1122334455667788LL);  // lastZxidSeen
  w.put_int(30000);                  // timeOut
  w.put_long(session);
  w.put_buffer(std::string_view(passwd));
  if (with_read_only) w.put_bool(read_only);
  return out;
}

TEST(ConnectRequest, DecodeWithoutReadOnly) {
  std::string body = connect_body(0, std::string(16, '\0'), false, false);
  ASSERT_EQ(body.size(), 44u);
  JuteReader r(body);
  ConnectRequest m;
  ASSERT_TRUE(decode(r, m));
  EXPECT_EQ(m.protocol_version, 0);
  EXPECT_EQ(m.last_zxid_seen, 0x1122334455667788LL);
  EXPECT_EQ(m.timeout_ms, 30000);
  EXPECT_EQ(m.session_id, 0);
  EXPECT_EQ(m.passwd, std::string(16, '\0'));
  EXPECT_FALSE(m.has_read_only);
  EXPECT_FALSE(m.read_only);
  EXPECT_TRUE(r.at_end());
}

TEST(ConnectRequest, DecodeWithReadOnly) {
  std::string pw = "0123456789abcdef";
  std::string body = connect_body(0x0102030405060708LL, pw, true, true);
  ASSERT_EQ(body.size(), 45u);
  JuteReader r(body);
  ConnectRequest m;
  ASSERT_TRUE(decode(r, m));
  EXPECT_EQ(m.session_id, 0x0102030405060708LL);
  EXPECT_EQ(m.passwd, pw);
  EXPECT_TRUE(m.has_read_only);
  EXPECT_TRUE(m.read_only);
  EXPECT_TRUE(r.at_end());

  std::string body2 = connect_body(0, pw, true, false);
  JuteReader r2(body2);
  ConnectRequest m2;
  ASSERT_TRUE(decode(r2, m2));
  EXPECT_TRUE(m2.has_read_only);
  EXPECT_FALSE(m2.read_only);
}

TEST(ConnectRequest, TruncatedFails) {
  std::string body = connect_body(0, std::string(16, '\0'), false, false);
  for (size_t len : {0u, 4u, 12u, 16u, 24u, 28u, 43u}) {
    JuteReader r(std::string_view(body).substr(0, len));
    ConnectRequest m;
    EXPECT_FALSE(decode(r, m)) << len;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// ConnectResponse: a 36-byte body (37 with readOnly); framed with its 4-byte length that is the 40 (41) bytes
// the C client reads in one go.

std::string framed(const ConnectResponse& m) {
  std::string out;
  JuteWriter w(out);
  size_t at = w.begin_frame();
  encode(w, m);
  w.end_frame(at);
  return out;
}

TEST(ConnectResponse, FortyBytesFramedWithoutReadOnly) {
  ConnectResponse m;
  m.protocol_version = 0;
  m.timeout_ms = 4000;
  m.session_id = 0x0102030405060708LL;
  m.passwd = std::string(16, 'p');
  std::string out = framed(m);
  ASSERT_EQ(out.size(), 40u);
  std::string want = bytes({0, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0x0f, 0xa0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 16});
  want += std::string(16, 'p');
  EXPECT_EQ(out, want);
}

TEST(ConnectResponse, FortyOneBytesFramedWithReadOnly) {
  ConnectResponse m;
  m.timeout_ms = 4000;
  m.session_id = 7;
  m.passwd = std::string(16, 'p');
  m.has_read_only = true;
  m.read_only = true;
  std::string out = framed(m);
  ASSERT_EQ(out.size(), 41u);
  EXPECT_EQ(out.substr(0, 4), bytes({0, 0, 0, 37}));
  EXPECT_EQ(out.back(), '\1');
  m.read_only = false;
  out = framed(m);
  ASSERT_EQ(out.size(), 41u);
  EXPECT_EQ(out.back(), '\0');
}

TEST(ConnectResponse, PasswordPaddedOrCutToSixteen) {
  for (const std::string& pw : {std::string(), std::string("abc"), std::string(20, 'x')}) {
    ConnectResponse m;
    m.passwd = pw;
    m.has_read_only = true;
    std::string out;
    JuteWriter w(out);
    encode(w, m);
    ASSERT_EQ(out.size(), 37u) << pw.size();
    EXPECT_EQ(out.substr(16, 4), bytes({0, 0, 0, 16}));
    std::string expect = pw.substr(0, 16);
    expect.resize(16, '\0');
    EXPECT_EQ(out.substr(20, 16), expect);
  }
}

TEST(ConnectResponse, ExpiredSessionReplyShape) {
  // {timeOut=0, sessionId=0, passwd=16 zero bytes}
  ConnectResponse m;
  m.has_read_only = true;
  std::string out;
  JuteWriter w(out);
  encode(w, m);
  std::string want(37, '\0');
  want[19] = 16;
  EXPECT_EQ(out, want);
}

// ---------------------------------------------------------------------------------------------------------------
// Headers

TEST(RequestHeader, Decode) {
  std::string in = bytes({0, 0, 0, 9, 0, 0, 0, 4});
  JuteReader r(in);
  RequestHeader h;
  ASSERT_TRUE(decode(r, h));
  EXPECT_EQ(h.xid, 9);
  EXPECT_EQ(h.type, static_cast<int32_t>(OpCode::kGetData));

  std::string ping = bytes({0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11});
  JuteReader rp(ping);
  ASSERT_TRUE(decode(rp, h));
  EXPECT_EQ(h.xid, kXidPing);
  EXPECT_EQ(h.type, static_cast<int32_t>(OpCode::kPing));

  std::string close = bytes({0, 0, 0, 1, 0xff, 0xff, 0xff, 0xf5});
  JuteReader rc(close);
  ASSERT_TRUE(decode(rc, h));
  EXPECT_EQ(h.type, static_cast<int32_t>(OpCode::kCloseSession));

  JuteReader rt(std::string_view(in).substr(0, 7));
  EXPECT_FALSE(decode(rt, h));
}

TEST(ReplyHeader, SixteenBytes) {
  std::string out;
  JuteWriter w(out);
  encode(w, ReplyHeader{5, 0x0000000100000002LL, -101});
  EXPECT_EQ(out, bytes({0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0x9b}));
}

// ---------------------------------------------------------------------------------------------------------------
// Stat

TEST(StatRecord, SixtyEightBytesInWireOrder) {
  Stat s;
  s.czxid = 0x0101010101010101LL;
  s.mzxid = 0x0202020202020202LL;
  s.ctime_ms = 0x0303030303030303LL;
  s.mtime_ms = 0x0404040404040404LL;
  s.version = 0x05050505;
  s.cversion = 0x06060606;
  s.aversion = 0x07070707;
  s.ephemeral_owner = 0x0808080808080808LL;
  s.data_length = 0x09090909;
  s.num_children = 0x0a0a0a0a;
  s.pzxid = 0x0b0b0b0b0b0b0b0bLL;
  std::string out;
  JuteWriter w(out);
  encode(w, s);
  ASSERT_EQ(out.size(), 68u);
  std::string want;
  int field = 1;
  for (int width : {8, 8, 8, 8, 4, 4, 4, 8, 4, 4, 8}) {
    want.append(static_cast<size_t>(width), static_cast<char>(field));
    field++;
  }
  EXPECT_EQ(out, want);
  JuteReader r(out);
  Stat back;
  ASSERT_TRUE(decode(r, back));
  EXPECT_EQ(back, s);
  EXPECT_TRUE(r.at_end());
}

TEST(StatRecord, TruncatedFails) {
  std::string out;
  JuteWriter w(out);
  encode(w, Stat{});
  JuteReader r(std::string_view(out).substr(0, 67));
  Stat s;
  EXPECT_FALSE(decode(r, s));
}

// ---------------------------------------------------------------------------------------------------------------
// Watch events

TEST(WatchEvent, FrameLayout) {
  std::string out = "x";  // appends after existing bytes
  encode_watch_event(out, EventType::kNodeDataChanged, "/ab");
  std::string want = "x";
  want += bytes({0, 0, 0, 31});                                // frame length: 16 + 4 + 4 + 4 + 3
  want += bytes({0xff, 0xff, 0xff, 0xff});                     // xid -1
  want += bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});  // zxid -1
  want += bytes({0, 0, 0, 0});                                 // err 0
  want += bytes({0, 0, 0, 3});                                 // type NodeDataChanged
  want += bytes({0, 0, 0, 3});                                 // state SyncConnected
  want += bytes({0, 0, 0, 3, '/', 'a', 'b'});                  // path
  EXPECT_EQ(out, want);
}

TEST(WatchEvent, EveryEventType) {
  for (EventType t : {EventType::kNodeCreated, EventType::kNodeDeleted, EventType::kNodeDataChanged,
                      EventType::kNodeChildrenChanged}) {
    std::string out;
    encode_watch_event(out, t, "/");
    JuteReader r(out);
    EXPECT_EQ(r.get_int(), static_cast<int32_t>(out.size() - 4));
    EXPECT_EQ(r.get_int(), -1);
    EXPECT_EQ(r.get_long(), -1);
    EXPECT_EQ(r.get_int(), 0);
    EXPECT_EQ(r.get_int(), static_cast<int32_t>(t));
    EXPECT_EQ(r.get_int(), 3);
    EXPECT_EQ(r.get_string(), "/");
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(r.at_end());
  }
}

// ---------------------------------------------------------------------------------------------------------------
// MultiHeader

TEST(MultiHeaderRecord, NineBytes) {
  std::string out;
  JuteWriter w(out);
  encode(w, MultiHeader{1, false, 0});
  encode(w, MultiHeader{-1, true, -1});
  EXPECT_EQ(out, bytes({0, 0, 0, 1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff}));
  JuteReader r(out);
  MultiHeader a;
  MultiHeader b;
  ASSERT_TRUE(decode(r, a));
  ASSERT_TRUE(decode(r, b));
  EXPECT_EQ(a.type, 1);
  EXPECT_FALSE(a.done);
  EXPECT_EQ(a.err, 0);
  EXPECT_EQ(b.type, -1);
  EXPECT_TRUE(b.done);
  EXPECT_EQ(b.err, -1);
  EXPECT_TRUE(r.at_end());
}

TEST(MultiHeaderRecord, DefaultIsEndMarker) {
  MultiHeader m;
  EXPECT_EQ(m.type, -1);
  EXPECT_TRUE(m.done);
  EXPECT_EQ(m.err, -1);
}

// ---------------------------------------------------------------------------------------------------------------
// Request records

TEST(CreateRequestRecord, DecodeWithAndWithoutTtl) {
  std::string in;
  JuteWriter w(in);
  w.put_string("/a");
  w.put_buffer(std::string_view("dd"));
  w.put_int(2);
  w.put_int(31);
  w.put_string("world");
  w.put_string("anyone");
  w.put_int(1);
  w.put_string("ip");
  w.put_string("10.0.0.0/8");
  w.put_int(3);
  std::string with_ttl = in;
  JuteWriter(with_ttl).put_long(5000);

  JuteReader r(in);
  CreateRequest m;
  ASSERT_TRUE(decode(r, m, false));
  EXPECT_EQ(m.path, "/a");
  EXPECT_EQ(m.data, std::optional<std::string>("dd"));
  EXPECT_EQ(m.acl, (AclList{Acl{31, Id{"world", "anyone"}}, Acl{1, Id{"ip", "10.0.0.0/8"}}}));
  EXPECT_EQ(m.flags, 3);
  EXPECT_EQ(m.ttl, -1);
  EXPECT_TRUE(r.at_end());

  JuteReader rt(with_ttl);
  CreateRequest mt;
  ASSERT_TRUE(decode(rt, mt, true));
  EXPECT_EQ(mt.ttl, 5000);
  EXPECT_TRUE(rt.at_end());

  JuteReader missing_ttl(in);
  CreateRequest mm;
  EXPECT_FALSE(decode(missing_ttl, mm, true));
}

TEST(CreateRequestRecord, NullDataAndNullAcl) {
  std::string in;
  JuteWriter w(in);
  w.put_string("/a");
  w.put_null();
  w.put_null();
  w.put_int(0);
  JuteReader r(in);
  CreateRequest m;
  ASSERT_TRUE(decode(r, m, false));
  EXPECT_EQ(m.data, std::nullopt);
  EXPECT_TRUE(m.acl.empty());
}

TEST(SetWatchesRecord, VersionOneAndTwo) {
  std::string in;
  JuteWriter w(in);
  w.put_long(42);
  encode(w, std::vector<std::string>{"/d1", "/d2"});
  encode(w, std::vector<std::string>{"/e"});
  encode(w, std::vector<std::string>{});
  std::string v2 = in;
  JuteWriter w2(v2);
  encode(w2, std::vector<std::string>{"/p"});
  encode(w2, std::vector<std::string>{"/r1", "/r2"});

  JuteReader r(in);
  SetWatchesRequest m;
  ASSERT_TRUE(decode(r, m, false));
  EXPECT_EQ(m.relative_zxid, 42);
  EXPECT_EQ(m.data, (std::vector<std::string>{"/d1", "/d2"}));
  EXPECT_EQ(m.exist, (std::vector<std::string>{"/e"}));
  EXPECT_TRUE(m.child.empty());
  EXPECT_TRUE(r.at_end());

  JuteReader r2(v2);
  SetWatchesRequest m2;
  ASSERT_TRUE(decode(r2, m2, true));
  EXPECT_EQ(m2.persistent, (std::vector<std::string>{"/p"}));
  EXPECT_EQ(m2.persistent_recursive, (std::vector<std::string>{"/r1", "/r2"}));
  EXPECT_TRUE(r2.at_end());
}

TEST(AuthPacketRecord, Decode) {
  std::string in;
  JuteWriter w(in);
  w.put_int(0);
  w.put_string("digest");
  w.put_buffer(std::string_view("user:pass"));
  JuteReader r(in);
  AuthPacket m;
  ASSERT_TRUE(decode(r, m));
  EXPECT_EQ(m.type, 0);
  EXPECT_EQ(m.scheme, "digest");
  EXPECT_EQ(m.auth, "user:pass");
}

TEST(AclListRecord, RoundTripAndLayout) {
  AclList acl = {Acl{31, Id{"world", "anyone"}}};
  std::string out;
  JuteWriter w(out);
  encode(w, acl);
  EXPECT_EQ(out, bytes({0, 0, 0, 1, 0, 0, 0, 31, 0, 0, 0, 5, 'w', 'o', 'r', 'l', 'd', 0, 0, 0, 6, 'a', 'n', 'y', 'o',
                        'n', 'e'}));
  JuteReader r(out);
  AclList back;
  ASSERT_TRUE(decode_acl_list(r, back));
  EXPECT_EQ(back, acl);
}

TEST(AclListRecord, CountBeyondBytesFails) {
  std::string in;
  JuteWriter(in).put_int(1000);
  in.append(20, '\0');
  JuteReader r(in);
  AclList acl;
  EXPECT_FALSE(decode_acl_list(r, acl));
}

TEST(StringListRecord, RoundTrip) {
  std::vector<std::string> v = {"a", "", "ccc"};
  std::string out;
  JuteWriter w(out);
  encode(w, v);
  EXPECT_EQ(out, bytes({0, 0, 0, 3, 0, 0, 0, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 3, 'c', 'c', 'c'}));
  JuteReader r(out);
  std::vector<std::string> back;
  ASSERT_TRUE(decode_string_list(r, back));
  EXPECT_EQ(back, v);
}

}  // namespace
}  // namespace uk
