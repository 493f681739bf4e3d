#include "ukeeper/server/processor.h"

#include <cinttypes>
#include <cstdio>
#include <map>

#include "ukeeper/common/log.h"
#include "ukeeper/server/acl.h"
#include "ukeeper/storage/tree/path.h"

namespace uk {

struct Processor::Reply {
  std::string body;  // encoded response record; sent only when err == kOk
  Err err = Err::kOk;
  Zxid zxid = -1;    // -1: the node's last applied zxid
  AfterReply after = AfterReply::kContinue;
};

// A node as validation sees it: the tree's version, or the version a previous op of the same multi left.
struct NodeShadow {
  Stat stat;
  AclList acl;
};

class Processor::PendingView {
 public:
  explicit PendingView(const DataTree& tree) : tree_(tree) {}

  std::optional<NodeShadow> get(const std::string& path) const {
    auto it = changes_.find(path);
    if (it != changes_.end()) return it->second;
    const Node* n = tree_.get(path);
    if (n == nullptr) return std::nullopt;
    return NodeShadow{n->stat, n->acl};
  }
  void put(const std::string& path, std::optional<NodeShadow> node) { changes_[path] = std::move(node); }

 private:
  const DataTree& tree_;
  std::map<std::string, std::optional<NodeShadow>> changes_;
};

namespace {

bool is_write(OpCode op) {
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

bool version_matches(int32_t expected, int32_t actual) { return expected == -1 || expected == actual; }

std::string format_sequence(int32_t n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%010d", n);
  return buf;
}

}  // namespace

Processor::Processor(const ServerConfig& config, DataTree& tree, WatchManager& watches, SessionTracker& sessions)
    : config_(config), tree_(tree), watches_(watches), sessions_(sessions) {}

Txn Processor::make_txn(const ClientContext& c, int32_t xid, TxnType type, int64_t now_ms) const {
  Txn t;
  t.session = c.session;
  t.cxid = xid;
  t.time_ms = now_ms;
  t.type = type;
  return t;
}

ApplyResult Processor::commit(Txn& txn) {
  // Standalone: the zxid is the next counter value and the txn applies at once. The durable-storage issue puts
  // the WAL append and persisted(zxid) between assignment and apply.
  txn.zxid = tree_.last_zxid() + 1;
  ApplyResult r = tree_.apply(txn);
  for (const TreeEvent& e : r.events) watches_.trigger(e.type, e.path, e.acl);
  return r;
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
  auto op = static_cast<OpCode>(header.type);
  if (is_write(op)) {
    do_write(client, header, body, reply, now_ms);
  } else {
    switch (op) {
      case OpCode::kExists:
      case OpCode::kGetData:
      case OpCode::kGetChildren:
      case OpCode::kGetChildren2:
        do_read(client, op, body, reply);
        break;
      case OpCode::kMulti:
        do_multi(client, header, body, reply, now_ms);
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
      case OpCode::kGetAcl:
      case OpCode::kSync:
      case OpCode::kGetEphemerals:
      case OpCode::kGetAllChildrenNumber:
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
        close_session(client.session, now_ms);
        reply.after = AfterReply::kClose;
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
  JuteWriter w(out);
  size_t frame = w.begin_frame();
  Zxid zxid = reply.zxid == -1 ? tree_.last_zxid() : reply.zxid;
  encode(w, ReplyHeader{header.xid, zxid, to_wire(reply.err)});
  if (reply.err == Err::kOk) out.append(reply.body);
  w.end_frame(frame);
  return reply.after;
}

void Processor::do_write(ClientContext& c, const RequestHeader& h, JuteReader& body, Reply& reply, int64_t now_ms) {
  auto op = static_cast<OpCode>(h.type);
  PendingView view(tree_);
  TxnOp txn_op;
  Err err = Err::kOk;
  switch (op) {
    case OpCode::kCreate:
    case OpCode::kCreate2:
    case OpCode::kCreateContainer:
    case OpCode::kCreateTtl: {
      CreateRequest req;
      if (!decode(body, req, op == OpCode::kCreateTtl)) {
        err = Err::kMarshallingError;
      } else {
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
  if (err != Err::kOk) {
    reply.err = err;
    return;
  }
  Txn txn = make_txn(c, h.xid, txn_op.type, now_ms);
  txn.ops.push_back(std::move(txn_op));
  ApplyResult r = commit(txn);
  reply.zxid = txn.zxid;
  const OpResult& res = r.results.at(0);
  JuteWriter w(reply.body);
  switch (op) {
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
    default:
      break;
  }
}

void Processor::do_multi(ClientContext& c, const RequestHeader& h, JuteReader& body, Reply& reply, int64_t now_ms) {
  // Decode every op first: a malformed multi, or one holding a read, is MARSHALLINGERROR and changes nothing.
  struct PendingOp {
    OpCode op;
    CreateRequest create;
    DeleteRequest del;
    SetDataRequest set;
    CheckVersionRequest check;
  };
  std::vector<PendingOp> ops;
  for (;;) {
    MultiHeader mh;
    if (!decode(body, mh)) break;
    if (mh.done) break;
    PendingOp p;
    p.op = static_cast<OpCode>(mh.type);
    bool ok = true;
    switch (p.op) {
      case OpCode::kCreate:
      case OpCode::kCreate2:
      case OpCode::kCreateContainer:
      case OpCode::kCreateTtl: ok = decode(body, p.create, p.op == OpCode::kCreateTtl); break;
      case OpCode::kDelete: ok = decode(body, p.del); break;
      case OpCode::kSetData: ok = decode(body, p.set); break;
      case OpCode::kCheck: ok = decode(body, p.check); break;
      default: ok = false; break;
    }
    if (!ok) {
      body.fail();
      break;
    }
    ops.push_back(std::move(p));
  }
  if (!body.ok()) {
    reply.err = Err::kMarshallingError;
    return;
  }

  PendingView view(tree_);
  Txn txn = make_txn(c, h.xid, TxnType::kMulti, now_ms);
  size_t failed_at = ops.size();
  Err failed_err = Err::kOk;
  for (size_t i = 0; i < ops.size(); i++) {
    TxnOp t;
    Err e = Err::kOk;
    PendingOp& p = ops[i];
    switch (p.op) {
      case OpCode::kDelete: e = prep_delete(view, c, p.op, p.del, t); break;
      case OpCode::kSetData: e = prep_set_data(view, c, p.set, t); break;
      case OpCode::kCheck: e = prep_check(view, c, p.check, t); break;
      default: e = prep_create(view, c, p.op, p.create, t); break;
    }
    if (e != Err::kOk) {
      failed_at = i;
      failed_err = e;
      break;
    }
    txn.ops.push_back(std::move(t));
  }

  JuteWriter w(reply.body);
  if (failed_at < ops.size()) {
    // All-or-nothing: nothing applies; every op reports an error entry.
    for (size_t i = 0; i < ops.size(); i++) {
      Err e = i < failed_at ? Err::kOk : i == failed_at ? failed_err : Err::kRuntimeInconsistency;
      encode(w, MultiHeader{static_cast<int32_t>(OpCode::kError), false, to_wire(e)});
      w.put_int(to_wire(e));
    }
    encode(w, MultiHeader{-1, true, -1});
    return;
  }
  if (ops.empty()) {
    encode(w, MultiHeader{-1, true, -1});
    return;
  }
  ApplyResult r = commit(txn);
  reply.zxid = txn.zxid;
  for (size_t i = 0; i < ops.size(); i++) {
    const OpResult& res = r.results.at(i);
    OpCode op = ops[i].op;
    switch (op) {
      case OpCode::kCreate:
      case OpCode::kCreate2:
      case OpCode::kCreateContainer:
      case OpCode::kCreateTtl: {
        // ZooKeeper 3.8 picks the result type from the create flags, not the opcode: containers and TTL nodes
        // get a Create2Response (type 15), everything else a plain CreateResponse (type 1), even for create2.
        auto mode = static_cast<CreateMode>(ops[i].create.flags);
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
}

// Reads do not validate paths, as ZooKeeper: a malformed path is simply not found.
Err Processor::read_data(ClientContext& c, const PathWatchRequest& req, JuteWriter& w) {
  const Node* n = tree_.get(req.path);
  if (n == nullptr) return Err::kNoNode;
  if (!acl_permits(n->acl, c.auth_ids, perm::kRead)) return Err::kNoAuth;
  if (req.watch && c.watcher != nullptr) watches_.add_data_watch(req.path, c.watcher);
  w.put_buffer(n->data);
  encode(w, client_stat(n->stat));
  return Err::kOk;
}

Err Processor::read_children(ClientContext& c, const PathWatchRequest& req, bool with_stat, JuteWriter& w) {
  const Node* n = tree_.get(req.path);
  if (n == nullptr) return Err::kNoNode;
  if (!acl_permits(n->acl, c.auth_ids, perm::kRead)) return Err::kNoAuth;
  if (req.watch && c.watcher != nullptr) watches_.add_child_watch(req.path, c.watcher);
  w.put_int(static_cast<int32_t>(n->children.size()));
  for (const std::string& child : n->children) w.put_string(child);
  if (with_stat) encode(w, client_stat(n->stat));
  return Err::kOk;
}

void Processor::do_read(ClientContext& c, OpCode op, JuteReader& body, Reply& reply) {
  PathWatchRequest req;
  if (!decode(body, req)) {
    reply.err = Err::kMarshallingError;
    return;
  }
  JuteWriter w(reply.body);
  switch (op) {
    case OpCode::kExists: {
      // exists leaves a data watch whether or not the node is there (NodeCreated fires it).
      if (req.watch && c.watcher != nullptr) watches_.add_data_watch(req.path, c.watcher);
      const Node* n = tree_.get(req.path);
      if (n == nullptr) {
        reply.err = Err::kNoNode;
        return;
      }
      encode(w, client_stat(n->stat));
      return;
    }
    case OpCode::kGetData:
      reply.err = read_data(c, req, w);
      return;
    default:
      reply.err = read_children(c, req, op == OpCode::kGetChildren2, w);
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
    Err e = op == OpCode::kGetData ? read_data(c, req, ow) : read_children(c, req, false, ow);
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
  const Node* n = tree_.get(req.path);
  if (n == nullptr) {
    reply.err = Err::kNoNode;
    return;
  }
  if (op == OpCode::kGetAcl) {
    if (!acl_permits(n->acl, c.auth_ids, perm::kRead | perm::kAdmin)) {
      reply.err = Err::kNoAuth;
      return;
    }
    // Without ADMIN on the node, digest hashes are redacted to "user:x" (ZooKeeper 3.5.5+, CVE-2019-0201).
    if (acl_permits(n->acl, c.auth_ids, perm::kAdmin)) {
      encode(w, n->acl);
    } else {
      AclList shown = n->acl;
      for (Acl& a : shown) {
        if (a.id.scheme == "digest") a.id.id = a.id.id.substr(0, a.id.id.find(':')) + ":x";
      }
      encode(w, shown);
    }
    encode(w, client_stat(n->stat));
    return;
  }
  // getAllChildrenNumber
  if (!acl_permits(n->acl, c.auth_ids, perm::kRead)) {
    reply.err = Err::kNoAuth;
    return;
  }
  w.put_int(static_cast<int32_t>(tree_.all_children_number(req.path)));
}

// ---------------------------------------------------------------------------------------------------------------
// Sessions and reaping.

void Processor::create_session(SessionId id, int32_t timeout_ms, int64_t now_ms) {
  ClientContext c;
  c.session = id;
  Txn txn = make_txn(c, 0, TxnType::kCreateSession, now_ms);
  TxnOp op;
  op.type = TxnType::kCreateSession;
  op.timeout_ms = timeout_ms;
  txn.ops.push_back(op);
  commit(txn);
}

void Processor::close_session(SessionId id, int64_t now_ms) {
  ClientContext c;
  c.session = id;
  Txn txn = make_txn(c, 0, TxnType::kCloseSession, now_ms);
  TxnOp op;
  op.type = TxnType::kCloseSession;
  txn.ops.push_back(op);
  commit(txn);
  sessions_.remove(id);
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
  for (const std::string& p : doomed) {
    PendingView view(tree_);
    TxnOp op;
    if (prep_delete(view, system, OpCode::kDeleteContainer, DeleteRequest{p, -1}, op) != Err::kOk) continue;
    Txn txn = make_txn(system, 0, TxnType::kDelete, now_ms);
    txn.ops.push_back(std::move(op));
    commit(txn);
    UK_DEBUG("reaped %s", p.c_str());
  }
}

}  // namespace uk
