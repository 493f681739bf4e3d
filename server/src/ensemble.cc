// Ensemble behaviour of the Server: the host side of consensus (zab actions bound to the WAL, the tree and the
// peer transport), forwarding of learners' writes to the leader, global sessions, and sync barriers.
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstring>
#include <cstdio>

#include "clock.h"
#include "connection.h"
#include "files.h"
#include "ensemble.h"
#include "ukeeper/common/jute.h"
#include "ukeeper/common/log.h"
#include "ukeeper/server/server.h"
#include "ukeeper/storage/snapshot/snapshot.h"

namespace uk {
namespace {

uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return h;
}

// Both ends of a peer channel must run with the same member list: a hash of it travels in the transport hello.
std::string describe_members(const ServerConfig& config) {
  std::string s;
  for (const auto& [id, spec] : config.servers) {
    s += std::to_string(id) + "=" + spec.host + ":" + std::to_string(spec.quorum_port) + ":" +
         std::to_string(spec.election_port) + (spec.observer ? ":observer" : "") + ";";
  }
  return s;
}

}  // namespace

// --- peer app messages ------------------------------------------------------------------------------------------

std::string encode_peer_app(const PeerApp& m) {
  std::string out;
  JuteWriter w(out);
  w.put_byte(static_cast<int8_t>(m.kind));
  w.put_long(static_cast<int64_t>(m.conn));
  w.put_long(m.session);
  switch (m.kind) {
    case PeerAppKind::kForward:
      w.put_int(m.xid);
      w.put_int(m.type);
      w.put_buffer(std::string_view(m.bytes));
      w.put_int(static_cast<int32_t>(m.auth_ids.size()));
      for (const Id& id : m.auth_ids) {
        w.put_string(id.scheme);
        w.put_string(id.id);
      }
      break;
    case PeerAppKind::kReply:
      w.put_long(m.zxid);
      w.put_bool(m.close_after);
      w.put_buffer(std::string_view(m.bytes));
      break;
    case PeerAppKind::kCreateSession:
      w.put_int(m.timeout_ms);
      break;
    case PeerAppKind::kSessionCreated:
      w.put_long(m.zxid);
      break;
    case PeerAppKind::kTouch:
      w.put_int(static_cast<int32_t>(m.sessions.size()));
      for (SessionId s : m.sessions) w.put_long(s);
      break;
  }
  return out;
}

std::optional<PeerApp> decode_peer_app(std::string_view bytes) {
  JuteReader r(bytes);
  PeerApp m;
  auto kind = static_cast<uint8_t>(r.get_byte());
  if (kind < 1 || kind > static_cast<uint8_t>(PeerAppKind::kTouch)) return std::nullopt;
  m.kind = static_cast<PeerAppKind>(kind);
  m.conn = static_cast<uint64_t>(r.get_long());
  m.session = r.get_long();
  switch (m.kind) {
    case PeerAppKind::kForward: {
      m.xid = r.get_int();
      m.type = r.get_int();
      auto body = r.get_buffer();
      if (!body) return std::nullopt;
      m.bytes = std::move(*body);
      int32_t n = r.get_count(8);
      for (int32_t i = 0; i < n && r.ok(); i++) {
        Id id;
        id.scheme = r.get_string();
        id.id = r.get_string();
        m.auth_ids.push_back(std::move(id));
      }
      break;
    }
    case PeerAppKind::kReply: {
      m.zxid = r.get_long();
      m.close_after = r.get_bool();
      auto frame = r.get_buffer();
      if (!frame) return std::nullopt;
      m.bytes = std::move(*frame);
      break;
    }
    case PeerAppKind::kCreateSession:
      m.timeout_ms = r.get_int();
      break;
    case PeerAppKind::kSessionCreated:
      m.zxid = r.get_long();
      break;
    case PeerAppKind::kTouch: {
      int32_t n = r.get_count(8);
      for (int32_t i = 0; i < n && r.ok(); i++) m.sessions.push_back(r.get_long());
      break;
    }
  }
  if (!r.ok() || r.remaining() != 0) return std::nullopt;
  return m;
}

// --- start ------------------------------------------------------------------------------------------------------

