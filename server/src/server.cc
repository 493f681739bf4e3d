#include "ukeeper/server/server.h"

#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <cinttypes>
#include <cstring>
#include <random>

#include "ukeeper/common/log.h"
#include "ukeeper/server/acl.h"
#include "ukeeper/server/proto.h"
#include "ukeeper/storage/snapshot/snapshot.h"
#include "clock.h"
#include "connection.h"
#include "files.h"
#include "ensemble.h"

namespace uk {
namespace {

constexpr uint64_t kListenTag = 0;
constexpr uint64_t kWakeTag = 1;
constexpr uint64_t kWalTag = 2;
constexpr uint64_t kIoInlineTag = 4;  // ioThreads=0: the client I/O epoll set, nested (kPeerEpollTag is 3)
constexpr int64_t kReapIntervalMs = 1000;
// How often an idle loop lets the znode store free what closed read guards held (each write frees what it can
// at its end; this covers the last writes before a quiet spell). With nothing retired it returns at once.
constexpr int64_t kTreeReclaimIntervalMs = 100;

std::string random_secret() {
  std::random_device rd;
  std::string s(16, '\0');
  for (char& ch : s) ch = static_cast<char>(rd() & 0xff);
  return s;
}

// Requests that may be handled while this connection's earlier writes pend: writes (they queue behind them in zxid
// order) and auth (answered at once, as ZooKeeper does). Everything else waits.
bool may_pass_pending_writes(int32_t type) {
  auto op = static_cast<OpCode>(type);
  return is_single_write(op) || op == OpCode::kMulti || op == OpCode::kAuth;
}

// The password key: 16 random bytes kept in the data directory, so session passwords survive restarts.
bool load_or_create_secret(const std::string& data_dir, std::string& secret, std::string& error) {
  std::string path = data_dir + "/ukeeper.secret";
  if (read_small_file(path, secret)) {
    if (secret.size() == 16) return true;
    error = path + ": " + std::to_string(secret.size()) + " bytes, expected 16";
    return false;
  }
  secret = random_secret();
  return write_file_durably(path, secret, error);
}

}  // namespace

Server::Server(ServerConfig config)
    : config_(std::move(config)),
      sessions_(0, random_secret(), mono_ms()),
      processor_(config_, tree_, watches_, ProcessorOptions{.commit_immediately = false}),
      next_snapshot_after_txns_(std::max<int64_t>(1, config_.snap_count)) {}

Server::~Server() {
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
  for (auto& link : io_) link->thread->stop();
}

bool Server::open_storage(std::string& error) {
  std::string secret;
  if (!load_or_create_secret(config_.data_dir, secret, error)) return false;
  sessions_.set_secret(std::move(secret));

  // Newest valid snapshot first, then every WAL record after it.
  std::vector<std::string> skipped;
  Zxid snap_zxid = load_newest_snapshot(snapshot_dir(), tree_, skipped);
  for (const std::string& why : skipped) UK_WARN("skipping snapshot: %s", why.c_str());
  processor_.restored();
  last_snapshot_zxid_ = snap_zxid;
  if (snap_zxid != 0) {
    UK_INFO("loaded snapshot 0x%" PRIx64 ": %zu znodes, %zu sessions", static_cast<uint64_t>(snap_zxid),
            tree_.node_count(), tree_.sessions().size());
  }

  WalOptions options;
  options.dir = wal_dir();
  options.segment_bytes = static_cast<uint64_t>(config_.prealloc_size_kb) * 1024;
  options.durability = config_.durability;
  options.max_batches_in_flight = config_.wal_max_batches_in_flight;
  if (const char* f = std::getenv("UKEEPER_FAULT_FAIL_SYNC_AT")) options.fault_fail_sync_at = std::atoi(f);
  WalRecovery recovery;
  std::string replay_error;
  wal_ = Wal::open(
      options,
      [&](Zxid zxid, std::string_view payload) {
        if (!replay_error.empty() || zxid <= snap_zxid) return;  // the snapshot already holds it
        std::optional<Txn> txn = decode_txn(payload);
        if (!txn || txn->zxid != zxid) {
          replay_error = "wal record 0x" + zab::hex_zxid(zxid) + " passed its checksum but does not decode";
        } else if (ens_) {
          // An ensemble member applies nothing yet: consensus decides which of these records are committed.
          ens_->recovered.entries.push_back(zab::Entry{zxid, std::string(payload)});
        } else if (zxid != tree_.last_zxid() + 1) {
          replay_error = "wal has a gap: record 0x" + zab::hex_zxid(zxid) + " follows 0x" + zab::hex_zxid(tree_.last_zxid());
        } else {
          processor_.replay(*txn);
        }
      },
      recovery, error);
  if (!wal_) return false;
  if (!replay_error.empty()) {
    error = replay_error + "; refusing to start";
    return false;
  }
  for (const std::string& m : recovery.messages) UK_WARN("%s", m.c_str());
  UK_INFO("recovered %" PRIu64 " transactions from %" PRIu64 " wal segments in %s: last zxid 0x%" PRIx64
          ", %zu znodes, %zu sessions (%s)",
          recovery.records, recovery.segments, options.dir.c_str(), static_cast<uint64_t>(tree_.last_zxid()),
          tree_.node_count(), tree_.sessions().size(), recovery.direct_io ? "O_DIRECT" : "buffered writes");
  // Sessions come back as ZooKeeper brings them back: alive for one more timeout, for their clients to return.
  int64_t now = mono_ms();
  for (const auto& [id, timeout] : tree_.sessions()) sessions_.open(id, timeout, now);
  epoll_.add(wal_->completion_fd(), EPOLLIN, kWalTag);
  return true;
}

bool Server::start(std::string& error) {
  if (!epoll_.valid()) {
    error = std::string("epoll_create1: ") + std::strerror(errno);
    return false;
  }
  if (!config_.servers.empty() && !read_myid(error)) return false;
  if (!open_storage(error)) return false;
  if (ens_ && !start_ensemble(error)) return false;
  uint64_t limit = raise_fd_limit();
  listen_fd_ = tcp_listen(config_.client_port_address, config_.client_port, error);
  if (!listen_fd_.valid()) return false;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(listen_fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  bound_port_ = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  wake_fd_ = make_wake_fd();
  epoll_.add(listen_fd_.get(), EPOLLIN, kListenTag);
  epoll_.add(wake_fd_.get(), EPOLLIN, kWakeTag);
  for (int i = 0; i < std::max(config_.io_threads, 1); i++) {
    auto link = std::make_unique<IoLink>();
    link->thread = std::make_unique<IoThread>(i, config_, tree_, wake_fd_.get());
    link->thread->set_shipped_through(tree_.last_zxid());
    if (config_.io_threads == 0) {
      link->thread->start_inline();
      epoll_.add(link->thread->epoll_fd(), EPOLLIN, kIoInlineTag);
    } else {
      link->thread->start();
    }
    io_.push_back(std::move(link));
  }
  started_mono_ms_ = mono_ms();
  purge_interval_ms_ = static_cast<int64_t>(config_.autopurge_purge_interval_hours) * 3600 * 1000;
  next_purge_ms_ = started_mono_ms_ + purge_interval_ms_;
  if (purge_interval_ms_ > 0) {
    UK_INFO("autopurge: at start, every %d h and after each snapshot, keeping the newest %d snapshots and the log "
            "they need", config_.autopurge_purge_interval_hours, config_.autopurge_snap_retain_count);
    // Like ZooKeeper's purge task, which first runs at startup: a crash between writing a snapshot and purging
    // after it leaves one snapshot too many, and it should not wait hours to go.
    purge_old_files();
  }
  UK_INFO("ukeeper %s serving clients on %s:%d (%s, tickTime=%d ms, session timeout %d..%d ms, "
          "open files limit %" PRIu64 ", %d client I/O threads)",
          kUkeeperVersion, config_.client_port_address.c_str(), bound_port_,
          ens_ ? "ensemble member" : "standalone", config_.tick_time_ms,
          config_.min_session_timeout_ms, config_.max_session_timeout_ms, limit, config_.io_threads);
  return true;
}

void Server::stop() {
  stopping_.store(true);
  wake_pipeline();
}

void Server::wake_pipeline() {
  if (wake_fd_.valid()) signal_wake_fd(wake_fd_.get());
}

void Server::run() {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  int64_t next_reap_ms = mono_ms() + kReapIntervalMs;
  int64_t next_tree_reclaim_ms = 0;
  // Session deadlines are checked at a fraction of the tick so expiry is never late by more than that.
  const int check_interval_ms = std::clamp(config_.tick_time_ms / 4, 10, 500);
  IoThread* inline_io = io_.front()->thread->is_inline() ? io_.front()->thread.get() : nullptr;
  bool inline_handed_over = false;  // the inline I/O queued something after this turn's drain_io()
  while (!stopping_.load()) {
    int64_t wait_us = ensemble_wait_us(mono_ms(), check_interval_ms);
    if (inline_io != nullptr) wait_us = inline_handed_over ? 0 : std::min(wait_us, inline_io->wanted_wait_us());
    int n = epoll_.wait_us(events, kMaxEvents, wait_us);
    for (int i = 0; i < n; i++) {
      uint64_t tag = events[i].data.u64;
      if (tag == kListenTag) {
        accept_all();
        continue;
      }
      if (tag == kWakeTag) {
        drain_wake_fd(wake_fd_.get());
        continue;
      }
      if (tag == kPeerEpollTag) continue;
      if (tag == kIoInlineTag) {
        inline_io->poll_sockets(0);
        continue;
      }
      if (tag == kWalTag) {
        wal_->reap();
        continue;
      }
    }
    if (inline_io != nullptr) inline_io->finish_turn();  // what it read goes to the queue drained next
    drain_io();
    int64_t now = mono_ms();
    if (ens_) ensemble_turn(now);
    if (!fatal_.empty()) break;
    if (leads_or_standalone()) expire_sessions(now);
    if (now >= next_reap_ms && leads_or_standalone()) {
      processor_.reap_containers_and_ttls(wall_ms());
      next_reap_ms = now + kReapIntervalMs;
    }
    drive_pipeline();
    if (!fatal_.empty()) break;
    maybe_snapshot();
    if (now >= next_tree_reclaim_ms) {
      tree_.reclaim();
      next_tree_reclaim_ms = now + kTreeReclaimIntervalMs;
    }
    if (purge_interval_ms_ > 0 && now >= next_purge_ms_ && !snapshot_thread_.joinable()) {
      purge_old_files();
      next_purge_ms_ = now + purge_interval_ms_;
    }
    ship_output();
    // The replies of this turn go out now (and what that turn queued for the pipeline is taken next turn).
    if (inline_io != nullptr) inline_handed_over = inline_io->finish_turn();
    reap_dead_connections();
  }
  if (fatal_.empty() && !wal_->sync_all()) fatal_ = wal_->failure();
  // Let a snapshot in progress finish rather than leave a .tmp behind.
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
  if (!fatal_.empty()) UK_ERROR("storage failed, stopping without acknowledging anything more: %s", fatal_.c_str());
  UK_INFO("shutting down: closing %zu client connections", conns_.size());
  for (auto& [id, conn] : conns_) close_connection(*conn, "server shutting down", false);
  reap_dead_connections();
  for (auto& link : io_) link->thread->stop();  // each closes its sockets
}

void Server::accept_all() {
  for (;;) {
    std::string peer;
    int peer_port = 0;
    Fd fd = tcp_accept(listen_fd_.get(), peer, peer_port);
    if (!fd.valid()) {
      if (errno == EMFILE || errno == ENFILE) UK_WARN("accept: %s (raise the open files limit)", std::strerror(errno));
      return;
    }
    int& per_ip = conns_per_ip_[peer];
    if (config_.max_client_cnxns > 0 && per_ip >= config_.max_client_cnxns) {
      counters_.connections_refused++;
      UK_WARN("too many connections from %s: max is %d (maxClientCnxns)", peer.c_str(), config_.max_client_cnxns);
      continue;  // fd closes here
    }
    per_ip++;
    uint64_t id = ++next_conn_id_;
    int io = static_cast<int>(next_io_++ % io_.size());
    auto conn = std::make_unique<Connection>(id, io, peer, peer_port, &to_flush_);
    conn->established_wall_ms = wall_ms();
    ToIo adopt;
    adopt.kind = ToIo::Kind::kAdopt;
    adopt.conn = id;
    adopt.fd = std::move(fd);
    adopt.peer_ip = std::move(peer);
    adopt.stats = conn->stats;
    adopt.auth_ids = conn->client.auth_ids;
    send_to_io(io, std::move(adopt));
    counters_.connections_accepted++;
    conns_.emplace(id, std::move(conn));
  }
}

void Server::drain_io() {
  ToPipeline m;
  for (auto& link : io_) {
    // Bounded per turn so that one busy thread cannot keep this loop from its other duties.
    for (int i = 0; i < 4096 && link->thread->try_receive(m); i++) on_io_message(m);
  }
}

void Server::on_io_message(ToPipeline& m) {
  auto it = conns_.find(m.conn);
  if (it == conns_.end() || it->second->dead) return;  // closed here already; the I/O thread has been told
  Connection& c = *it->second;
  switch (m.kind) {
    case ToPipeline::Kind::kClosed:
      close_connection(c, m.bytes.c_str(), false);
      return;
    case ToPipeline::Kind::kFourLetter:
      answer_four_letter(c, m.bytes);
      return;
    case ToPipeline::Kind::kFrame:
    case ToPipeline::Kind::kWatch:
      c.frames.push_back(std::move(m));
      process_input(c);
      return;
  }
}

void Server::send_to_io(int io, ToIo m) {
  IoLink& link = *io_[static_cast<size_t>(io)];
  if (link.backlog.empty() && link.thread->try_send(m)) {
    link.woken = true;
    return;
  }
  link.backlog.push_back(std::move(m));
}

void Server::ship(Connection& c) {
  ToIo m;
  m.kind = ToIo::Kind::kOutput;
  m.conn = c.id;
  m.bytes.swap(c.out);
  m.close_after = c.close_after_flush;
  m.has_watches = watches_.watches_of(&c);
  m.watch_acks = std::exchange(c.watch_acks, 0);
  if (std::exchange(c.auth_changed, false)) {
    m.auth_changed = true;
    m.auth_ids = c.client.auth_ids;
  }
  send_to_io(c.io, std::move(m));
}

void Server::ship_output() {
  std::vector<uint64_t> ids;
  ids.swap(to_flush_);
  for (uint64_t id : ids) {
    if (Connection* c = find_connection(id)) {
      c->output_pending = false;
      ship(*c);
    }
  }
  Zxid applied = tree_.last_zxid();
  for (auto& link : io_) {
    while (!link->backlog.empty() && link->thread->try_send(link->backlog.front())) {
      link->backlog.pop_front();
      link->woken = true;
    }
    // Every event of every txn applied so far is in this thread's queue, unless some still wait in the backlog.
    if (link->backlog.empty()) link->thread->set_shipped_through(applied);
    if (std::exchange(link->woken, false)) link->thread->wake();
  }
}

void Server::process_input(Connection& c) {
  while (!c.dead && !c.close_after_flush && !c.closing_session && !c.handshake_pending && !c.frames.empty()) {
    if (c.syncs_pending > 0) break;  // nothing overtakes a sync
    ToPipeline& m = c.frames.front();
    bool watch = m.kind == ToPipeline::Kind::kWatch;
    if (c.connected && c.pending_writes > 0) {
      // Per-connection order: a read waits until this connection's earlier writes are answered.
      if (watch || m.bytes.size() < 8) break;
      JuteReader type_reader(std::string_view(m.bytes).substr(4, 4));
      if (!may_pass_pending_writes(type_reader.get_int())) break;
    }
    ToPipeline frame = std::move(m);
    c.frames.pop_front();
    if (watch) {
      processor_.register_watch_at(c.client, frame.watch, frame.bytes, frame.zxid);
      c.watch_acks++;
      c.mark_output_pending();
      continue;
    }
    if (!process_frame(c, frame.bytes)) return;
  }
}

bool Server::process_frame(Connection& c, std::string_view frame) {
  return c.connected ? process_request(c, frame) : process_connect(c, frame);
}

bool Server::process_connect(Connection& c, std::string_view frame) {
  JuteReader r(frame);
  ConnectRequest req;
  if (!decode(r, req)) {
    counters_.bad_frames++;
    UK_WARN("connection from %s: malformed ConnectRequest (%zu bytes), closing", c.peer_ip.c_str(), frame.size());
    close_connection(c, "malformed handshake");
    return false;
  }
  if (req.last_zxid_seen > processor_.last_zxid()) {
    UK_WARN("refusing session 0x%" PRIx64 " from %s: client has seen zxid 0x%" PRIx64 ", newer than ours 0x%" PRIx64,
            static_cast<uint64_t>(req.session_id), c.peer_ip.c_str(), static_cast<uint64_t>(req.last_zxid_seen),
            static_cast<uint64_t>(processor_.last_zxid()));
    close_connection(c, "client is ahead of this server");
    return false;
  }
  if (ens_ && !ensemble_serving()) {
    close_connection(c, "not serving: the ensemble has no leader yet");
    return false;
  }
  int32_t timeout = std::clamp(req.timeout_ms, config_.min_session_timeout_ms, config_.max_session_timeout_ms);
  int64_t now = mono_ms();
  c.has_read_only = req.has_read_only;
  c.negotiated_timeout_ms = timeout;
  if (req.session_id == 0) {
    // A new session is a transaction: the handshake is answered once it is durable (session_created).
    SessionId id = sessions_.next_session_id();
    Session& s = sessions_.open(id, timeout, now);
    s.owner = &c;
    c.client.session = id;
    c.handshake_pending = true;
    if (ens_ && !leads_or_standalone()) {
      if (!ensemble_new_session(c, id, timeout)) {
        close_connection(c, "the leader is not reachable");
        return false;
      }
    } else {
      processor_.create_session(c.id, id, timeout, wall_ms());
    }
    UK_DEBUG("new session 0x%" PRIx64 " from %s, timeout %d ms", static_cast<uint64_t>(id), c.peer_ip.c_str(), timeout);
    return true;
  }
  Session* s = sessions_.find(req.session_id);
  if (s == nullptr && ens_ && !leads_or_standalone()) {
    // A global session this member has not seen a client of: the tree knows it (and its timeout).
    auto it = tree_.sessions().find(req.session_id);
    if (it != tree_.sessions().end()) s = &sessions_.open(it->first, it->second, now);
  }
  if (s == nullptr || s->closing || req.passwd != sessions_.password_for(req.session_id)) {
    UK_INFO("refusing reconnect of session 0x%" PRIx64 " from %s: %s", static_cast<uint64_t>(req.session_id),
            c.peer_ip.c_str(), s == nullptr || s->closing ? "expired or unknown" : "wrong password");
    send_connect_response(c, 0);  // timeOut 0, sessionId 0, 16 zero bytes: the client's "session expired"
    c.close_after_flush = true;
    c.mark_output_pending();
    return false;
  }
  if (s->owner != nullptr && s->owner != &c) {
    auto* old = static_cast<Connection*>(s->owner);
    s->owner = nullptr;
    close_connection(*old, "session moved to a new connection");
  }
  s->owner = &c;
  s->timeout_ms = timeout;
  sessions_.touch(*s, now);
  c.client.session = s->id;
  send_connect_response(c, s->id);
  c.mark_output_pending();
  return true;
}

void Server::send_connect_response(Connection& c, SessionId id) {
  ConnectResponse resp;
  resp.has_read_only = c.has_read_only;
  if (id != 0) {
    resp.timeout_ms = c.negotiated_timeout_ms;
    resp.session_id = id;
    resp.passwd = sessions_.password_for(id);
  }  // else the refusal: zero timeout, zero id, and encode() pads the password with 16 zero bytes
  JuteWriter w(c.out);
  size_t f = w.begin_frame();
  encode(w, resp);
  w.end_frame(f);
  c.connected = id != 0;
  c.handshake_pending = false;
}

bool Server::process_request(Connection& c, std::string_view frame) {
  JuteReader r(frame);
  RequestHeader h;
  if (!decode(r, h)) {
    counters_.bad_frames++;
    UK_WARN("session 0x%" PRIx64 ": request shorter than its header (%zu bytes), closing",
            static_cast<uint64_t>(c.client.session), frame.size());
    close_connection(c, "malformed request header");
    return false;
  }
  Session* s = sessions_.find(c.client.session);
  if (s == nullptr || s->owner != &c) {
    close_connection(c, "session no longer attached");
    return false;
  }
  sessions_.touch(*s, mono_ms());
  if (h.type == static_cast<int32_t>(OpCode::kCloseSession)) {
    s->closing = true;
    c.closing_session = true;
  }
  if (ens_ && h.type != static_cast<int32_t>(OpCode::kAuth) && ensemble_request(c, h, r)) {
    return !c.dead;
  }
  AfterReply after = AfterReply::kContinue;
  if (h.type == static_cast<int32_t>(OpCode::kAuth)) {
    AuthPacket auth;
    Err err = decode(r, auth) ? authenticate(auth.scheme, auth.auth, config_.super_digest, c.client.auth_ids)
                              : Err::kAuthFailed;
    if (err != Err::kOk) {
      UK_WARN("session 0x%" PRIx64 ": authentication with scheme '%s' failed, closing",
              static_cast<uint64_t>(c.client.session), auth.scheme.c_str());
      after = AfterReply::kClose;
    } else {
      c.auth_changed = true;  // the I/O thread checks ACLs of the reads it serves with these
    }
    JuteWriter w(c.out);
    size_t f = w.begin_frame();
    encode(w, ReplyHeader{kXidAuth, processor_.last_zxid(), to_wire(err)});
    w.end_frame(f);
  } else {
    after = processor_.handle(c.client, h, r, c.out, wall_ms());
  }
  if (after == AfterReply::kPending) {
    c.pending_writes++;
    return true;
  }
  c.mark_output_pending();
  if (after == AfterReply::kClose) {
    c.close_after_flush = true;
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// The durable pipeline: txns -> WAL -> persisted -> apply -> replies.

void Server::drive_pipeline() {
  // Each round may unblock connections whose queued reads then run and submit more writes; a bounded number of
  // rounds keeps one busy client from starving the event loop.
  for (int round = 0; round < 16; round++) {
    if (ens_) {
      // The leader's txns go to consensus, which logs them (Append) and applies them once a quorum has them.
      // A refused proposal means leadership just ended; the role change that follows drops the rest.
      for (auto& [zxid, bytes] : processor_.take_outbox()) ens_->zab->propose(zxid, std::move(bytes));
      run_zab_actions();
    } else {
      for (auto& [zxid, bytes] : processor_.take_outbox()) wal_->append(zxid, bytes);
    }
    wal_->pump();
    if (!wal_->failure().empty()) {
      fatal_ = wal_->failure();
      return;
    }
    if (ens_) {
      report_persisted();
      if (!fatal_.empty()) return;
    } else {
      processor_.apply_persisted(wal_->persisted_zxid(), *this);
    }
    if (to_resume_.empty()) return;
    std::vector<uint64_t> resume;
    resume.swap(to_resume_);
    for (uint64_t id : resume) {
      Connection* c = find_connection(id);
      if (c != nullptr && !c->dead) process_input(*c);
    }
  }
}

Server::Connection* Server::find_connection(uint64_t token) {
  auto it = conns_.find(token);
  return it == conns_.end() || it->second->dead ? nullptr : it->second.get();
}

void Server::reply(uint64_t token, std::string frame, bool close_after) {
  if (token_member(token) != 0) {
    // A learner's client: the reply travels back with the zxid the learner must have applied first.
    PeerApp m;
    m.kind = PeerAppKind::kReply;
    m.close_after = close_after;
    m.zxid = tree_.last_zxid();
    m.bytes = std::move(frame);
    send_to_member(token, std::move(m));
    return;
  }
  Connection* c = find_connection(token);
  if (c == nullptr) return;  // the client went away; its write still applied
  deliver_reply(*c, std::move(frame), close_after);
}

void Server::deliver_reply(Connection& conn, std::string frame, bool close_after) {
  Connection* c = &conn;
  c->out.append(frame);
  c->mark_output_pending();
  c->pending_writes--;
  if (close_after) {
    c->close_after_flush = true;
  } else if (c->pending_writes == 0) {
    to_resume_.push_back(c->id);
  }
}

void Server::session_created(uint64_t token, SessionId id) {
  if (token_member(token) != 0) {
    PeerApp m;
    m.kind = PeerAppKind::kSessionCreated;
    m.session = id;
    m.zxid = tree_.last_zxid();
    send_to_member(token, std::move(m));
    return;
  }
  Connection* c = find_connection(token);
  if (c == nullptr || c->client.session != id) return;  // gone before the handshake finished: it will expire
  send_connect_response(*c, id);
  c->mark_output_pending();
  to_resume_.push_back(token);  // requests the client pipelined behind its handshake
}

void Server::session_closed(SessionId id) {
  Session* s = sessions_.find(id);
  if (s == nullptr) return;
  auto* owner = static_cast<Connection*>(s->owner);
  sessions_.remove(id);
  // After an explicit closeSession the owner is already closing once its reply is out (on a learner that reply
  // arrives after the txn applied: the flag set when the request was read keeps the connection for it).
  if (owner != nullptr && !owner->dead && !owner->close_after_flush && !owner->closing_session) {
    close_connection(*owner, "session closed");
  }
}

void Server::answer_four_letter(Connection& c, std::string_view cmd) {
  std::string word(cmd);
  if (config_.four_letter_allowed(word)) {
    c.out += four_letter(word);
  } else {
    c.out += word + " is not executed because it is not in the whitelist.\n";
  }
  c.close_after_flush = true;
  c.mark_output_pending();
}

void Server::close_connection(Connection& c, const char* why, bool tell_io) {
  if (c.dead) return;
  c.dead = true;
  UK_DEBUG("closing connection %" PRIu64 " from %s (session 0x%" PRIx64 "): %s", c.id, c.peer_ip.c_str(),
           static_cast<uint64_t>(c.client.session), why);
  watches_.remove_watcher(&c);
  if (Session* s = sessions_.find(c.client.session); s != nullptr && s->owner == &c) s->owner = nullptr;
  if (tell_io) {
    ToIo m;
    m.kind = ToIo::Kind::kClose;
    m.conn = c.id;
    send_to_io(c.io, std::move(m));
  }
  auto ip = conns_per_ip_.find(c.peer_ip);
  if (ip != conns_per_ip_.end() && --ip->second <= 0) conns_per_ip_.erase(ip);
  dead_.push_back(c.id);
}

void Server::reap_dead_connections() {
  for (uint64_t id : dead_) conns_.erase(id);
  dead_.clear();
}

// ---------------------------------------------------------------------------------------------------------------
// Snapshots. A thread of their own writes one published version of the tree (a read guard opened here, between
// two applies, with the sessions of that same moment) while this thread goes on applying: no pause at all, and
// the snapshot is exact as of its zxid rather than fuzzy. While it writes, the store keeps what later writes
// replace (mntr zk_ukeeper_tree_retired_bytes), and frees it when the guard closes.

std::string Server::snapshot_dir() const { return config_.data_dir + "/snap"; }

std::string Server::wal_dir() const {
  return (config_.data_log_dir.empty() ? config_.data_dir : config_.data_log_dir) + "/wal";
}

void Server::maybe_snapshot() {
  if (snapshot_thread_.joinable()) {
    // While it writes, the store keeps what the writer replaces for the snapshot's guard: note the peak.
    snapshot_peak_retired_ = std::max(snapshot_peak_retired_, tree_.retired_bytes());
    if (!snapshot_done_.load(std::memory_order_acquire)) return;  // still writing
    snapshot_thread_.join();
    // The writer kept what it replaced while the snapshot's guard was open, and the snapshot thread's own
    // allocations (the sorted node index, the output buffer) lived in another malloc arena: both are free now,
    // but glibc keeps free memory mapped until asked to give it back.
    malloc_trim(0);
    if (!snapshot_error_.empty()) {
      UK_ERROR("snapshot 0x%" PRIx64 " failed: %s; the log is kept whole",
               static_cast<uint64_t>(snapshot_zxid_in_progress_), snapshot_error_.c_str());
      return;
    }
    // Consensus keeps the records since the snapshot before this one in memory, for learners a little behind
    // (DIFF); one further behind gets the snapshot (SNAP).
    if (ens_) ens_->zab->compact(last_snapshot_zxid_);
    last_snapshot_zxid_ = snapshot_zxid_in_progress_;
    UK_INFO("snapshot 0x%" PRIx64 " written in %" PRId64 " ms; the store kept up to %" PRId64
            " KiB for it meanwhile", static_cast<uint64_t>(last_snapshot_zxid_), mono_ms() - snapshot_started_ms_,
            snapshot_peak_retired_ / 1024);
    purge_old_files();
    return;
  }
  if (tree_.last_zxid() - last_snapshot_zxid_ < next_snapshot_after_txns_) return;
  snapshot_zxid_in_progress_ = tree_.last_zxid();
  snapshot_started_ms_ = mono_ms();
  snapshot_peak_retired_ = 0;
  if (!snapshot_reader_) snapshot_reader_ = std::make_unique<TreeReader>(tree_);
  snapshot_done_.store(false, std::memory_order_relaxed);
  snapshot_error_.clear();
  // The guard and its reader go to the snapshot thread, which alone uses them until it is joined.
  snapshot_thread_ = std::thread([this, guard = snapshot_reader_->guard(), sessions = tree_.sessions()]() mutable {
    std::string path;
    std::string error;
    {
      std::optional<ReadGuard> version(std::move(guard));
      TreeVersion v{&*version, std::move(sessions), [&version] { version.reset(); }};
      if (!write_snapshot_file(v, snapshot_dir(), path, error)) snapshot_error_ = error;
    }
    snapshot_done_.store(true, std::memory_order_release);
    wake_pipeline();
  });
  snapshots_started_++;
  // Like ZooKeeper, the next snapshot comes after a random count in [snapCount/2, snapCount) so that ensemble
  // members do not all snapshot at once.
  int64_t half = std::max<int64_t>(1, config_.snap_count / 2);
  next_snapshot_after_txns_ = half + static_cast<int64_t>(snapshot_rng_() % static_cast<uint64_t>(half));
}

void Server::purge_old_files() {
  if (config_.autopurge_purge_interval_hours <= 0) return;  // ZooKeeper's default: never purge
  std::vector<std::string> removed;
  Zxid oldest_kept = purge_snapshots(snapshot_dir(), config_.autopurge_snap_retain_count, removed);
  for (const std::string& r : removed) UK_INFO("purged %s", r.c_str());
  if (oldest_kept > 0) {
    size_t segments = wal_->purge_before(oldest_kept);
    if (segments > 0) UK_INFO("purged %zu wal segments holding only txns up to 0x%" PRIx64, segments,
                              static_cast<uint64_t>(oldest_kept));
  }
}

void Server::expire_sessions(int64_t mono_now) {
  for (SessionId id : sessions_.expired(mono_now)) {
    Session* s = sessions_.find(id);
    if (s == nullptr || s->closing || heard_since(*s, mono_now)) continue;
    UK_INFO("session 0x%" PRIx64 " expired after %d ms without contact", static_cast<uint64_t>(id), s->timeout_ms);
    auto* owner = static_cast<Connection*>(s->owner);
    s->closing = true;
    s->owner = nullptr;
    if (owner != nullptr) close_connection(*owner, "session expired");
    processor_.close_session(id, wall_ms());
  }
}

bool Server::heard_since(Session& s, int64_t mono_now) {
  auto* owner = static_cast<Connection*>(s.owner);
  if (owner == nullptr || owner->dead) return false;
  int64_t heard = owner->stats->last_heard_ms.load(std::memory_order_relaxed);
  if (heard + s.timeout_ms <= mono_now) return false;
  sessions_.touch(s, heard);
  return true;
}

}  // namespace uk
