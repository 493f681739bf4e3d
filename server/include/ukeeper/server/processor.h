// The request pipeline of a standalone node: decode a request, validate it against the tree and the writes not
// yet applied (prep), turn a write into a Txn, commit it (today: apply at once; with the WAL: after it is
// durable), fire watches, and encode the reply. No sockets here: the server hands in request bodies and
// receives reply bytes, so tests drive the processor directly.
// Thread-safety: one thread owns a Processor and everything it references.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ukeeper/common/config.h"
#include "ukeeper/common/jute.h"
#include "ukeeper/storage/tree/data_tree.h"
#include "ukeeper/server/proto.h"
#include "ukeeper/server/sessions.h"
#include "ukeeper/server/watches.h"

namespace uk {

// What the processor needs to know about the client behind a request.
struct ClientContext {
  SessionId session = 0;
  std::vector<Id> auth_ids;  // ip:<peer> from the start, then what AuthPackets proved
  Watcher* watcher = nullptr;
};

enum class AfterReply { kContinue, kClose };

class Processor {
 public:
  Processor(const ServerConfig& config, DataTree& tree, WatchManager& watches, SessionTracker& sessions);

  // Handles one request (header already decoded, `body` positioned after it) and appends the reply frame to
  // `out`. Watch events the request causes are delivered to their watchers before this returns, so on the
  // requester's own connection they precede the reply.
  AfterReply handle(ClientContext& client, const RequestHeader& header, JuteReader& body, std::string& out,
                    int64_t now_ms);

  // Session lifecycle as transactions (so the WAL and the ensemble see them).
  void create_session(SessionId id, int32_t timeout_ms, int64_t now_ms);
  void close_session(SessionId id, int64_t now_ms);

  // Deletes empty containers (cversion > 0) and TTL nodes whose TTL has passed without children.
  void reap_containers_and_ttls(int64_t now_ms);

  Zxid last_zxid() const { return tree_.last_zxid(); }
  const DataTree& tree() const { return tree_; }

 private:
  struct Reply;
  // Validation of writes against a view that overlays the tree with the changes of the same multi.
  class PendingView;

  Err prep_create(PendingView& view, const ClientContext& c, OpCode op, const CreateRequest& req, TxnOp& out);
  Err prep_delete(PendingView& view, const ClientContext& c, OpCode op, const DeleteRequest& req, TxnOp& out);
  Err prep_set_data(PendingView& view, const ClientContext& c, const SetDataRequest& req, TxnOp& out);
  Err prep_set_acl(PendingView& view, const ClientContext& c, const SetAclRequest& req, TxnOp& out);
  Err prep_check(PendingView& view, const ClientContext& c, const CheckVersionRequest& req, TxnOp& out);

  ApplyResult commit(Txn& txn);
  Txn make_txn(const ClientContext& c, int32_t xid, TxnType type, int64_t now_ms) const;

  void do_write(ClientContext& c, const RequestHeader& h, JuteReader& body, Reply& reply, int64_t now_ms);
  void do_multi(ClientContext& c, const RequestHeader& h, JuteReader& body, Reply& reply, int64_t now_ms);
  void do_multi_read(ClientContext& c, JuteReader& body, Reply& reply);
  void do_read(ClientContext& c, OpCode op, JuteReader& body, Reply& reply);
  void do_set_watches(ClientContext& c, JuteReader& body, bool version2, Reply& reply);
  void do_watch_admin(ClientContext& c, OpCode op, JuteReader& body, Reply& reply);
  void do_misc_read(ClientContext& c, OpCode op, JuteReader& body, Reply& reply);
  // getData / getChildren bodies shared by the single requests and multiRead; returns the error or kOk.
  Err read_data(ClientContext& c, const PathWatchRequest& req, JuteWriter& w);
  Err read_children(ClientContext& c, const PathWatchRequest& req, bool with_stat, JuteWriter& w);

  const ServerConfig& config_;
  DataTree& tree_;
  WatchManager& watches_;
  SessionTracker& sessions_;
};

}  // namespace uk