bool Server::read_myid(std::string& error) {
  std::string path = config_.data_dir + "/myid";
  std::string text;
  if (!read_small_file(path, text)) {
    error = path + ": missing; an ensemble member (server.N lines present) needs its server id in it, as ZooKeeper";
    return false;
  }
  text.erase(text.find_last_not_of(" \t\r\n") + 1);
  char* end = nullptr;
  long long id = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end == nullptr || *end != '\0' || id <= 0 || id > 255) {
    error = path + ": '" + text + "' is not a server id (1..255)";
    return false;
  }
  if (config_.servers.count(id) == 0) {
    error = path + ": server id " + std::to_string(id) + " has no server." + std::to_string(id) + " line in the config";
    return false;
  }
  ens_ = std::make_unique<EnsembleState>();
  ens_->my_id = id;
  const ServerSpec& me = config_.servers.at(id);
  ens_->observer = me.observer || config_.peer_type_observer;
  if (config_.client_port == 0) {
    if (me.client_port == 0) {
      error = "no clientPort, and server." + std::to_string(id) + " gives no client port";
      return false;
    }
    config_.client_port = me.client_port;
    if (!me.client_address.empty()) config_.client_port_address = me.client_address;
  }
  return true;
}

bool Server::load_epochs(zab::Epochs& epochs, std::string& error) {
  std::string path = config_.data_dir + "/ukeeper.epochs";
  std::string text;
  if (!read_small_file(path, text)) return true;  // a new member: both epochs 0
  unsigned long long accepted = 0;
  unsigned long long current = 0;
  char extra = 0;
  if (std::sscanf(text.c_str(), "%llu %llu %c", &accepted, &current, &extra) != 2 || current > accepted) {
    error = path + ": not two epochs 'accepted current' with current <= accepted";
    return false;
  }
  epochs.accepted = accepted;
  epochs.current = current;
  return true;
}

bool Server::start_ensemble(std::string& error) {
  EnsembleState& e = *ens_;
  zab::Epochs epochs;
  if (!load_epochs(epochs, error)) return false;
  // A log that reaches past the recorded epoch (the epoch file lost, say) still tells the epoch it was in.
  Zxid last = e.recovered.entries.empty() ? tree_.last_zxid() : e.recovered.entries.back().zxid;
  epochs.current = std::max(epochs.current, zab::epoch_of(last));
  epochs.accepted = std::max(epochs.accepted, epochs.current);
  e.recovered.epochs = epochs;
  e.recovered.base = tree_.last_zxid();

  // Session ids carry this member's id; passwords are keyed by the member list, so every member checks them.
  sessions_ = SessionTracker(e.my_id, "", mono_ms());
  unsigned char key[16];
  uint64_t h1 = fnv1a("ukeeper session key:" + describe_members(config_));
  uint64_t h2 = fnv1a(describe_members(config_), h1);
  std::memcpy(key, &h1, 8);
  std::memcpy(key + 8, &h2, 8);
  session_key_.assign(reinterpret_cast<char*>(key), sizeof key);
  sessions_.set_secret(session_key_);

  zab::Options o;
  o.my_id = e.my_id;
  for (const auto& [id, spec] : config_.servers) (spec.observer ? o.observers : o.voters).push_back(id);
  if (e.observer && std::find(o.observers.begin(), o.observers.end(), e.my_id) == o.observers.end()) {
    error = "peerType=observer but server." + std::to_string(e.my_id) + " is not marked :observer";
    return false;
  }
  // Consensus ticks every 10 ms; ZooKeeper's limits, given in tickTime units, become tick counts.
  const int64_t zk_tick = config_.tick_time_ms / e.tick_ms;
  o.heartbeat_ticks = static_cast<int>(std::max<int64_t>(1, zk_tick / 2));
  o.leader_timeout_ticks = static_cast<int>(std::max<int64_t>(4, 2 * zk_tick));
  o.learner_timeout_ticks = static_cast<int>(std::max<int64_t>(4, config_.sync_limit * zk_tick));
  o.init_ticks = static_cast<int>(std::max<int64_t>(10, config_.init_limit * zk_tick));
  o.election_resend_ticks = 20;
  o.finalize_wait_ticks = 3;  // 30 ms for a better vote once a quorum agrees (all voters agreeing decides at once)
  e.touch_interval_ms = std::max(10, config_.tick_time_ms / 2);
  e.zab = std::make_unique<zab::Zab>(o, static_cast<uint64_t>(mono_ms()) ^ static_cast<uint64_t>(e.my_id));

  if (!open_peer_lanes(config_, e.my_id, fnv1a(describe_members(config_)), e.lanes, error)) return false;
  epoll_.add(e.lanes.transport->wait_fd(), EPOLLIN, kPeerEpollTag);

  const ServerSpec& me = config_.servers.at(e.my_id);
  UK_INFO("ensemble member %" PRId64 " of %zu (%s), peers on %s:%d, epochs accepted %" PRIu64 " current %" PRIu64
          ", %zu log records after 0x%" PRIx64,
          e.my_id, config_.servers.size(), e.observer ? "observer" : "voter",
          config_.quorum_listen_on_all_ips ? "0.0.0.0" : me.host.c_str(), me.quorum_port, epochs.accepted,
          epochs.current, e.recovered.entries.size(),
          static_cast<uint64_t>(e.recovered.base));
  e.reported_persisted = last;
  e.zab->start(std::move(e.recovered));
  e.recovered = {};
  e.next_tick_ms = mono_ms() + e.tick_ms;
  run_zab_actions();
  return true;
}

