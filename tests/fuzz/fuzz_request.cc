// libFuzzer target: one client connection's bytes, read the way Server::process_input reads them, driven through
// the request pipeline (Processor) against a fresh DataTree, with the tree's and the reply's invariants checked
// after every request.
//
// Input: length-prefixed frames (zookeeper-protocol.md §1). The first is a ConnectRequest; each later one is a
// RequestHeader and its body. As in the server, a length < 0 or > jute.maxbuffer, a truncated frame, a frame too
// short for its header, a failed AuthPacket or a reply that closes the connection ends the input. Auth (100) is
// handled as the server handles it (it never reaches the Processor); everything else goes to Processor::handle.
// Time is logical: each request happens 1 s after the previous one, and containers and TTL nodes are reaped after
// every request, as the server's periodic reaper would.
//
// Differences from the server, on purpose: no four-letter words, no zxid-ahead or reconnect checks on the
// ConnectRequest (they do not reach the request pipeline), one connection and one session.
//
// A broken invariant calls __builtin_trap() after printing what broke, so libFuzzer saves the input.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ukeeper/common/config.h"
#include "ukeeper/common/jute.h"
#include "ukeeper/common/log.h"
#include "ukeeper/server/acl.h"
#include "ukeeper/server/processor.h"
#include "ukeeper/server/proto.h"
#include "ukeeper/server/sessions.h"
#include "ukeeper/server/watches.h"
#include "ukeeper/storage/tree/data_tree.h"
#include "ukeeper/storage/tree/path.h"

namespace {

constexpr uk::SessionId kSession = 1;
constexpr int64_t kStartMs = 1'700'000'000'000;  // wall clock of the first request; any fixed value works
constexpr int64_t kStepMs = 1000;                // logical time between two requests
constexpr size_t kReplyHeaderBytes = 16;         // xid 4 + zxid 8 + err 4

// UK_FUZZ_VERBOSE=1 prints each request and its reply header: for reading a crash or checking a seed.
bool verbose = false;

[[noreturn]] void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz_request: invariant broken: %s %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  __builtin_trap();
}

void check(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) fail(what, detail);
}

const uk::ServerConfig& fuzz_config() {
  static const uk::ServerConfig config = [] {
    uk::ServerConfig c;
    c.min_session_timeout_ms = 4000;
    c.max_session_timeout_ms = 40000;
    c.extended_types_enabled = true;
    // A known super password ("super:secret") lets seeds reach the super-user paths of the ACL checks.
    c.super_digest = uk::digest_of("super:secret");
    return c;
  }();
  return config;
}

// The connection's side of watches: encodes every event as the server would queue it, and answers with the
// identities of the connection's ClientContext (which outlives it).
class StringWatcher final : public uk::Watcher {
 public:
  explicit StringWatcher(const std::vector<uk::Id>& ids) : ids_(ids) {}
  void deliver_event(uk::EventType type, const std::string& path) override {
    uk::encode_watch_event(events, type, path);
  }
  const std::vector<uk::Id>& watcher_ids() const override { return ids_; }
  std::string events;

 private:
  const std::vector<uk::Id>& ids_;
};

// Splits the input into frames as Server::process_input does. nullopt ends the connection.
class FrameSource {
 public:
  explicit FrameSource(std::string_view in, int32_t max_frame_bytes) : in_(in), max_(max_frame_bytes) {}
  std::optional<std::string_view> next() {
    if (in_.size() - pos_ < 4) return std::nullopt;
    uk::JuteReader r(in_.substr(pos_, 4));
    int32_t len = r.get_int();
    if (len < 0 || len > max_) return std::nullopt;
    if (in_.size() - pos_ - 4 < static_cast<size_t>(len)) return std::nullopt;
    std::string_view frame = in_.substr(pos_ + 4, static_cast<size_t>(len));
    pos_ += 4 + static_cast<size_t>(len);
    return frame;
  }

 private:
  std::string_view in_;
  int32_t max_;
  size_t pos_ = 0;
};

