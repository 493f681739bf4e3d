#include "ukeeper/server/processor.h"

#include <cinttypes>
#include <cstdio>
#include <deque>
#include <map>
#include <unordered_map>

#include "ukeeper/common/log.h"
#include "ukeeper/server/acl.h"
#include "ukeeper/server/reads.h"
#include "ukeeper/storage/tree/path.h"

namespace uk {

struct Processor::Reply {
  std::string body;  // encoded response record; sent only when err == kOk
  Err err = Err::kOk;
  AfterReply after = AfterReply::kContinue;
};

// A node as validation sees it: the tree's version, or the version a pending txn or an earlier op of the same
// multi left.
struct NodeShadow {
  Stat stat;
  AclList acl;
};

// A txn (or a ready reply) waiting, in order, for the log to make it durable.
struct Processor::Pending {
  enum class Kind : uint8_t {
    kRequest,   // a client's write: reply when applied
    kReady,     // a reply frame already made (a write that failed validation behind pending writes)
    kConnect,   // createSession for a handshake
    kInternal,  // expiry, reaping: no reply
  };
  Kind kind = Kind::kInternal;
  uint64_t token = 0;
  int32_t xid = 0;
  OpCode op = OpCode::kError;
  std::vector<std::pair<OpCode, int32_t>> ops;  // each op with its create flags (the reply's shape)
  std::string frame;                            // kReady
  Txn txn;                                      // all but kReady
  std::vector<std::string> touched;             // outstanding entries this txn set
};

struct Processor::State {
  struct Outstanding {
    Zxid zxid;
    std::optional<NodeShadow> node;  // nullopt: deleted by a pending txn
  };
  std::deque<Pending> pending;
  std::unordered_map<std::string, Outstanding> outstanding;
  std::vector<std::pair<Zxid, std::string>> outbox;
};

class Processor::PendingView {
 public:
  PendingView(const DataTree& tree, const State& state) : tree_(tree), state_(state) {}

  std::optional<NodeShadow> get(const std::string& path) const {
    auto it = changes_.find(path);
    if (it != changes_.end()) return it->second;
    auto o = state_.outstanding.find(path);
    if (o != state_.outstanding.end()) return o->second.node;
    const Node* n = tree_.get(path);
    if (n == nullptr) return std::nullopt;
    return NodeShadow{n->stat, n->acl};
  }
  void put(const std::string& path, std::optional<NodeShadow> node) { changes_[path] = std::move(node); }
  const std::map<std::string, std::optional<NodeShadow>>& changes() const { return changes_; }