// --- the loop's share -------------------------------------------------------------------------------------------

int64_t Server::ensemble_wait_us(int64_t now, int wait_ms) {
  if (!ens_) return int64_t{wait_ms} * 1000;
  Transport& t = *ens_->lanes.transport;
  int64_t until = ens_->next_tick_ms;
  if (int64_t due = t.next_timer_ms(); due >= 0) until = std::min(until, due);
  int64_t us = std::clamp<int64_t>(until - now, 0, wait_ms) * 1000;
  // Last: it may arm completion events (RDMA), and a spinning lane (DPDK, RDMA after traffic) asks for 0.
  if (int64_t budget = t.block_budget_us(); budget >= 0) us = std::min(us, budget);
  return us;
}

void Server::ensemble_turn(int64_t now) {
  EnsembleState& e = *ens_;
  std::vector<PeerEvent> events;
  e.lanes.transport->poll(now, events);
  for (PeerEvent& ev : events) {
    switch (ev.kind) {
      case PeerEvent::Kind::kConnected:
        UK_INFO("peer channel to server %" PRId64 " up", ev.peer);
        e.zab->peer_connected(ev.peer);
        break;
      case PeerEvent::Kind::kDisconnected:
        UK_INFO("peer channel to server %" PRId64 " down", ev.peer);
        e.zab->peer_disconnected(ev.peer);
        break;
      case PeerEvent::Kind::kMessage:
        e.zab->receive(ev.peer, ev.message);
        break;
    }
    run_zab_actions();
  }
  while (now >= e.next_tick_ms) {
    e.zab->tick();
    e.next_tick_ms += e.tick_ms;
    run_zab_actions();
  }
  if (e.next_tick_ms < now - 1000) e.next_tick_ms = now + e.tick_ms;  // after a long stall, do not race to catch up
  report_persisted();
  if (!e.zab->serving() || e.role == zab::Role::kLeading || now < e.next_touch_ms) return;
  e.next_touch_ms = now + e.touch_interval_ms;
  // Sessions whose clients only read (served by the I/O threads) or pinged are alive too.
  for (auto& [id, c] : conns_) {
    int64_t heard = c->stats->last_heard_ms.load(std::memory_order_relaxed);
    if (c->dead || !c->connected || heard == c->reported_heard_ms) continue;
    c->reported_heard_ms = heard;
    e.touched.insert(c->client.session);
  }
  if (e.touched.empty()) return;
  PeerApp touch;
  touch.kind = PeerAppKind::kTouch;
  touch.sessions.assign(e.touched.begin(), e.touched.end());
  e.touched.clear();
  e.zab->send_app(e.leader, encode_peer_app(touch));
  run_zab_actions();
}

void Server::report_persisted() {
  EnsembleState& e = *ens_;
  Zxid p = wal_->persisted_zxid();
  if (p <= e.reported_persisted) return;
  e.reported_persisted = p;
  e.zab->persisted(p);
  run_zab_actions();
}

void Server::run_zab_actions() {
  EnsembleState& e = *ens_;
  for (;;) {
    std::vector<zab::Action> actions = e.zab->take_actions();
    if (actions.empty()) break;
    for (zab::Action& a : actions) {
      if (!fatal_.empty()) return;
      std::visit([this](auto& act) { on_zab_action(act); }, a);
    }
  }
  release_held_replies();
}

