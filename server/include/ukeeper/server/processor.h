// The request pipeline of a standalone node: decode a request, validate it against the tree and the writes not
// yet applied (prep), turn a write into a Txn, commit it (today: apply at once; with the WAL: after it is
// durable), fire watches, and encode the reply. No sockets here: the server hands in request bodies and
// receives reply bytes, so tests drive the processor directly.
// Thread-safety: one thread owns a Processor and everything it references.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ukeeper/common/config.h"
#include "ukeeper/common/jute.h"
#include "ukeeper/storage/tree/data_tree.h"
#include "ukeeper/server/proto.h"
#include "ukeeper/server/reads.h"
#include "ukeeper/server/watches.h"

namespace uk {

// What the processor needs to know about the client behind a request.
struct ClientContext {
  SessionId session = 0;
  std::vector<Id> auth_ids;  // ip:<peer> from the start, then what AuthPackets proved
  Watcher* watcher = nullptr;
  uint64_t token = 0;  // names the connection in CommitSink calls; 0 = none
};

// What handle() did with a request.
enum class AfterReply {
  kContinue,  // the reply is in `out`
  kClose,     // the reply is in `out`; close the connection once it is sent
  kPending,   // a write waits for its txn to be durable; the reply comes later through the CommitSink
};

// Receives what applying durable transactions produces. Implemented by the server; calls arrive from inside
// Processor::apply_persisted(), in zxid order, and must not call back into the Processor.
class CommitSink {
 public:
  // A complete reply frame for the connection `token`; close it once sent when `close_after`.
  virtual void reply(uint64_t token, std::string frame, bool close_after) = 0;
  // A createSession txn applied: the handshake of connection `token` can be answered.
  virtual void session_created(uint64_t token, SessionId id) = 0;
  // A closeSession txn applied (closeSession request, after its reply, or expiry): forget the session.
  virtual void session_closed(SessionId id) = 0;

 protected:
  ~CommitSink() = default;
};

struct ProcessorOptions {
  // true: a txn applies as soon as it is made, and handle() replies at once (tests, fuzzing). false: txns wait
  // in the outbox until the server has logged them and calls apply_persisted() (the durable pipeline).
  bool commit_immediately = true;
};

class Processor {
 public:
  Processor(const ServerConfig& config, DataTree& tree, WatchManager& watches, ProcessorOptions options = {});
  ~Processor();

  // Handles one request (header already decoded, `body` positioned after it). Reads, and writes that fail
  // validation while nothing is pending, reply into `out` at once. A valid write becomes a txn with the next zxid
  // and returns kPending; its reply comes through the sink once it is applied. Watch events a txn causes reach
  // their watchers before its reply, so on the requester's own connection they come first.
  // The caller keeps per-connection order: no read of a connection is handled while one of its writes pends.
  AfterReply handle(ClientContext& client, const RequestHeader& header, JuteReader& body, std::string& out,
                    int64_t now_ms);

  // A watch a read served elsewhere (an I/O thread, from a snapshot at `zxid`) asked for. If the node changed
  // after `zxid` the event fires now, else the watch is registered: the rule of setWatches, so nothing that
  // happened between the read and now goes unnoticed.
  void register_watch_at(ClientContext& client, ReadWatch watch, const std::string& path, Zxid zxid);

  // Session lifecycle as transactions (so the WAL and, later, the ensemble see them). create_session's result
  // arrives as CommitSink::session_created(token, id); close_session's as session_closed(id).
  void create_session(uint64_t token, SessionId id, int32_t timeout_ms, int64_t now_ms);
  void close_session(SessionId id, int64_t now_ms);

  // Deletes empty containers (cversion > 0) and TTL nodes whose TTL has passed without children.
  void reap_containers_and_ttls(int64_t now_ms);