 private:
  const DataTree& tree_;
  const State& state_;
  std::map<std::string, std::optional<NodeShadow>> changes_;
};

namespace {

bool version_matches(int32_t expected, int32_t actual) { return expected == -1 || expected == actual; }

std::string format_sequence(int32_t n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%010d", n);
  return buf;
}

}  // namespace

Processor::Processor(const ServerConfig& config, DataTree& tree, WatchManager& watches, ProcessorOptions options)
    : config_(config),
      tree_(tree),
      watches_(watches),
      options_(options),
      last_assigned_(tree.last_zxid()),
      state_(std::make_unique<State>()) {}

Processor::~Processor() = default;

size_t Processor::pending_count() const { return state_->pending.size(); }

Txn Processor::make_txn(const ClientContext& c, int32_t xid, TxnType type, int64_t now_ms) const {
  Txn t;
  t.session = c.session;
  t.cxid = xid;
  t.time_ms = now_ms;
  t.type = type;
  return t;
}

void Processor::submit(Pending pending, const PendingView& view) {
  Zxid zxid = ++last_assigned_;
  pending.txn.zxid = zxid;
  for (const auto& [path, node] : view.changes()) {
    state_->outstanding[path] = State::Outstanding{zxid, node};
    pending.touched.push_back(path);
  }
  if (!options_.commit_immediately) {
    std::string bytes;
    encode_txn(pending.txn, bytes);
    state_->outbox.emplace_back(zxid, std::move(bytes));
  }
  state_->pending.push_back(std::move(pending));
}

std::vector<std::pair<Zxid, std::string>> Processor::take_outbox() {
  std::vector<std::pair<Zxid, std::string>> out;
  out.swap(state_->outbox);
  return out;
}

void Processor::replay(const Txn& txn) {
  tree_.apply(txn);
  if (txn.zxid > last_assigned_) last_assigned_ = txn.zxid;
}

void Processor::emit_ready_head(CommitSink& sink) {
  auto& queue = state_->pending;
  while (!queue.empty() && queue.front().kind == Pending::Kind::kReady) {
    Pending& p = queue.front();
    // Stamp the zxid the client sees with what is applied now, so replies on a connection never go backwards.
    std::string zx;
    JuteWriter(zx).put_long(tree_.last_zxid());
    p.frame.replace(8, 8, zx);
    sink.reply(p.token, std::move(p.frame), false);
    queue.pop_front();
  }
}

void Processor::apply_committed(const Txn& txn, CommitSink& sink) {
  emit_ready_head(sink);
  auto& queue = state_->pending;
  if (!queue.empty() && queue.front().txn.zxid == txn.zxid) {
    apply_persisted(txn.zxid, sink);
    return;
  }
  ApplyResult r = tree_.apply(txn);
  for (const TreeEvent& e : r.events) watches_.trigger(e.type, e.path, e.acl);
  if (txn.type == TxnType::kCloseSession) sink.session_closed(txn.session);
  if (txn.zxid > last_assigned_) last_assigned_ = txn.zxid;
}

void Processor::drop_pending() {
  state_->pending.clear();
  state_->outstanding.clear();
  state_->outbox.clear();
  last_assigned_ = tree_.last_zxid();
}

void Processor::apply_persisted(Zxid persisted, CommitSink& sink) {
  auto& queue = state_->pending;
  while (!queue.empty()) {
    emit_ready_head(sink);
    if (queue.empty()) break;
    Pending& p = queue.front();
    if (p.txn.zxid > persisted) break;
    ApplyResult r = tree_.apply(p.txn);
    for (const std::string& path : p.touched) {
      auto it = state_->outstanding.find(path);
      if (it != state_->outstanding.end() && it->second.zxid == p.txn.zxid) state_->outstanding.erase(it);
    }
    for (const TreeEvent& e : r.events) watches_.trigger(e.type, e.path, e.acl);
    switch (p.kind) {
      case Pending::Kind::kRequest: emit_reply(p, r, sink); break;
      case Pending::Kind::kConnect: sink.session_created(p.token, p.txn.session); break;
      case Pending::Kind::kInternal:
      case Pending::Kind::kReady: break;
    }
    // After the closeSession reply, so the requester's connection closes once that reply is out.
    if (p.txn.type == TxnType::kCloseSession) sink.session_closed(p.txn.session);
    queue.pop_front();
  }
}

namespace {
// commit_immediately mode: catches the reply meant for one connection.
class ImmediateSink final : public CommitSink {
 public:
  ImmediateSink(uint64_t token, std::string* out) : token_(token), out_(out) {}
  void reply(uint64_t token, std::string frame, bool close_after) override {
    if (out_ == nullptr || token != token_) return;
    out_->append(frame);
    close_ = close_ || close_after;
  }
  void session_created(uint64_t, SessionId) override {}
  void session_closed(SessionId) override {}
  bool close() const { return close_; }