void Server::on_zab_action(zab::PersistEpochs& a) {
  std::string error;
  std::string content = std::to_string(a.epochs.accepted) + " " + std::to_string(a.epochs.current) + "\n";
  if (!write_file_durably(config_.data_dir + "/ukeeper.epochs", content, error)) fatal_ = "epochs: " + error;
}

void Server::on_zab_action(zab::Truncate& a) {
  std::string error;
  UK_INFO("truncating the log after 0x%" PRIx64 " (records the new leader does not have)", static_cast<uint64_t>(a.after));
  if (!wal_->truncate_after(a.after, error)) fatal_ = "wal truncate: " + error;
  ens_->reported_persisted = std::min(ens_->reported_persisted, a.after);
}

void Server::on_zab_action(zab::InstallSnapshot& a) {
  // A snapshot of the history this replaces may be in progress: let it finish, and do not count it as the last
  // snapshot (its zxid is about to mean nothing).
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
  DataTree fresh;
  std::string error;
  if (!decode_snapshot(a.state, fresh, error) || fresh.last_zxid() != a.zxid) {
    fatal_ = "snapshot from the leader does not decode: " + error;
    return;
  }
  tree_.install(std::move(fresh));
  processor_.drop_pending();
  std::string path;
  if (!write_snapshot_file(tree_, snapshot_dir(), path, error)) {
    fatal_ = "writing the leader's snapshot: " + error;
    return;
  }
  if (!wal_->reset(a.zxid, error)) {
    fatal_ = "wal reset: " + error;
    return;
  }
  last_snapshot_zxid_ = a.zxid;
  ens_->reported_persisted = a.zxid;
  UK_INFO("installed the leader's snapshot at 0x%" PRIx64 ": %zu znodes (%s)", static_cast<uint64_t>(a.zxid),
          tree_.node_count(), path.c_str());
}

void Server::on_zab_action(zab::Append& a) { wal_->append(a.entry.zxid, a.entry.payload); }

void Server::on_zab_action(zab::Apply& a) {
  std::optional<Txn> txn = decode_txn(a.entry.payload);
  if (!txn || txn->zxid != a.entry.zxid) {
    fatal_ = "committed record 0x" + zab::hex_zxid(a.entry.zxid) + " does not decode as a transaction";
    return;
  }
  processor_.apply_committed(*txn, *this);
  if (ens_->role == zab::Role::kLeading && txn->type == TxnType::kCreateSession && sessions_.find(txn->session) == nullptr) {
    sessions_.open(txn->session, txn->ops.at(0).timeout_ms, mono_ms());
  }
}

void Server::on_zab_action(zab::Send& a) { ens_->lanes.transport->send(a.peer, a.bytes); }

void Server::on_zab_action(zab::SendSnapshot& a) {
  if (tree_.last_zxid() != a.zxid) {
    fatal_ = "snapshot for server " + std::to_string(a.peer) + " asked at 0x" + zab::hex_zxid(a.zxid) +
             " but the tree is at 0x" + zab::hex_zxid(tree_.last_zxid());
    return;
  }
  zab::Message m;
  m.type = zab::MsgType::kSyncSnap;
  m.epoch = a.epoch;
  m.attempt = a.attempt;
  m.zxid = a.zxid;
  m.payload = encode_snapshot(tree_);
  UK_INFO("sending a snapshot at 0x%" PRIx64 " (%zu bytes) to server %" PRId64, static_cast<uint64_t>(a.zxid),
          m.payload.size(), a.peer);
  ens_->lanes.transport->send(a.peer, zab::encode(m));
}