  // Txns made since the last call, in zxid order, encoded for the log.
  std::vector<std::pair<Zxid, std::string>> take_outbox();
  // Applies every pending txn with zxid <= `persisted` (and error replies queued behind earlier writes), in
  // order, firing watches and calling the sink.
  void apply_persisted(Zxid persisted, CommitSink& sink);
  // Ensemble: applies a txn consensus committed, in zxid order. The leader finds its own txns at the head of the
  // pending queue and answers them as apply_persisted() does; any other txn (a learner's, or history an elected
  // leader inherited) is applied as it comes: watches fire and session ends reach the sink.
  void apply_committed(const Txn& txn, CommitSink& sink);
  // Ensemble leader, once established: txns are numbered after `zxid` (its epoch's counter 0).
  void start_numbering_after(Zxid zxid) { last_assigned_ = zxid; }
  // Ensemble role change: forgets every pending txn and queued reply (their connections are being closed).
  void drop_pending();
  // Recovery: after the tree was loaded from a snapshot, continue numbering from its last zxid.
  void restored() { last_assigned_ = tree_.last_zxid(); }
  // Recovery: applies a txn read back from the log (no watches, no replies).
  void replay(const Txn& txn);

  Zxid last_zxid() const { return tree_.last_zxid(); }       // last applied
  Zxid last_assigned_zxid() const { return last_assigned_; }  // last handed to the log
  size_t pending_count() const;
  const DataTree& tree() const { return tree_; }

 private:
  struct Reply;
  struct Pending;
  // Validation of writes against the tree overlaid with the changes of pending txns and of the same multi.
  class PendingView;

  Err prep_create(PendingView& view, const ClientContext& c, OpCode op, const CreateRequest& req, TxnOp& out);
  Err prep_delete(PendingView& view, const ClientContext& c, OpCode op, const DeleteRequest& req, TxnOp& out);
  Err prep_set_data(PendingView& view, const ClientContext& c, const SetDataRequest& req, TxnOp& out);
  Err prep_set_acl(PendingView& view, const ClientContext& c, const SetAclRequest& req, TxnOp& out);
  Err prep_check(PendingView& view, const ClientContext& c, const CheckVersionRequest& req, TxnOp& out);
  void prep_close_session(PendingView& view, SessionId session);

  // Gives `txn` the next zxid, records the view's changes as outstanding, queues it for the log and for apply.
  void submit(Pending pending, const PendingView& view);
  // commit_immediately: applies what submit() queued, replies for `token` going into `out`.
  AfterReply settle_now(uint64_t token, std::string& out);
  void emit_reply(const Pending& p, const ApplyResult& r, CommitSink& sink);
  // Sends the ready-made replies at the head of the pending queue.
  void emit_ready_head(CommitSink& sink);
  Txn make_txn(const ClientContext& c, int32_t xid, TxnType type, int64_t now_ms) const;

  AfterReply do_write(ClientContext& c, const RequestHeader& h, JuteReader& body, Reply& reply, int64_t now_ms);
  AfterReply do_multi(ClientContext& c, const RequestHeader& h, JuteReader& body, Reply& reply, int64_t now_ms);
  AfterReply do_close_session(ClientContext& c, const RequestHeader& h, int64_t now_ms);
  // A write that failed validation: replied at once unless earlier txns pend, then queued behind them.
  AfterReply fail_write(const ClientContext& c, const RequestHeader& h, Err err, Reply& reply);
  void do_multi_read(ClientContext& c, JuteReader& body, Reply& reply);
  void do_set_watches(ClientContext& c, JuteReader& body, bool version2, Reply& reply);
  void do_watch_admin(ClientContext& c, OpCode op, JuteReader& body, Reply& reply);
  void do_misc_read(ClientContext& c, OpCode op, JuteReader& body, Reply& reply);
  // Registers the watch a snapshot read (reads.h) asked for.
  void add_read_watch(ClientContext& c, const ReadResult& r);

  const ServerConfig& config_;
  DataTree& tree_;
  WatchManager& watches_;
  ProcessorOptions options_;
  Zxid last_assigned_ = 0;
  struct State;
  std::unique_ptr<State> state_;  // pending queue, outstanding changes, outbox
};

}  // namespace uk