 private:
  uint64_t token_;
  std::string* out_;
  bool close_ = false;
};
}  // namespace

AfterReply Processor::settle_now(uint64_t token, std::string& out) {
  ImmediateSink sink(token, &out);
  apply_persisted(last_assigned_, sink);
  return sink.close() ? AfterReply::kClose : AfterReply::kContinue;
}

void Processor::emit_reply(const Pending& p, const ApplyResult& r, CommitSink& sink) {
  std::string frame;
  JuteWriter w(frame);
  size_t f = w.begin_frame();
  encode(w, ReplyHeader{p.xid, p.txn.zxid, 0});
  if (p.op == OpCode::kMulti) {
    for (size_t i = 0; i < p.ops.size(); i++) {
      const OpResult& res = r.results.at(i);
      auto [op, flags] = p.ops[i];
      switch (op) {
        case OpCode::kCreate:
        case OpCode::kCreate2:
        case OpCode::kCreateContainer:
        case OpCode::kCreateTtl: {
          // ZooKeeper 3.8 picks the result type from the create flags, not the opcode: containers and TTL nodes
          // get a Create2Response (type 15), everything else a plain CreateResponse (type 1), even for create2.
          auto mode = static_cast<CreateMode>(flags);
          bool with_stat = mode == CreateMode::kContainer || create_mode_ttl(mode);
          encode(w, MultiHeader{static_cast<int32_t>(with_stat ? OpCode::kCreate2 : OpCode::kCreate), false, 0});
          w.put_string(res.path);
          if (with_stat) encode(w, res.stat);
          break;
        }
        case OpCode::kSetData:
          encode(w, MultiHeader{static_cast<int32_t>(op), false, 0});
          encode(w, res.stat);
          break;
        default:  // delete, check: no body
          encode(w, MultiHeader{static_cast<int32_t>(op), false, 0});
          break;
      }
    }
    encode(w, MultiHeader{-1, true, -1});
  } else if (!r.results.empty()) {
    const OpResult& res = r.results[0];
    switch (p.op) {
      case OpCode::kCreate:
        w.put_string(res.path);
        break;
      case OpCode::kCreate2:
      case OpCode::kCreateContainer:
      case OpCode::kCreateTtl:
        w.put_string(res.path);
        encode(w, res.stat);
        break;
      case OpCode::kSetData:
      case OpCode::kSetAcl:
        encode(w, res.stat);
        break;
      default:  // delete, closeSession: no body
        break;
    }
  }
  w.end_frame(f);
  sink.reply(p.token, std::move(frame), p.op == OpCode::kCloseSession);
}

AfterReply Processor::fail_write(const ClientContext& c, const RequestHeader& h, Err err, Reply& reply) {
  if (state_->pending.empty()) {
    reply.err = err;
    return AfterReply::kContinue;
  }
  Pending p;
  p.kind = Pending::Kind::kReady;
  p.token = c.token;
  p.xid = h.xid;
  JuteWriter w(p.frame);
  size_t f = w.begin_frame();
  encode(w, ReplyHeader{h.xid, 0, to_wire(err)});
  if (err == Err::kOk) p.frame.append(reply.body);  // a failed multi: err 0 and per-op error results
  w.end_frame(f);
  state_->pending.push_back(std::move(p));
  return AfterReply::kPending;
}

// ---------------------------------------------------------------------------------------------------------------
// Validation of writes (error precedence as ZooKeeper's PrepRequestProcessor, zookeeper-protocol.md §8).

Err Processor::prep_create(PendingView& view, const ClientContext& c, OpCode op, const CreateRequest& req,
                           TxnOp& out) {
  if (!create_mode_valid(req.flags)) return Err::kBadArguments;
  auto mode = static_cast<CreateMode>(req.flags);
  bool ttl_op = op == OpCode::kCreateTtl;
  if (create_mode_ttl(mode) || ttl_op) {
    if (!config_.extended_types_enabled) return Err::kUnimplemented;
  }
  if (create_mode_ttl(mode)) {
    if (!ttl_op || req.ttl <= 0 || req.ttl > owner::kTtlMaxMs) return Err::kBadArguments;
  } else if (ttl_op) {
    return Err::kBadArguments;
  }

  // As ZooKeeper: only a missing '/' or a NUL fails before the parent lookup; the parent is the text before the
  // last '/', so "/missing/" or "/a//b" answer NONODE, and the whole path is validated after the ACL check.
  size_t last_slash = req.path.rfind('/');
  if (last_slash == std::string::npos || req.path.find('\0') != std::string::npos) return Err::kBadArguments;
  AclList acl;
  if (Err e = fixup_acl(req.acl, c.auth_ids, acl); e != Err::kOk) return e;
  std::string parent_path = last_slash == 0 ? std::string("/") : req.path.substr(0, last_slash);
  std::optional<NodeShadow> parent = view.get(parent_path);
  if (!parent) return Err::kNoNode;
  if (!acl_permits(parent->acl, c.auth_ids, perm::kCreate)) return Err::kNoAuth;

  std::string path = req.path;
  if (create_mode_sequential(mode)) path += format_sequence(parent->stat.cversion);
  if (!path_valid(path)) return Err::kBadArguments;
  if (view.get(path)) return Err::kNodeExists;
  if (owner::is_ephemeral(parent->stat.ephemeral_owner)) return Err::kNoChildrenForEphemerals;

  // The flags decide the kind: create (1) with the container flag makes a container too.
  int64_t owner_id = 0;
  if (mode == CreateMode::kContainer) {
    owner_id = owner::kContainer;
  } else if (create_mode_ttl(mode)) {
    owner_id = owner::make_ttl(req.ttl);
  } else if (create_mode_ephemeral(mode)) {
    owner_id = c.session;
  }

  out = TxnOp{};
  out.type = TxnType::kCreate;
  out.path = path;
  out.data = req.data;
  out.acl = acl;
  out.ephemeral_owner = owner_id;
  out.parent_cversion = parent->stat.cversion + 1;

  parent->stat.cversion = out.parent_cversion;
  parent->stat.num_children++;
  view.put(parent_path, parent);
  NodeShadow created;
  created.stat.ephemeral_owner = owner_id;
  created.acl = std::move(acl);
  view.put(path, std::move(created));
  return Err::kOk;
}

Err Processor::prep_delete(PendingView& view, const ClientContext& c, OpCode op, const DeleteRequest& req,
                           TxnOp& out) {
  if (!path_valid(req.path)) return Err::kBadArguments;
  // The system nodes stay; user nodes below /zookeeper/quota may go.
  if (req.path == "/" || req.path == "/zookeeper" || req.path == "/zookeeper/quota" ||
      req.path == "/zookeeper/config") {
    return Err::kBadArguments;
  }
  std::string parent_path(path_parent(req.path));
  std::optional<NodeShadow> parent = view.get(parent_path);
  if (!parent) return Err::kNoNode;
  if (op != OpCode::kDeleteContainer && !acl_permits(parent->acl, c.auth_ids, perm::kDelete)) return Err::kNoAuth;
  std::optional<NodeShadow> node = view.get(req.path);
  if (!node) return Err::kNoNode;
  if (op == OpCode::kDeleteContainer) {
    int64_t o = node->stat.ephemeral_owner;
    if (!owner::is_container(o) && !owner::is_ttl(o)) return Err::kBadArguments;
  } else if (!version_matches(req.version, node->stat.version)) {
    return Err::kBadVersion;
  }
  if (node->stat.num_children > 0) return Err::kNotEmpty;

  out = TxnOp{};
  out.type = TxnType::kDelete;
  out.path = req.path;
  parent->stat.num_children--;
  view.put(parent_path, parent);
  view.put(req.path, std::nullopt);
  return Err::kOk;
}

Err Processor::prep_set_data(PendingView& view, const ClientContext& c, const SetDataRequest& req, TxnOp& out) {
  if (!path_valid(req.path)) return Err::kBadArguments;
  std::optional<NodeShadow> node = view.get(req.path);
  if (!node) return Err::kNoNode;
  if (!acl_permits(node->acl, c.auth_ids, perm::kWrite)) return Err::kNoAuth;
  if (!version_matches(req.version, node->stat.version)) return Err::kBadVersion;
  out = TxnOp{};
  out.type = TxnType::kSetData;
  out.path = req.path;
  out.data = req.data;
  out.version = node->stat.version + 1;
  node->stat.version = out.version;
  view.put(req.path, std::move(node));
  return Err::kOk;
}

Err Processor::prep_set_acl(PendingView& view, const ClientContext& c, const SetAclRequest& req, TxnOp& out) {
  if (!path_valid(req.path)) return Err::kBadArguments;
  AclList acl;
  if (Err e = fixup_acl(req.acl, c.auth_ids, acl); e != Err::kOk) return e;
  std::optional<NodeShadow> node = view.get(req.path);
  if (!node) return Err::kNoNode;
  if (!acl_permits(node->acl, c.auth_ids, perm::kAdmin)) return Err::kNoAuth;
  if (!version_matches(req.version, node->stat.aversion)) return Err::kBadVersion;
  out = TxnOp{};
  out.type = TxnType::kSetAcl;
  out.path = req.path;
  out.acl = acl;
  out.version = node->stat.aversion + 1;
  node->stat.aversion = out.version;
  node->acl = std::move(acl);
  view.put(req.path, std::move(node));
  return Err::kOk;
}

Err Processor::prep_check(PendingView& view, const ClientContext& c, const CheckVersionRequest& req, TxnOp& out) {
  if (!path_valid(req.path)) return Err::kBadArguments;
  std::optional<NodeShadow> node = view.get(req.path);
  if (!node) return Err::kNoNode;
  if (!acl_permits(node->acl, c.auth_ids, perm::kRead)) return Err::kNoAuth;
  if (!version_matches(req.version, node->stat.version)) return Err::kBadVersion;
  out = TxnOp{};
  out.type = TxnType::kCheck;
  out.path = req.path;
  out.version = req.version;
  return Err::kOk;
}

// ---------------------------------------------------------------------------------------------------------------
// Request dispatch.

AfterReply Processor::handle(ClientContext& client, const RequestHeader& header, JuteReader& body, std::string& out,
                             int64_t now_ms) {
  Reply reply;
  AfterReply after = AfterReply::kContinue;
  auto op = static_cast<OpCode>(header.type);
  if (is_single_write(op)) {
    after = do_write(client, header, body, reply, now_ms);
  } else if (is_snapshot_read(op)) {
    JuteWriter w(reply.body);
    ReadResult r = serve_snapshot_read(tree_, client.auth_ids, op, body, w);
    reply.err = r.err;
    add_read_watch(client, r);
  } else {
    switch (op) {
      case OpCode::kMulti:
        after = do_multi(client, header, body, reply, now_ms);
        break;
      case OpCode::kMultiRead:
        do_multi_read(client, body, reply);
        break;
      case OpCode::kSetWatches:
      case OpCode::kSetWatches2:
        do_set_watches(client, body, op == OpCode::kSetWatches2, reply);
        break;
      case OpCode::kCheckWatches:
      case OpCode::kRemoveWatches:
      case OpCode::kAddWatch:
        do_watch_admin(client, op, body, reply);
        break;
      case OpCode::kSync:
      case OpCode::kGetEphemerals:
      case OpCode::kWhoAmI:
        do_misc_read(client, op, body, reply);
        break;
      case OpCode::kPing:
        break;
      case OpCode::kReconfig:
        reply.err = config_.reconfig_enabled ? Err::kUnimplemented : Err::kReconfigDisabled;
        break;
      case OpCode::kSasl:
        reply.err = Err::kUnimplemented;
        break;
      case OpCode::kCloseSession:
        after = do_close_session(client, header, now_ms);
        break;
      default:
        // check (13) outside a multi and unknown opcodes: ZooKeeper answers UNIMPLEMENTED and closes.
        UK_WARN("session 0x%" PRIx64 ": unsupported opcode %d, closing connection",
                static_cast<uint64_t>(client.session), header.type);
        reply.err = Err::kUnimplemented;
        reply.after = AfterReply::kClose;
        break;
    }
  }
  if (after == AfterReply::kPending) {
    return options_.commit_immediately ? settle_now(client.token, out) : AfterReply::kPending;
  }
  JuteWriter w(out);
  size_t frame = w.begin_frame();
  encode(w, ReplyHeader{header.xid, tree_.last_zxid(), to_wire(reply.err)});
  if (reply.err == Err::kOk) out.append(reply.body);
  w.end_frame(frame);
  return reply.after;
}

AfterReply Processor::do_close_session(ClientContext& c, const RequestHeader& h, int64_t now_ms) {
  PendingView view(tree_, *state_);
  prep_close_session(view, c.session);
  Pending p;
  p.kind = Pending::Kind::kRequest;
  p.token = c.token;
  p.xid = h.xid;
  p.op = OpCode::kCloseSession;
  p.txn = make_txn(c, h.xid, TxnType::kCloseSession, now_ms);
  TxnOp op;
  op.type = TxnType::kCloseSession;
  p.txn.ops.push_back(std::move(op));
  submit(std::move(p), view);
  return AfterReply::kPending;
}

void Processor::prep_close_session(PendingView& view, SessionId session) {
  // The session's ephemerals go with it: those applied and those whose creates still pend.
  std::set<std::string> doomed;
  if (const std::set<std::string>* eph = tree_.ephemerals_of(session)) doomed.insert(eph->begin(), eph->end());
  for (const auto& [path, o] : state_->outstanding) {
    if (o.node && o.node->stat.ephemeral_owner == session) doomed.insert(path);
  }
  for (const std::string& path : doomed) {
    std::optional<NodeShadow> node = view.get(path);
    if (!node || node->stat.ephemeral_owner != session) continue;
    view.put(path, std::nullopt);
    std::string parent_path(path_parent(path));
    if (std::optional<NodeShadow> parent = view.get(parent_path)) {
      parent->stat.num_children--;
      view.put(parent_path, std::move(parent));
    }
  }
}

AfterReply Processor::do_write(ClientContext& c, const RequestHeader& h, JuteReader& body, Reply& reply,
                              int64_t now_ms) {
  auto op = static_cast<OpCode>(h.type);
  PendingView view(tree_, *state_);
  TxnOp txn_op;
  Err err = Err::kOk;
  int32_t flags = 0;
  switch (op) {
    case OpCode::kCreate:
    case OpCode::kCreate2:
    case OpCode::kCreateContainer:
    case OpCode::kCreateTtl: {
      CreateRequest req;
      if (!decode(body, req, op == OpCode::kCreateTtl)) {
        err = Err::kMarshallingError;
      } else {
        flags = req.flags;
        err = prep_create(view, c, op, req, txn_op);
      }
      break;
    }
    case OpCode::kDelete:
    case OpCode::kDeleteContainer: {
      DeleteRequest req;
      err = decode(body, req) ? prep_delete(view, c, op, req, txn_op) : Err::kMarshallingError;
      break;
    }
    case OpCode::kSetData: {
      SetDataRequest req;
      err = decode(body, req) ? prep_set_data(view, c, req, txn_op) : Err::kMarshallingError;
      break;
    }
    case OpCode::kSetAcl: {
      SetAclRequest req;
      err = decode(body, req) ? prep_set_acl(view, c, req, txn_op) : Err::kMarshallingError;
      break;
    }
    default:
      err = Err::kUnimplemented;
      break;
  }
  if (err != Err::kOk) return fail_write(c, h, err, reply);
  Pending p;
  p.kind = Pending::Kind::kRequest;
  p.token = c.token;
  p.xid = h.xid;
  p.op = op;
  p.ops.emplace_back(op, flags);
  p.txn = make_txn(c, h.xid, txn_op.type, now_ms);
  p.txn.ops.push_back(std::move(txn_op));
  submit(std::move(p), view);
  return AfterReply::kPending;
}

AfterReply Processor::do_multi(ClientContext& c, const RequestHeader& h, JuteReader& body, Reply& reply,
                              int64_t now_ms) {
  // Decode every op first: a malformed multi, or one holding a read, is MARSHALLINGERROR and changes nothing.
  struct MultiOp {
    OpCode op;
    CreateRequest create;
    DeleteRequest del;
    SetDataRequest set;
    CheckVersionRequest check;
  };
  std::vector<MultiOp> ops;
  for (;;) {
    MultiHeader mh;
    if (!decode(body, mh)) break;
    if (mh.done) break;
    MultiOp m;
    m.op = static_cast<OpCode>(mh.type);
    bool ok = true;
    switch (m.op) {
      case OpCode::kCreate:
      case OpCode::kCreate2:
      case OpCode::kCreateContainer:
      case OpCode::kCreateTtl: ok = decode(body, m.create, m.op == OpCode::kCreateTtl); break;
      case OpCode::kDelete: ok = decode(body, m.del); break;
      case OpCode::kSetData: ok = decode(body, m.set); break;
      case OpCode::kCheck: ok = decode(body, m.check); break;
      default: ok = false; break;
    }
    if (!ok) {
      body.fail();
      break;
    }
    ops.push_back(std::move(m));
  }
  if (!body.ok()) return fail_write(c, h, Err::kMarshallingError, reply);

  PendingView view(tree_, *state_);
  Pending p;
  p.kind = Pending::Kind::kRequest;
  p.token = c.token;
  p.xid = h.xid;
  p.op = OpCode::kMulti;
  p.txn = make_txn(c, h.xid, TxnType::kMulti, now_ms);
  size_t failed_at = ops.size();
  Err failed_err = Err::kOk;
  for (size_t i = 0; i < ops.size(); i++) {
    TxnOp t;
    Err e = Err::kOk;
    MultiOp& m = ops[i];
    switch (m.op) {
      case OpCode::kDelete: e = prep_delete(view, c, m.op, m.del, t); break;
      case OpCode::kSetData: e = prep_set_data(view, c, m.set, t); break;
      case OpCode::kCheck: e = prep_check(view, c, m.check, t); break;
      default: e = prep_create(view, c, m.op, m.create, t); break;
    }
    if (e != Err::kOk) {
      failed_at = i;
      failed_err = e;
      break;
    }
    p.ops.emplace_back(m.op, m.create.flags);
    p.txn.ops.push_back(std::move(t));
  }

  if (failed_at < ops.size() || ops.empty()) {
    // All-or-nothing: nothing applies; every op reports an error entry. ReplyHeader.err stays 0.
    JuteWriter w(reply.body);
    for (size_t i = 0; i < ops.size(); i++) {
      Err e = i < failed_at ? Err::kOk : i == failed_at ? failed_err : Err::kRuntimeInconsistency;
      encode(w, MultiHeader{static_cast<int32_t>(OpCode::kError), false, to_wire(e)});
      w.put_int(to_wire(e));
    }
    encode(w, MultiHeader{-1, true, -1});
    return fail_write(c, h, Err::kOk, reply);
  }
  submit(std::move(p), view);
  return AfterReply::kPending;
}

// Reads do not validate paths, as ZooKeeper: a malformed path is simply not found.
void Processor::add_read_watch(ClientContext& c, const ReadResult& r) {
  if (c.watcher == nullptr) return;
  switch (r.watch) {
    case ReadWatch::kNone:
      return;
    case ReadWatch::kData:
    case ReadWatch::kExists:
      watches_.add_data_watch(r.path, c.watcher);
      return;
    case ReadWatch::kChild:
      watches_.add_child_watch(r.path, c.watcher);
      return;
  }
}

void Processor::do_multi_read(ClientContext& c, JuteReader& body, Reply& reply) {
  std::vector<std::pair<OpCode, PathWatchRequest>> ops;
  for (;;) {
    MultiHeader mh;
    if (!decode(body, mh) || mh.done) break;
    auto op = static_cast<OpCode>(mh.type);
    PathWatchRequest req;
    if ((op != OpCode::kGetData && op != OpCode::kGetChildren) || !decode(body, req)) {
      body.fail();
      break;
    }
    ops.emplace_back(op, std::move(req));
  }
  if (!body.ok()) {
    reply.err = Err::kMarshallingError;
    return;
  }
  JuteWriter w(reply.body);
  for (auto& [op, req] : ops) {
    std::string one;
    JuteWriter ow(one);
    ReadResult r = read_path(tree_, c.auth_ids, op, req, ow);
    add_read_watch(c, r);
    Err e = r.err;
    if (e == Err::kOk) {
      encode(w, MultiHeader{static_cast<int32_t>(op), false, 0});
      reply.body.append(one);
    } else {
      encode(w, MultiHeader{static_cast<int32_t>(OpCode::kError), false, to_wire(e)});
      w.put_int(to_wire(e));
    }
  }
  encode(w, MultiHeader{-1, true, -1});
}

void Processor::register_watch_at(ClientContext& c, ReadWatch watch, const std::string& path, Zxid zxid) {
  if (c.watcher == nullptr || watch == ReadWatch::kNone) return;
  const Node* n = tree_.get(path);
  if (watch == ReadWatch::kExists) {
    if (n != nullptr) {
      c.watcher->deliver_event(EventType::kNodeCreated, path);
    } else {
      watches_.add_data_watch(path, c.watcher);
    }
    return;
  }
  // The node was there at `zxid`: gone now, or created again since (czxid after it), means it was deleted.
  if (n == nullptr || n->stat.czxid > zxid) {
    c.watcher->deliver_event(EventType::kNodeDeleted, path);
  } else if (watch == ReadWatch::kData) {
    if (n->stat.mzxid > zxid) {
      c.watcher->deliver_event(EventType::kNodeDataChanged, path);
    } else {
      watches_.add_data_watch(path, c.watcher);
    }
  } else if (n->stat.pzxid > zxid) {
    c.watcher->deliver_event(EventType::kNodeChildrenChanged, path);
  } else {
    watches_.add_child_watch(path, c.watcher);
  }
}

void Processor::do_set_watches(ClientContext& c, JuteReader& body, bool version2, Reply& reply) {
  SetWatchesRequest req;
  if (!decode(body, req, version2)) {
    reply.err = Err::kMarshallingError;
    return;
  }
  if (c.watcher == nullptr) return;
  Zxid rel = req.relative_zxid;
  for (const std::string& p : req.data) {
    const Node* n = tree_.get(p);
    if (n == nullptr) {
      c.watcher->deliver_event(EventType::kNodeDeleted, p);
    } else if (n->stat.mzxid > rel) {
      c.watcher->deliver_event(EventType::kNodeDataChanged, p);
    } else {
      watches_.add_data_watch(p, c.watcher);
    }
  }
  for (const std::string& p : req.exist) {
    if (tree_.get(p) != nullptr) {
      c.watcher->deliver_event(EventType::kNodeCreated, p);
    } else {
      watches_.add_data_watch(p, c.watcher);
    }
  }
  for (const std::string& p : req.child) {
    const Node* n = tree_.get(p);
    if (n == nullptr) {
      c.watcher->deliver_event(EventType::kNodeDeleted, p);
    } else if (n->stat.pzxid > rel) {
      c.watcher->deliver_event(EventType::kNodeChildrenChanged, p);
    } else {
      watches_.add_child_watch(p, c.watcher);
    }
  }
  for (const std::string& p : req.persistent) watches_.add_persistent_watch(p, c.watcher, false);
  for (const std::string& p : req.persistent_recursive) watches_.add_persistent_watch(p, c.watcher, true);
}

void Processor::do_watch_admin(ClientContext& c, OpCode op, JuteReader& body, Reply& reply) {
  PathIntRequest req;
  if (!decode(body, req)) {
    reply.err = Err::kMarshallingError;
    return;
  }
  if (op == OpCode::kAddWatch) {
    if (req.value != 0 && req.value != 1) {
      reply.err = Err::kBadArguments;
      return;
    }
    const Node* n = tree_.get(req.path);
    if (n != nullptr && !acl_permits(n->acl, c.auth_ids, perm::kRead)) {
      reply.err = Err::kNoAuth;
      return;
    }
    if (c.watcher != nullptr) watches_.add_persistent_watch(req.path, c.watcher, req.value == 1);
    JuteWriter(reply.body).put_int(0);
    return;
  }
  if (req.value < 1 || req.value > 5) {
    reply.err = Err::kBadArguments;
    return;
  }
  auto type = static_cast<WatcherType>(req.value);
  bool found = op == OpCode::kCheckWatches ? watches_.has(req.path, c.watcher, type)
                                           : watches_.remove(req.path, c.watcher, type);
  if (!found) reply.err = Err::kNoWatcher;
}

void Processor::do_misc_read(ClientContext& c, OpCode op, JuteReader& body, Reply& reply) {
  JuteWriter w(reply.body);
  if (op == OpCode::kWhoAmI) {
    w.put_int(static_cast<int32_t>(c.auth_ids.size()));
    for (const Id& id : c.auth_ids) {
      w.put_string(id.scheme);
      std::string_view user = id.id;
      if (id.scheme == "digest") user = user.substr(0, user.find(':'));
      w.put_string(user);
    }
    return;
  }
  PathRequest req;
  if (!decode(body, req)) {
    reply.err = Err::kMarshallingError;
    return;
  }
  switch (op) {
    case OpCode::kSync:
      // Standalone: every read already sees every committed write.
      w.put_string(req.path);
      return;
    case OpCode::kGetEphemerals: {
      std::vector<std::string> mine;
      if (const std::set<std::string>* eph = tree_.ephemerals_of(c.session)) {
        for (const std::string& p : *eph) {
          if (req.path == "/" || p.compare(0, req.path.size(), req.path) == 0) mine.push_back(p);
        }
      }
      encode(w, mine);
      return;
    }
    default:
      break;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Sessions and reaping.

void Processor::create_session(uint64_t token, SessionId id, int32_t timeout_ms, int64_t now_ms) {
  ClientContext c;
  c.session = id;
  PendingView view(tree_, *state_);
  Pending p;
  p.kind = Pending::Kind::kConnect;
  p.token = token;
  p.txn = make_txn(c, 0, TxnType::kCreateSession, now_ms);
  TxnOp op;
  op.type = TxnType::kCreateSession;
  op.timeout_ms = timeout_ms;
  p.txn.ops.push_back(op);
  submit(std::move(p), view);
  if (options_.commit_immediately) {
    std::string ignored;
    settle_now(0, ignored);
  }
}

void Processor::close_session(SessionId id, int64_t now_ms) {
  ClientContext c;
  c.session = id;
  PendingView view(tree_, *state_);
  prep_close_session(view, id);
  Pending p;
  p.kind = Pending::Kind::kInternal;
  p.txn = make_txn(c, 0, TxnType::kCloseSession, now_ms);
  TxnOp op;
  op.type = TxnType::kCloseSession;
  p.txn.ops.push_back(op);
  submit(std::move(p), view);
  if (options_.commit_immediately) {
    std::string ignored;
    settle_now(0, ignored);
  }
}

void Processor::reap_containers_and_ttls(int64_t now_ms) {
  std::vector<std::string> doomed;
  for (const std::string& p : tree_.containers()) {
    const Node* n = tree_.get(p);
    if (n != nullptr && n->children.empty() && n->stat.cversion > 0) doomed.push_back(p);
  }
  for (const std::string& p : tree_.ttl_nodes()) {
    const Node* n = tree_.get(p);
    if (n == nullptr || !n->children.empty()) continue;
    if (now_ms - n->stat.mtime_ms > owner::ttl_ms(n->stat.ephemeral_owner)) doomed.push_back(p);
  }
  ClientContext system;  // session 0: the server itself
  for (const std::string& path : doomed) {
    // Validated against pending txns too: a child created meanwhile, or a delete already pending, keeps it.
    PendingView view(tree_, *state_);
    TxnOp op;
    if (prep_delete(view, system, OpCode::kDeleteContainer, DeleteRequest{path, -1}, op) != Err::kOk) continue;
    Pending p;
    p.kind = Pending::Kind::kInternal;
    p.txn = make_txn(system, 0, TxnType::kDelete, now_ms);
    p.txn.ops.push_back(std::move(op));
    submit(std::move(p), view);
    UK_DEBUG("reaping %s", path.c_str());
  }
  if (options_.commit_immediately) {
    std::string ignored;
    settle_now(0, ignored);
  }
}

}  // namespace uk