void Server::on_zab_action(zab::RoleChange& a) {
  EnsembleState& e = *ens_;
  bool was_serving = e.serving;
  bool changed = a.role != e.role || a.leader != e.leader || a.epoch != e.epoch || a.serving != e.serving;
  e.role = a.role;
  e.leader = a.leader;
  e.epoch = a.epoch;
  e.serving = a.serving;
  if (!changed) return;
  e.role_changes++;
  if (was_serving || !a.serving) {
    // Whatever was in flight belonged to the old leadership: clients reconnect (here or elsewhere) and retry.
    std::vector<Connection*> open;
    for (auto& [id, c] : conns_) {
      if (!c->dead) open.push_back(c.get());
    }
    for (Connection* c : open) close_connection(*c, "the ensemble is electing a leader");
    processor_.drop_pending();
    e.held.clear();
    e.syncs.clear();
    e.touched.clear();
    int64_t now = mono_ms();
    sessions_ = SessionTracker(e.my_id, "", now);
    sessions_.set_secret(session_key_);
  }
  if (a.serving) {
    int64_t now = mono_ms();
    if (a.role == zab::Role::kLeading) {
      // The leader decides expiry for every session; each gets a full timeout to be heard from again.
      for (const auto& [id, timeout] : tree_.sessions()) {
        if (sessions_.find(id) == nullptr) sessions_.open(id, timeout, now);
      }
      processor_.start_numbering_after(zab::make_zxid(a.epoch, 0));
    }
    UK_INFO("serving as %s in epoch %" PRIu64 " (leader: server %" PRId64 ")", zab::to_string(a.role), a.epoch,
            a.leader);
  } else {
    UK_INFO("%s, not serving clients", a.role == zab::Role::kLooking ? "looking for a leader" : zab::to_string(a.role));
  }
}

void Server::on_zab_action(zab::BarrierDone& a) {
  auto it = ens_->syncs.find(a.token);
  if (it == ens_->syncs.end()) return;
  uint64_t conn = it->second;
  ens_->syncs.erase(it);
  Connection* c = find_connection(conn);
  if (c == nullptr) return;
  c->syncs_pending--;
  std::string frame;
  JuteWriter w(frame);
  size_t f = w.begin_frame();
  encode(w, ReplyHeader{c->sync_xids.front(), tree_.last_zxid(), 0});
  w.put_string(c->sync_paths.front());
  w.end_frame(f);
  c->sync_xids.pop_front();
  c->sync_paths.pop_front();
  deliver_reply(*c, std::move(frame), false);
}

void Server::on_zab_action(zab::Deliver& a) {
  std::optional<PeerApp> m = decode_peer_app(a.payload);
  if (!m) {
    UK_WARN("malformed message from server %" PRId64 " (%zu bytes) dropped", a.from, a.payload.size());
    return;
  }
  if (ens_->role == zab::Role::kLeading) {
    on_learner_app(a.from, *m);
  } else {
    on_leader_app(*m);
  }
}

void Server::on_zab_action(zab::DisconnectPeer& a) { ens_->lanes.transport->disconnect(a.peer); }

void Server::on_zab_action(zab::Note& a) { UK_INFO("zab: %s", a.text.c_str()); }

// --- leader side of forwarded work ------------------------------------------------------------------------------

void Server::on_learner_app(int64_t from, PeerApp& m) {
  switch (m.kind) {
    case PeerAppKind::kForward: {
      Session* s = sessions_.find(m.session);
      if (s == nullptr || s->closing) {
        // Expired (or closing) while the learner still had its client: refuse, as a standalone server would.
        std::string frame;
        JuteWriter w(frame);
        size_t f = w.begin_frame();
        encode(w, ReplyHeader{m.xid, tree_.last_zxid(), to_wire(Err::kSessionExpired)});
        w.end_frame(f);
        reply(remote_token(from, m.conn), std::move(frame), true);
        return;
      }
      sessions_.touch(*s, mono_ms());
      if (m.type == static_cast<int32_t>(OpCode::kCloseSession)) s->closing = true;  // expiry must not close it again
      ClientContext ctx;
      ctx.session = m.session;
      ctx.auth_ids = std::move(m.auth_ids);
      ctx.token = remote_token(from, m.conn);
      RequestHeader h{m.xid, m.type};
      JuteReader body(m.bytes);
      std::string out;
      AfterReply after = processor_.handle(ctx, h, body, out, wall_ms());
      if (after != AfterReply::kPending) reply(ctx.token, std::move(out), after == AfterReply::kClose);
      return;
    }
    case PeerAppKind::kCreateSession:
      sessions_.open(m.session, m.timeout_ms, mono_ms());
      processor_.create_session(remote_token(from, m.conn), m.session, m.timeout_ms, wall_ms());
      return;
    case PeerAppKind::kTouch:
      for (SessionId id : m.sessions) {
        if (Session* s = sessions_.find(id)) sessions_.touch(*s, mono_ms());
      }
      return;
    default:
      UK_WARN("unexpected message kind %d from server %" PRId64 " dropped", static_cast<int>(m.kind), from);
      return;
  }
}