// One reply frame: length prefix equal to the size, ReplyHeader with the expected xid and the node's last zxid,
// and a body only when err == 0.
void check_reply(const std::string& out, int32_t expected_xid, uk::Zxid expected_zxid) {
  check(out.size() >= 4 + kReplyHeaderBytes, "reply shorter than a ReplyHeader frame");
  uk::JuteReader r(out);
  int32_t len = r.get_int();
  check(len >= 0 && static_cast<size_t>(len) == out.size() - 4, "reply length prefix differs from its size");
  int32_t xid = r.get_int();
  uk::Zxid zxid = r.get_long();
  int32_t err = r.get_int();
  check(r.ok(), "reply header truncated");
  check(xid == expected_xid, "reply xid differs from the request xid");
  check(zxid == expected_zxid, "reply zxid differs from the last applied zxid");
  if (err != 0) check(r.at_end(), "error reply carries a body");
}

// The store's structural invariants (data_tree.h): every node is reachable from "/" through children, each
// child name names an existing node, num_children and data_length match, the approximate data size is the sum
// of path and data lengths, and the owner indexes hold exactly the nodes of that kind.
void check_tree(const uk::DataTree& tree) {
  size_t reachable = 0;
  std::vector<std::string> stack{"/"};
  while (!stack.empty()) {
    std::string path = std::move(stack.back());
    stack.pop_back();
    const uk::Node* n = tree.get(path);
    check(n != nullptr, "child names a missing node:", path);
    reachable++;
    check(reachable <= tree.node_count(), "more nodes reachable than stored (cycle or duplicate)");
    for (const std::string& child : n->children) stack.push_back(uk::path_join(path, child));
  }
  check(reachable == tree.node_count(), "node_count() differs from the nodes reachable from /");

  int64_t approximate_size = 0;
  size_t ephemeral_nodes = 0, container_nodes = 0, ttl_nodes = 0;
  tree.for_each([&](const std::string& path, const uk::Node& n) {
    check(n.stat.num_children == static_cast<int32_t>(n.children.size()), "num_children != children.size():", path);
    int32_t data_bytes = n.data ? static_cast<int32_t>(n.data->size()) : 0;
    check(n.stat.data_length == data_bytes, "data_length != data size:", path);
    approximate_size += static_cast<int64_t>(path.size()) + data_bytes;
    int64_t o = n.stat.ephemeral_owner;
    if (uk::owner::is_ephemeral(o)) {
      ephemeral_nodes++;
      const std::set<std::string>* mine = tree.ephemerals_of(o);
      check(mine != nullptr && mine->count(path) == 1, "ephemeral node missing from its owner's index:", path);
      check(n.children.empty(), "ephemeral node has children:", path);
    } else if (uk::owner::is_container(o)) {
      container_nodes++;
      check(tree.containers().count(path) == 1, "container missing from the container index:", path);
    } else if (uk::owner::is_ttl(o)) {
      ttl_nodes++;
      check(tree.ttl_nodes().count(path) == 1, "TTL node missing from the TTL index:", path);
    }
  });
  check(approximate_size == tree.approximate_data_size(), "approximate_data_size() differs from the sum");
  size_t indexed_ephemerals = 0;
  for (const auto& [session, paths] : tree.ephemerals()) indexed_ephemerals += paths.size();
  check(indexed_ephemerals == ephemeral_nodes, "ephemeral index holds nodes that are gone or not ephemeral");
  check(tree.containers().size() == container_nodes, "container index holds nodes that are gone");
  check(tree.ttl_nodes().size() == ttl_nodes, "TTL index holds nodes that are gone");
}

// A closed session leaves no ephemerals and no session entry behind.
void check_session_closed(const uk::DataTree& tree, uk::SessionId id) {
  const std::set<std::string>* mine = tree.ephemerals_of(id);
  check(mine == nullptr || mine->empty(), "ephemerals survive closeSession");
  check(tree.sessions().count(id) == 0, "session survives closeSession in the tree");
  tree.for_each([&](const std::string& path, const uk::Node& n) {
    check(n.stat.ephemeral_owner != id, "node owned by a closed session:", path);
  });
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Unsupported opcodes and failed auth log a warning per request; at fuzzing speed that is all noise.
  uk::set_log_level(uk::LogLevel::kError);
  const char* v = std::getenv("UK_FUZZ_VERBOSE");
  verbose = v != nullptr && *v != '\0' && *v != '0';
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uk::ServerConfig& config = fuzz_config();
  FrameSource frames(std::string_view(reinterpret_cast<const char*>(data), size), config.jute_max_buffer);

  std::optional<std::string_view> first = frames.next();
  if (!first) return 0;
  uk::JuteReader connect_reader(*first);
  uk::ConnectRequest connect;
  if (!uk::decode(connect_reader, connect)) return 0;

  uk::DataTree tree;
  uk::WatchManager watches;
  uk::SessionTracker sessions(0, "k", 0);
  uk::Processor processor(config, tree, watches);
  int32_t timeout_ms = std::clamp(connect.timeout_ms, config.min_session_timeout_ms, config.max_session_timeout_ms);
  processor.create_session(0, kSession, timeout_ms, 0);
  sessions.open(kSession, timeout_ms, 0);
  check(tree.sessions().count(kSession) == 1, "createSession did not register the session");
  check_tree(tree);

  uk::ClientContext client;
  client.session = kSession;
  client.auth_ids = {uk::Id{"ip", "127.0.0.1"}};
  StringWatcher watcher(client.auth_ids);
  client.watcher = &watcher;

  int64_t now_ms = kStartMs;
  std::string out;
  while (std::optional<std::string_view> frame = frames.next()) {
    now_ms += kStepMs;
    uk::JuteReader body(*frame);
    uk::RequestHeader header;
    if (!uk::decode(body, header)) break;
    out.clear();
    watcher.events.clear();
    bool close = false;
    if (header.type == static_cast<int32_t>(uk::OpCode::kAuth)) {
      uk::AuthPacket auth;
      uk::Err err = uk::decode(body, auth)
                        ? uk::authenticate(auth.scheme, auth.auth, config.super_digest, client.auth_ids)
                        : uk::Err::kAuthFailed;
      uk::JuteWriter w(out);
      size_t f = w.begin_frame();
      uk::encode(w, uk::ReplyHeader{uk::kXidAuth, processor.last_zxid(), uk::to_wire(err)});
      w.end_frame(f);
      check_reply(out, uk::kXidAuth, tree.last_zxid());
      close = err != uk::Err::kOk;
    } else {
      uk::AfterReply after = processor.handle(client, header, body, out, now_ms);
      check_reply(out, header.xid, tree.last_zxid());
      close = after == uk::AfterReply::kClose;
      if (header.type == static_cast<int32_t>(uk::OpCode::kCloseSession)) {
        check(close, "closeSession did not close the connection");
        check_session_closed(tree, kSession);
      }
    }
    if (verbose) {
      uk::JuteReader r(std::string_view(out).substr(4));
      int32_t xid = r.get_int();
      uk::Zxid zxid = r.get_long();
      int32_t err = r.get_int();
      std::fprintf(stderr, "request xid=%d op=%d (%zu bytes) -> xid=%d zxid=%lld err=%d body=%zu events=%zu\n",
                   header.xid, header.type, frame->size(), xid, static_cast<long long>(zxid), err, r.remaining(),
                   watcher.events.size());
    }
    processor.reap_containers_and_ttls(now_ms);
    check_tree(tree);
    if (close) break;
  }

  // The connection goes away: its watcher must leave nothing behind (it is the only one).
  watches.remove_watcher(&watcher);
  check(watches.watch_count() == 0 && watches.path_count() == 0 && watches.watcher_count() == 0,
        "watches survive remove_watcher");
  return 0;
}