void Server::send_to_member(uint64_t token, PeerApp m) {
  m.conn = token_conn(token);
  ens_->zab->send_app(token_member(token), encode_peer_app(m));
}

// --- learner side -----------------------------------------------------------------------------------------------

void Server::on_leader_app(PeerApp& m) {
  if (m.kind != PeerAppKind::kReply && m.kind != PeerAppKind::kSessionCreated) {
    UK_WARN("unexpected message kind %d from the leader dropped", static_cast<int>(m.kind));
    return;
  }
  ens_->held.push_back(std::move(m));
}

// A reply from the leader goes out once this member has applied what it reports, so a client never reads here
// something older than its own write.
void Server::release_held_replies() {
  auto& held = ens_->held;
  while (!held.empty() && held.front().zxid <= tree_.last_zxid()) {
    PeerApp m = std::move(held.front());
    held.pop_front();
    Connection* c = find_connection(m.conn);
    if (c == nullptr) continue;
    if (m.kind == PeerAppKind::kReply) {
      deliver_reply(*c, std::move(m.bytes), m.close_after);
    } else if (c->client.session == m.session) {
      send_connect_response(*c, m.session);
      c->mark_output_pending();
      to_resume_.push_back(c->id);
    }
  }
}

bool Server::ensemble_request(Connection& c, const RequestHeader& h, JuteReader& body) {
  EnsembleState& e = *ens_;
  auto op = static_cast<OpCode>(h.type);
  if (op == OpCode::kSync) {
    PathRequest req;
    if (!decode(body, req)) return false;  // the processor answers MARSHALLINGERROR
    uint64_t token = e.next_sync_token++;
    if (!e.zab->barrier(token)) {
      close_connection(c, "no leader to sync with");
      return true;
    }
    e.syncs[token] = c.id;
    c.syncs_pending++;
    c.sync_xids.push_back(h.xid);
    c.sync_paths.push_back(req.path);
    c.pending_writes++;
    run_zab_actions();
    return true;
  }
  if (e.role == zab::Role::kLeading) return false;
  e.touched.insert(c.client.session);
  if (!is_single_write(op) && op != OpCode::kMulti && op != OpCode::kCloseSession) return false;
  if (op == OpCode::kMulti) {
    // A multi holding reads is answered here; one of writes goes to the leader. The leader's processor tells them
    // apart again; here only the first op's type matters.
    JuteReader peek(body.rest());
    MultiHeader mh;
    if (decode(peek, mh) && !mh.done && !is_single_write(static_cast<OpCode>(mh.type)) &&
        mh.type != static_cast<int32_t>(OpCode::kCheck)) {
      return false;
    }
  }
  PeerApp fwd;
  fwd.kind = PeerAppKind::kForward;
  fwd.conn = c.id;
  fwd.session = c.client.session;
  fwd.xid = h.xid;
  fwd.type = h.type;
  fwd.bytes = std::string(body.rest());
  fwd.auth_ids = c.client.auth_ids;
  if (!e.zab->send_app(e.leader, encode_peer_app(fwd))) {
    close_connection(c, "the leader is not reachable");
    return true;
  }
  c.pending_writes++;
  run_zab_actions();
  return true;
}

bool Server::ensemble_new_session(Connection& c, SessionId id, int32_t timeout) {
  if (ens_->role == zab::Role::kLeading) return false;  // the leader makes the txn itself
  PeerApp m;
  m.kind = PeerAppKind::kCreateSession;
  m.conn = c.id;
  m.session = id;
  m.timeout_ms = timeout;
  if (!ens_->zab->send_app(ens_->leader, encode_peer_app(m))) return false;
  run_zab_actions();
  return true;
}

bool Server::ensemble_serving() const { return ens_->serving; }

bool Server::leads_or_standalone() const { return !ens_ || (ens_->serving && ens_->role == zab::Role::kLeading); }

std::string Server::mode_name() const {
  if (!ens_) return "standalone";
  switch (ens_->role) {
    case zab::Role::kLeading: return "leader";
    case zab::Role::kFollowing: return "follower";
    case zab::Role::kObserving: return "observer";
    case zab::Role::kLooking: break;
  }
  return "looking";
}

}  // namespace uk
