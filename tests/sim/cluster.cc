#include "cluster.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <functional>

#include "ukeeper/common/jute.h"
#include "ukeeper/dataplane/multi_transport.h"
#include "ukeeper/dataplane/transport.h"

namespace uk::sim {
namespace {

using zab::Entry;

// --- the replicated application: a flat map of znodes, operations as log payloads -------------------------------

struct ClientOp {
  int client = 0;
  uint64_t req = 0;
  OpKind kind = OpKind::kGetData;
  std::string path;
  std::string data;
  int32_t version = -1;
};

std::string encode_op(const ClientOp& op) {
  std::string out;
  JuteWriter w(out);
  w.put_int(op.client);
  w.put_long(static_cast<int64_t>(op.req));
  w.put_int(static_cast<int32_t>(op.kind));
  w.put_string(op.path);
  w.put_string(op.data);
  w.put_int(op.version);
  return out;
}

std::optional<ClientOp> decode_op(std::string_view bytes) {
  JuteReader r(bytes);
  ClientOp op;
  op.client = r.get_int();
  op.req = static_cast<uint64_t>(r.get_long());
  op.kind = static_cast<OpKind>(r.get_int());
  op.path = r.get_string();
  op.data = r.get_string();
  op.version = r.get_int();
  if (!r.ok() || r.remaining() != 0) return std::nullopt;
  return op;
}

struct Znode {
  std::string data;
  int32_t version = 0;
};
using State = std::map<std::string, Znode>;

struct OpResult {
  Err err = Err::kOk;
  std::string data;
  int32_t version = 0;
};

OpResult apply_write(State& s, const ClientOp& op) {
  auto it = s.find(op.path);
  switch (op.kind) {
    case OpKind::kCreate:
      if (it != s.end()) return {Err::kNodeExists, {}, 0};
      s[op.path] = Znode{op.data, 0};
      return {};
    case OpKind::kDelete:
      if (it == s.end()) return {Err::kNoNode, {}, 0};
      if (op.version != -1 && op.version != it->second.version) return {Err::kBadVersion, {}, 0};
      s.erase(it);
      return {};
    case OpKind::kSetData:
      if (it == s.end()) return {Err::kNoNode, {}, 0};
      if (op.version != -1 && op.version != it->second.version) return {Err::kBadVersion, {}, 0};
      it->second.data = op.data;
      it->second.version++;
      return {Err::kOk, {}, it->second.version};
    case OpKind::kGetData:
      break;
  }
  return {Err::kSystemError, {}, 0};
}

std::string encode_state(const State& s) {
  std::string out;
  JuteWriter w(out);
  w.put_int(static_cast<int32_t>(s.size()));
  for (const auto& [path, z] : s) {
    w.put_string(path);
    w.put_string(z.data);
    w.put_int(z.version);
  }
  return out;
}

State decode_state(std::string_view bytes) {
  State s;
  JuteReader r(bytes);
  int32_t n = r.get_int();
  for (int32_t i = 0; i < n && r.ok(); i++) {
    std::string path = r.get_string();
    Znode z;
    z.data = r.get_string();
    z.version = r.get_int();
    s[path] = z;
  }
  return s;
}

uint64_t fnv(std::string_view bytes) {
  uint64_t h = 1469598103934665603ull;
  for (char c : bytes) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return h;
}

// --- simulated parts --------------------------------------------------------------------------------------------

struct Disk {
  zab::Epochs epochs;
  Zxid snap_zxid = 0;
  std::string snap_state;
  std::vector<Entry> durable;  // records after snap_zxid
  std::vector<Entry> pending;  // appended, not yet synced
  bool sync_in_flight = false;
  size_t sync_count = 0;
  uint64_t generation = 0;  // bumps on truncate/install/crash: a sync in flight then completes into nothing
};

class Cluster;

// A member's end of the simulated network, behind the same contract as the TCP transport (dataplane/transport.h):
// send() hands a message to the network, which delivers it later in order unless the channel breaks; arrivals,
// connects and disconnects queue here until the node's host polls them, as the server polls its TcpTransport.
class SimTransport final : public Transport {
 public:
  SimTransport(Cluster& cluster, PeerId me, int lane) : cluster_(cluster), me_(me), lane_(lane) {}
  bool send(PeerId peer, std::string_view message) override;
  void poll(int64_t, std::vector<PeerEvent>& out) override {
    for (PeerEvent& e : inbox_) out.push_back(std::move(e));
    inbox_.clear();
  }
  bool connected(PeerId peer) const override;
  void disconnect(PeerId peer) override;
  const char* name() const override { return "sim"; }
  PeerCounters counters(PeerId peer) const override {
    auto it = counters_.find(peer);
    return it == counters_.end() ? PeerCounters{} : it->second;
  }
  // The network's side.
  void arrive(PeerEvent e) {
    PeerCounters& c = counters_[e.peer];
    if (e.kind == PeerEvent::Kind::kMessage) {
      c.messages_received++;
      c.bytes_received += e.message.size();
    } else if (e.kind == PeerEvent::Kind::kConnected) {
      c.connects++;
    } else {
      c.disconnects++;
    }
    inbox_.push_back(std::move(e));
  }

 private:
  Cluster& cluster_;
  PeerId me_;
  int lane_;
  std::vector<PeerEvent> inbox_;
  std::map<PeerId, PeerCounters> counters_;
};

struct Node {
  PeerId id = 0;
  bool up = true;
  std::unique_ptr<zab::Zab> zab;
  // What consensus talks through: the one lane itself, or a MultiTransport over several (SimOptions::lanes).
  std::unique_ptr<Transport> transport;
  std::vector<SimTransport*> lanes;  // owned by `transport`
  Disk disk;
  State state;
  Zxid applied = 0;
  size_t canon_next = 0;  // position in the committed sequence of this node's next apply
  int64_t applies_since_snapshot = 0;
  int64_t snapshot_every = 100;
  uint64_t boots = 0;  // tick events of an earlier life are ignored
  std::map<std::pair<int, uint64_t>, int> waiting_writes;  // (client, req) -> client
  std::map<uint64_t, std::pair<int, uint64_t>> waiting_reads;  // barrier token -> client, req
};

struct Link {
  bool up = false;
  uint64_t incarnation = 0;
  int64_t last_delivery[2] = {0, 0};   // FIFO: per direction, no delivery before the previous one
  std::vector<std::string> recent[2];  // a few messages of earlier incarnations, for stale replays
  bool reconnect_pending = false;
};

struct Client {
  int id = 0;
  PeerId node = 0;
  bool busy = false;
  size_t op_index = 0;  // into the history
  uint64_t req = 0;
  int64_t deadline = 0;
};

enum class Ev { kTick, kDeliver, kDiskSync, kLinkUp, kRestart, kHeal, kClient, kFault, kPoll };

struct Event {
  int64_t time = 0;
  uint64_t seq = 0;
  Ev kind = Ev::kTick;
  PeerId a = 0;
  PeerId b = 0;
  uint64_t x = 0;
  std::string bytes;
  int lane = 0;
  bool operator>(const Event& o) const { return time != o.time ? time > o.time : seq > o.seq; }
};

class Cluster {
 public:
  explicit Cluster(const SimOptions& o) : o_(o), rng_(o.seed) {}
  SimResult run();

  // The network, as the members' SimTransports see it.
  bool net_send(PeerId from, PeerId to, int lane, std::string bytes);
  bool link_up(PeerId a, PeerId b, int lane) { return link(a, b, lane).up; }
  void break_link(PeerId a, PeerId b, int lane, bool reconnect);
  void break_links(PeerId a, PeerId b, bool reconnect) {
    for (int lane = 0; lane < o_.lanes; lane++) break_link(a, b, lane, reconnect);
  }

 private:
  // scheduling
  void at(int64_t time, Ev kind, PeerId a = 0, PeerId b = 0, uint64_t x = 0, std::string bytes = {}, int lane = 0) {
    queue_.push(Event{time, seq_++, kind, a, b, x, std::move(bytes), lane});
  }
  int64_t rnd(int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(rng_() % static_cast<uint64_t>(hi - lo + 1)); }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  void fail(const std::string& why);
  void log(const std::string& s) {
    if (o_.verbose) std::printf("%10.3f ms  %s\n", static_cast<double>(now_) / 1000.0, s.c_str());
  }

  Node& node(PeerId id) { return nodes_[static_cast<size_t>(id - 1)]; }
  Link& link(PeerId a, PeerId b, int lane) { return links_[{std::min(a, b), std::max(a, b), lane}]; }
  bool allowed(PeerId a, PeerId b) const { return isolated_.count(a) == isolated_.count(b); }
  bool held(PeerId a, PeerId b) const { return now_ < silent_until_ && silent_.count(a) != silent_.count(b); }

  // nodes
  void boot(Node& n);
  void drain(Node& n);
  void handle(Node& n, zab::Action& a);
  void on_apply(Node& n, const Entry& e);
  void on_install(Node& n, Zxid zxid);
  void maybe_snapshot(Node& n);
  void crash(Node& n);
  void start_sync(Node& n);
  void fail_local_clients(Node& n);

  // network
  void try_link_up(PeerId a, PeerId b, int lane);
  void try_links_up(PeerId a, PeerId b) {
    for (int lane = 0; lane < o_.lanes; lane++) try_link_up(a, b, lane);
  }
  // The host's turn after the network queued something for a member: poll its transport, feed consensus.
  void node_turn(Node& n);
  // A lane event for a member, raised while the member may be inside its own transport (a send that broke a
  // lane): one lane is polled at once, as always; a MultiTransport, which must not be re-entered, at the next event.
  void poke(Node& n) {
    if (o_.lanes == 1) {
      node_turn(n);
    } else {
      at(now_, Ev::kPoll, n.id, 0, n.boots);
    }
  }

  // clients
  void client_step(Client& c);
  void complete(int client, uint64_t req, const OpResult& r);
  void give_up(Client& c);

  void add_stats(const zab::Zab& z) {
    result_.elections += z.stats().elections;
    result_.snap_syncs += z.stats().snap_syncs;
    result_.trunc_syncs += z.stats().trunc_syncs;
    result_.diff_syncs += z.stats().diff_syncs;
  }

  // faults
  void inject_fault();
  void heal_all();
  bool converged();

  const SimOptions o_;
  std::mt19937_64 rng_;
  int64_t now_ = 0;
  uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> queue_;
  std::vector<Node> nodes_;
  std::map<std::tuple<PeerId, PeerId, int>, Link> links_;
  std::set<PeerId> isolated_;
  // A silent partition: no channel breaks, messages across it are held (as TCP retransmits) until it heals.
  std::set<PeerId> silent_;
  int64_t silent_until_ = 0;
  std::vector<Client> clients_;
  std::vector<HistoryOp> history_;
  bool faults_on_ = true;
  bool clients_on_ = true;
  uint64_t next_token_ = 1;
  int64_t history_clock_ = 0;  // invocations and returns in the order they happen (distinct, unlike now_)
  SimResult result_;
  zab::Options zopts_;
  // invariants
  std::vector<std::pair<Zxid, uint64_t>> canon_;  // committed sequence: zxid, payload hash
  std::vector<uint64_t> canon_state_;             // state hash after each committed record
  std::map<Zxid, size_t> canon_index_;
  std::map<uint64_t, PeerId> leader_of_epoch_;
};

void Cluster::fail(const std::string& why) {
  if (!result_.ok) return;
  result_.ok = false;
  char buf[64];
  std::snprintf(buf, sizeof buf, "at %.3f ms: ", static_cast<double>(now_) / 1000.0);
  result_.failure = buf + why;
  log("INVARIANT BROKEN: " + why);
}

// --- nodes ------------------------------------------------------------------------------------------------------

void Cluster::boot(Node& n) {
  n.up = true;
  n.lanes.clear();
  if (o_.lanes == 1) {
    auto lane = std::make_unique<SimTransport>(*this, n.id, 0);
    n.lanes.push_back(lane.get());
    n.transport = std::move(lane);
  } else {
    MultiTransportOptions mo;
    mo.my_id = n.id;
    for (const Node& m : nodes_) mo.peers.push_back(m.id);
    mo.first_channel_id = (n.boots + 1) * 1'000'000'000ull;  // newer in every life, as the wall clock would be
    mo.upgrade_after_ms = 5;
    mo.reopen_retry_ms = 10;
    std::vector<MultiTransport::Lane> lanes;
    for (int i = 0; i < o_.lanes; i++) {
      auto lane = std::make_unique<SimTransport>(*this, n.id, i);
      n.lanes.push_back(lane.get());
      lanes.push_back({std::move(lane), static_cast<uint8_t>(i + 1)});
    }
    n.transport = std::make_unique<MultiTransport>(mo, std::move(lanes));
  }
  auto opts = zopts_;
  opts.my_id = n.id;
  n.zab = std::make_unique<zab::Zab>(opts, rng_());
  n.state = decode_state(n.disk.snap_state);
  n.applied = n.disk.snap_zxid;
  on_install(n, n.disk.snap_zxid);
  n.waiting_reads.clear();
  n.waiting_writes.clear();
  zab::Recovered rec;
  rec.epochs = n.disk.epochs;
  rec.base = n.disk.snap_zxid;
  rec.entries = n.disk.durable;
  n.zab->start(std::move(rec));
  drain(n);
  for (const Node& other : nodes_) {
    if (other.id != n.id) try_links_up(n.id, other.id);
  }
  n.boots++;
  at(now_ + rnd(1, o_.tick_us), Ev::kTick, n.id, 0, n.boots);
}

void Cluster::drain(Node& n) {
  for (int rounds = 0; n.up; rounds++) {
    std::vector<zab::Action> actions = n.zab->take_actions();
    if (actions.empty()) return;
    for (zab::Action& a : actions) {
      if (!n.up) return;
      handle(n, a);
    }
  }
}

void Cluster::handle(Node& n, zab::Action& action) {
  if (auto* p = std::get_if<zab::PersistEpochs>(&action)) {
    n.disk.epochs = p->epochs;
  } else if (auto* t = std::get_if<zab::Truncate>(&action)) {
    auto cut = [&](std::vector<Entry>& v) {
      v.erase(std::remove_if(v.begin(), v.end(), [&](const Entry& e) { return e.zxid > t->after; }), v.end());
    };
    if (t->after < n.applied) fail("node " + std::to_string(n.id) + " truncates below its applied zxid");
    cut(n.disk.durable);
    cut(n.disk.pending);
    n.disk.generation++;
    n.disk.sync_in_flight = false;
    start_sync(n);
  } else if (auto* s = std::get_if<zab::InstallSnapshot>(&action)) {
    n.disk.snap_zxid = s->zxid;
    n.disk.snap_state = s->state;
    n.disk.durable.clear();
    n.disk.pending.clear();
    n.disk.generation++;
    n.disk.sync_in_flight = false;
    n.state = decode_state(s->state);
    n.applied = s->zxid;
    on_install(n, s->zxid);
  } else if (auto* ap = std::get_if<zab::Append>(&action)) {
    n.disk.pending.push_back(std::move(ap->entry));
    start_sync(n);
  } else if (auto* apply = std::get_if<zab::Apply>(&action)) {
    on_apply(n, apply->entry);
  } else if (auto* send = std::get_if<zab::Send>(&action)) {
    n.transport->send(send->peer, send->bytes);
  } else if (auto* snap = std::get_if<zab::SendSnapshot>(&action)) {
    if (n.applied != snap->zxid) fail("SendSnapshot at 0x" + zab::hex_zxid(snap->zxid) + " but state is at 0x" +
                                      zab::hex_zxid(n.applied));
    zab::Message m;
    m.type = zab::MsgType::kSyncSnap;
    m.epoch = snap->epoch;
    m.attempt = snap->attempt;
    m.zxid = snap->zxid;
    m.payload = encode_state(n.state);
    n.transport->send(snap->peer, zab::encode(m));
  } else if (auto* rc = std::get_if<zab::RoleChange>(&action)) {
    log("node " + std::to_string(n.id) + ": " + zab::to_string(rc->role) + (rc->serving ? " serving" : "") +
        " epoch " + std::to_string(rc->epoch) + " leader " + std::to_string(rc->leader));
    if (rc->role == zab::Role::kLeading && rc->serving) {
      auto [it, fresh] = leader_of_epoch_.emplace(rc->epoch, n.id);
      if (!fresh && it->second != n.id) {
        fail("two leaders established in epoch " + std::to_string(rc->epoch) + ": " + std::to_string(it->second) +
             " and " + std::to_string(n.id));
      }
    }
    if (!rc->serving) fail_local_clients(n);
  } else if (auto* bd = std::get_if<zab::BarrierDone>(&action)) {
    auto it = n.waiting_reads.find(bd->token);
    if (it == n.waiting_reads.end()) return;
    auto [client, req] = it->second;
    n.waiting_reads.erase(it);
    const Client& c = clients_[static_cast<size_t>(client)];
    if (!c.busy || c.req != req) return;
    auto z = n.state.find(history_[c.op_index].path);
    complete(client, req,
             z == n.state.end() ? OpResult{Err::kNoNode, {}, 0} : OpResult{Err::kOk, z->second.data, z->second.version});
  } else if (auto* d = std::get_if<zab::Deliver>(&action)) {
    if (n.zab->role() == zab::Role::kLeading) n.zab->propose(n.zab->next_zxid(), d->payload);
  } else if (auto* dp = std::get_if<zab::DisconnectPeer>(&action)) {
    n.transport->disconnect(dp->peer);
  } else if (auto* note = std::get_if<zab::Note>(&action)) {
    log("node " + std::to_string(n.id) + ": " + note->text);
  }
}

void Cluster::on_install(Node& n, Zxid zxid) {
  uint64_t h = fnv(encode_state(n.state));
  if (zxid == 0) {
    n.canon_next = 0;
    if (!n.state.empty()) fail("node " + std::to_string(n.id) + " has state at zxid 0");
    return;
  }
  auto it = canon_index_.find(zxid);
  if (it == canon_index_.end()) {
    fail("node " + std::to_string(n.id) + " installed a snapshot at 0x" + zab::hex_zxid(zxid) +
         ", which is not a committed zxid");
    return;
  }
  n.canon_next = it->second + 1;
  if (canon_state_[it->second] != h) {
    fail("node " + std::to_string(n.id) + " snapshot state at 0x" + zab::hex_zxid(zxid) + " differs");
  }
}

void Cluster::on_apply(Node& n, const Entry& e) {
  uint64_t ph = fnv(e.payload);
  size_t idx = n.canon_next++;
  if (idx < canon_.size()) {
    if (canon_[idx].first != e.zxid || canon_[idx].second != ph) {
      fail("node " + std::to_string(n.id) + " applied 0x" + zab::hex_zxid(e.zxid) + " at position " +
           std::to_string(idx) + " where 0x" + zab::hex_zxid(canon_[idx].first) + " was committed");
      return;
    }
  } else {
    if (!canon_.empty() && e.zxid <= canon_.back().first) {
      fail("committed zxid 0x" + zab::hex_zxid(e.zxid) + " does not grow");
    }
    // A record commits only once a quorum of voters holds it durably (the leader applies first).
    if (n.zab->role() == zab::Role::kLeading) {
      size_t durable = 0;
      for (const Node& v : nodes_) {
        if (!n.zab->is_voter(v.id)) continue;
        bool has = v.disk.snap_zxid >= e.zxid ||
                   std::any_of(v.disk.durable.begin(), v.disk.durable.end(), [&](const Entry& d) { return d.zxid == e.zxid; });
        durable += has ? 1 : 0;
      }
      if (durable < n.zab->quorum_size()) {
        fail("leader " + std::to_string(n.id) + " commits 0x" + zab::hex_zxid(e.zxid) + " held durably by only " +
             std::to_string(durable) + " voters");
      }
    }
    canon_.emplace_back(e.zxid, ph);
    canon_index_[e.zxid] = idx;
    result_.committed++;
  }
  if (e.zxid <= n.applied) fail("node " + std::to_string(n.id) + " applied zxid goes backwards");
  n.applied = e.zxid;
  std::optional<ClientOp> op = decode_op(e.payload);
  if (!op) {
    fail("undecodable payload committed");
    return;
  }
  OpResult r = apply_write(n.state, *op);
  uint64_t sh = fnv(encode_state(n.state));
  if (idx < canon_state_.size()) {
    if (canon_state_[idx] != sh) fail("node " + std::to_string(n.id) + " state differs after 0x" + zab::hex_zxid(e.zxid));
  } else {
    canon_state_.push_back(sh);
  }
  auto w = n.waiting_writes.find({op->client, op->req});
  if (w != n.waiting_writes.end()) {
    n.waiting_writes.erase(w);
    complete(op->client, op->req, r);
  }
  maybe_snapshot(n);
}

void Cluster::maybe_snapshot(Node& n) {
  if (++n.applies_since_snapshot < n.snapshot_every) return;
  // A snapshot of the applied state, taken when everything applied is durable here too (as the server does after
  // its log caught up); the log then keeps only what follows it.
  Zxid upto = n.applied;
  Zxid durable_upto = n.disk.durable.empty() ? n.disk.snap_zxid : n.disk.durable.back().zxid;
  if (upto > durable_upto || upto <= n.disk.snap_zxid) return;
  n.applies_since_snapshot = 0;
  n.disk.snap_zxid = upto;
  n.disk.snap_state = encode_state(n.state);
  auto& d = n.disk.durable;
  d.erase(d.begin(), std::upper_bound(d.begin(), d.end(), upto, [](Zxid z, const Entry& e) { return z < e.zxid; }));
  // Keep a few hundred records in memory for DIFF; older ones come from the snapshot.
  n.zab->compact(upto);
}

void Cluster::start_sync(Node& n) {
  if (n.disk.sync_in_flight || n.disk.pending.empty()) return;
  n.disk.sync_in_flight = true;
  n.disk.sync_count = n.disk.pending.size();
  int64_t latency = chance(0.02) ? rnd(5'000, 30'000) : rnd(100, 3'000);
  at(now_ + latency, Ev::kDiskSync, n.id, 0, n.disk.generation);
}

void Cluster::crash(Node& n) {
  if (!n.up) return;
  log("CRASH node " + std::to_string(n.id));
  result_.crashes++;
  fail_local_clients(n);
  n.up = false;
  // Writes that reached the device without a sync may or may not survive; a torn last record is dropped by recovery.
  size_t survive = static_cast<size_t>(rnd(0, static_cast<int64_t>(n.disk.pending.size())));
  for (size_t i = 0; i < survive; i++) n.disk.durable.push_back(n.disk.pending[i]);
  n.disk.pending.clear();
  n.disk.sync_in_flight = false;
  n.disk.generation++;
  add_stats(*n.zab);
  n.zab.reset();
  for (const Node& other : nodes_) {
    if (other.id != n.id) break_links(n.id, other.id, false);
  }
}

void Cluster::fail_local_clients(Node& n) {
  for (Client& c : clients_) {
    if (c.node == n.id && c.busy) give_up(c);
  }
  n.waiting_writes.clear();
  n.waiting_reads.clear();
}

// --- network ----------------------------------------------------------------------------------------------------

void Cluster::node_turn(Node& n) {
  std::vector<PeerEvent> events;
  n.transport->poll(now_ / 1000, events);
  for (PeerEvent& e : events) {
    if (!n.up) return;
    switch (e.kind) {
      case PeerEvent::Kind::kConnected: n.zab->peer_connected(e.peer); break;
      case PeerEvent::Kind::kDisconnected: n.zab->peer_disconnected(e.peer); break;
      case PeerEvent::Kind::kMessage: n.zab->receive(e.peer, e.message); break;
    }
    drain(n);
  }
}

bool SimTransport::send(PeerId peer, std::string_view message) {
  bool ok = cluster_.net_send(me_, peer, lane_, std::string(message));
  PeerCounters& c = counters_[peer];
  if (ok) {
    c.messages_sent++;
    c.bytes_sent += message.size();
  } else {
    c.dropped++;
  }
  return ok;
}

bool SimTransport::connected(PeerId peer) const { return cluster_.link_up(me_, peer, lane_); }

void SimTransport::disconnect(PeerId peer) { cluster_.break_link(me_, peer, lane_, true); }

bool Cluster::net_send(PeerId from, PeerId to, int lane, std::string bytes) {
  Link& l = link(from, to, lane);
  if (!l.up) return false;
  int dir = from < to ? 0 : 1;
  int64_t delay = chance(0.03) ? rnd(2'000, 20'000) : rnd(20, 300);
  int64_t t = std::max(now_ + delay, l.last_delivery[dir]);
  if (held(from, to)) t = std::max(t, silent_until_ + delay);
  l.last_delivery[dir] = t;
  if (l.recent[dir].size() < 16) {
    l.recent[dir].push_back(bytes);
  } else if (chance(0.1)) {
    l.recent[dir][static_cast<size_t>(rnd(0, 15))] = bytes;
  }
  at(t, Ev::kDeliver, from, to, l.incarnation, std::move(bytes), lane);
  if (faults_on_ && chance(0.0005)) {
    log("link " + std::to_string(from) + "-" + std::to_string(to) + " lane " + std::to_string(lane) + " breaks");
    break_link(from, to, lane, true);  // what was just sent is lost with the channel, as over TCP
  }
  return true;
}

void Cluster::break_link(PeerId a, PeerId b, int lane, bool reconnect) {
  Link& l = link(a, b, lane);
  if (l.up) {
    l.up = false;
    l.incarnation++;
    for (PeerId x : {a, b}) {
      Node& n = node(x);
      if (!n.up) continue;
      n.lanes[static_cast<size_t>(lane)]->arrive(PeerEvent{PeerEvent::Kind::kDisconnected, x == a ? b : a, {}});
      poke(n);
    }
  }
  if (reconnect && !l.reconnect_pending) {
    l.reconnect_pending = true;
    at(now_ + rnd(1'000, 50'000), Ev::kLinkUp, a, b, 0, {}, lane);
  }
}

void Cluster::try_link_up(PeerId a, PeerId b, int lane) {
  Link& l = link(a, b, lane);
  l.reconnect_pending = false;
  if (l.up || !node(a).up || !node(b).up || !allowed(a, b)) return;
  l.up = true;
  l.incarnation++;
  l.last_delivery[0] = l.last_delivery[1] = now_;
  for (PeerId x : {a, b}) {
    Node& n = node(x);
    n.lanes[static_cast<size_t>(lane)]->arrive(PeerEvent{PeerEvent::Kind::kConnected, x == a ? b : a, {}});
    poke(n);
  }
  // Contract violation on purpose, rarely: a message of an earlier channel shows up again on this one.
  if (faults_on_ && chance(0.05)) {
    int dir = static_cast<int>(rnd(0, 1));
    if (!l.recent[dir].empty()) {
      std::string stale = l.recent[dir][static_cast<size_t>(rnd(0, static_cast<int64_t>(l.recent[dir].size()) - 1))];
      PeerId from = dir == 0 ? std::min(a, b) : std::max(a, b);
      PeerId to = dir == 0 ? std::max(a, b) : std::min(a, b);
      log("stale message replayed " + std::to_string(from) + "->" + std::to_string(to));
      at(now_ + rnd(10, 1000), Ev::kDeliver, from, to, l.incarnation, std::move(stale), lane);
    }
  }
}

// --- clients ----------------------------------------------------------------------------------------------------

void Cluster::give_up(Client& c) {
  c.busy = false;  // the history keeps the op without a return: its outcome is unknown
  c.node = static_cast<PeerId>(rnd(1, static_cast<int64_t>(nodes_.size())));
  at(now_ + rnd(1'000, 20'000), Ev::kClient, c.id);
}

void Cluster::complete(int client, uint64_t req, const OpResult& r) {
  Client& c = clients_[static_cast<size_t>(client)];
  if (!c.busy || c.req != req) return;  // an answer to an op the client gave up on
  HistoryOp& h = history_[c.op_index];
  h.return_time = ++history_clock_;
  h.err = r.err;
  h.result_data = r.data;
  h.result_version = r.version;
  c.busy = false;
  at(now_ + rnd(0, 20'000), Ev::kClient, c.id);
}

void Cluster::client_step(Client& c) {
  if (c.busy) {
    if (now_ >= c.deadline) {
      Node& n = node(c.node);
      n.waiting_writes.erase({c.id, c.req});
      give_up(c);
    } else {
      at(c.deadline, Ev::kClient, c.id);
    }
    return;
  }
  if (!clients_on_) return;
  Node& n = node(c.node);
  if (!n.up || !n.zab->serving()) {
    give_up(c);  // nothing was sent: no history entry
    return;
  }
  static const char* kPaths[] = {"/a", "/b", "/c", "/d"};
  ClientOp op;
  op.client = c.id;
  op.req = ++c.req;
  int k = static_cast<int>(rnd(0, 99));
  op.kind = k < 40 ? OpKind::kGetData : k < 70 ? OpKind::kSetData : k < 85 ? OpKind::kCreate : OpKind::kDelete;
  op.path = kPaths[rnd(0, 3)];
  op.data = "c" + std::to_string(c.id) + "-" + std::to_string(op.req);
  op.version = chance(0.5) ? -1 : static_cast<int32_t>(rnd(0, 3));
  HistoryOp h;
  h.client = c.id;
  h.kind = op.kind;
  h.path = op.path;
  h.data = op.data;
  h.version = op.version;
  h.invoke_time = ++history_clock_;
  c.op_index = history_.size();
  history_.push_back(h);
  c.busy = true;
  c.deadline = now_ + rnd(100'000, 1'000'000);
  result_.client_ops++;
  if (op.kind == OpKind::kGetData) {
    uint64_t token = next_token_++;
    n.waiting_reads[token] = {c.id, op.req};
    if (!n.zab->barrier(token)) {
      n.waiting_reads.erase(token);
      give_up(c);
      return;
    }
  } else {
    n.waiting_writes[{c.id, op.req}] = c.id;
    bool sent = n.zab->role() == zab::Role::kLeading ? n.zab->propose(n.zab->next_zxid(), encode_op(op))
                                                     : n.zab->send_app(n.zab->leader(), encode_op(op));
    if (!sent) {
      n.waiting_writes.erase({c.id, op.req});
      give_up(c);
      drain(n);
      return;
    }
  }
  drain(n);
  if (c.busy) at(c.deadline, Ev::kClient, c.id);
}

// --- faults -----------------------------------------------------------------------------------------------------

void Cluster::inject_fault() {
  if (!faults_on_) return;
  int k = static_cast<int>(rnd(0, 99));
  PeerId victim = static_cast<PeerId>(rnd(1, static_cast<int64_t>(nodes_.size())));
  if (k < 30) {
    if (node(victim).up) {
      crash(node(victim));
      at(now_ + rnd(10'000, 800'000), Ev::kRestart, victim);
    }
  } else if (k < 55) {
    PeerId other = static_cast<PeerId>(rnd(1, static_cast<int64_t>(nodes_.size())));
    if (other != victim) {
      int lane = o_.lanes == 1 ? 0 : static_cast<int>(rnd(0, o_.lanes - 1));
      log("link " + std::to_string(victim) + "-" + std::to_string(other) + " lane " + std::to_string(lane) +
          " breaks");
      break_link(victim, other, lane, true);
    }
  } else if (k >= 70 && now_ >= silent_until_) {
    silent_.clear();
    size_t side = static_cast<size_t>(rnd(1, static_cast<int64_t>(nodes_.size() - 1)));
    std::string who;
    while (silent_.size() < side) {
      PeerId p = static_cast<PeerId>(rnd(1, static_cast<int64_t>(nodes_.size())));
      if (silent_.insert(p).second) who += " " + std::to_string(p);
    }
    silent_until_ = now_ + rnd(20'000, 1'500'000);
    log("SILENT PARTITION {" + who + " } from the rest until " + std::to_string(silent_until_ / 1000) + " ms");
  } else if (k < 70 && isolated_.empty()) {
    size_t max_side = nodes_.size() - 1;
    size_t side = static_cast<size_t>(rnd(1, static_cast<int64_t>(max_side)));
    std::string who;
    while (isolated_.size() < side) {
      PeerId p = static_cast<PeerId>(rnd(1, static_cast<int64_t>(nodes_.size())));
      if (isolated_.insert(p).second) who += " " + std::to_string(p);
    }
    log("PARTITION {" + who + " } from the rest");
    for (const Node& a : nodes_) {
      for (const Node& b : nodes_) {
        if (a.id < b.id && !allowed(a.id, b.id)) break_links(a.id, b.id, false);
      }
    }
    at(now_ + rnd(50'000, 2'000'000), Ev::kHeal);
  }
  at(now_ + rnd(50'000, 400'000), Ev::kFault);
}

void Cluster::heal_all() {
  if (!isolated_.empty()) log("HEAL partition");
  isolated_.clear();
  silent_until_ = std::min(silent_until_, now_);
  for (Node& n : nodes_) {
    if (!n.up) boot(n);
  }
  for (const Node& a : nodes_) {
    for (const Node& b : nodes_) {
      if (a.id < b.id) try_links_up(a.id, b.id);
    }
  }
}

bool Cluster::converged() {
  Zxid applied = -1;
  for (const Node& n : nodes_) {
    if (!n.up || !n.zab->serving()) return false;
    if (applied >= 0 && n.applied != applied) return false;
    applied = n.applied;
  }
  return true;
}

SimResult Cluster::run() {
  std::vector<PeerId> voters;
  std::vector<PeerId> observers;
  int total = o_.voters + o_.observers;
  for (int i = 1; i <= total; i++) (i <= o_.voters ? voters : observers).push_back(i);
  zopts_.voters = voters;
  zopts_.observers = observers;
  if (chance(0.2)) zopts_.max_counter = static_cast<uint32_t>(rnd(20, 300));  // epochs roll over
  // Timeouts vary per run: a leader that notices a lost quorum later than its followers notice it is a legal
  // configuration and the one that tests barriers (a deposed leader must not complete one).
  zopts_.leader_timeout_ticks = static_cast<int>(rnd(8, 30));
  zopts_.learner_timeout_ticks = static_cast<int>(rnd(8, 150));
  zopts_.heartbeat_ticks = static_cast<int>(rnd(2, std::min<int64_t>(6, zopts_.leader_timeout_ticks / 2)));
  nodes_.resize(static_cast<size_t>(total));
  for (int i = 0; i < total; i++) {
    nodes_[static_cast<size_t>(i)].id = i + 1;
    nodes_[static_cast<size_t>(i)].snapshot_every = rnd(20, 200);
  }
  for (Node& n : nodes_) n.up = false;
  for (Node& n : nodes_) boot(n);
  clients_.resize(static_cast<size_t>(o_.clients));
  for (int i = 0; i < o_.clients; i++) {
    clients_[static_cast<size_t>(i)].id = i;
    clients_[static_cast<size_t>(i)].node = static_cast<PeerId>(rnd(1, total));
    at(rnd(0, 100'000), Ev::kClient, i);
  }
  faults_on_ = o_.faults;
  if (faults_on_) at(rnd(50'000, 300'000), Ev::kFault);
  const int64_t end_faults = o_.duration_us;
  const int64_t end = o_.duration_us + o_.settle_us;
  bool healed = false;
  while (!queue_.empty() && result_.ok) {
    Event ev = queue_.top();
    queue_.pop();
    now_ = ev.time;
    if (!healed && now_ >= end_faults) {
      healed = true;
      faults_on_ = false;
      clients_on_ = false;
      heal_all();
    }
    if (now_ >= end) break;
    result_.events++;
    switch (ev.kind) {
      case Ev::kTick: {
        Node& n = node(ev.a);
        if (!n.up || ev.x != n.boots) break;
        n.zab->tick();
        drain(n);
        if (o_.lanes > 1 && n.up) node_turn(n);  // the MultiTransport's timers (lane upgrades, reopen requests)
        if (n.up) at(now_ + o_.tick_us, Ev::kTick, n.id, 0, n.boots);
        break;
      }
      case Ev::kDeliver: {
        Link& l = link(ev.a, ev.b, ev.lane);
        Node& n = node(ev.b);
        if (!l.up || l.incarnation != ev.x || !n.up) break;
        if (held(ev.a, ev.b)) {
          int dir = ev.a < ev.b ? 0 : 1;
          l.last_delivery[dir] = std::max(l.last_delivery[dir], silent_until_);
          at(silent_until_, Ev::kDeliver, ev.a, ev.b, ev.x, std::move(ev.bytes), ev.lane);
          break;
        }
        n.lanes[static_cast<size_t>(ev.lane)]->arrive(PeerEvent{PeerEvent::Kind::kMessage, ev.a, std::move(ev.bytes)});
        node_turn(n);
        break;
      }
      case Ev::kDiskSync: {
        Node& n = node(ev.a);
        if (!n.up || ev.x != n.disk.generation || !n.disk.sync_in_flight) break;
        auto& p = n.disk.pending;
        size_t k = std::min(n.disk.sync_count, p.size());
        Zxid last = p[k - 1].zxid;
        n.disk.durable.insert(n.disk.durable.end(), p.begin(), p.begin() + static_cast<ptrdiff_t>(k));
        p.erase(p.begin(), p.begin() + static_cast<ptrdiff_t>(k));
        n.disk.sync_in_flight = false;
        n.zab->persisted(last);
        drain(n);
        start_sync(n);
        break;
      }
      case Ev::kLinkUp:
        try_link_up(ev.a, ev.b, ev.lane);
        break;
      case Ev::kRestart:
        if (!node(ev.a).up && faults_on_) {
          log("RESTART node " + std::to_string(ev.a));
          boot(node(ev.a));
        }
        break;
      case Ev::kHeal:
        if (faults_on_ && !isolated_.empty()) {
          log("HEAL partition");
          isolated_.clear();
          for (const Node& a : nodes_) {
            for (const Node& b : nodes_) {
              for (int lane = 0; lane < o_.lanes; lane++) {
                if (a.id < b.id) at(now_ + rnd(1'000, 20'000), Ev::kLinkUp, a.id, b.id, 0, {}, lane);
              }
            }
          }
        }
        break;
      case Ev::kClient:
        client_step(clients_[static_cast<size_t>(ev.a)]);
        break;
      case Ev::kFault:
        inject_fault();
        break;
      case Ev::kPoll: {
        Node& n = node(ev.a);
        if (n.up && ev.x == n.boots) node_turn(n);
        break;
      }
    }
  }
  if (result_.ok && !converged()) {
    std::string why = "no convergence within the settle time after healing:";
    for (const Node& n : nodes_) {
      why += " [" + std::to_string(n.id) + " " + (n.up ? zab::to_string(n.zab->role()) : "down") +
             (n.up && n.zab->serving() ? " serving" : "") + " applied 0x" + zab::hex_zxid(n.applied) + "]";
    }
    // With lanes: each member's view of its channels (peer: c connected / - not; out lane, in lane; lanes up).
    for (const Node& n : nodes_) {
      const auto* m = dynamic_cast<const MultiTransport*>(n.transport.get());
      if (m == nullptr || !n.up) continue;
      why += "\n  channels of " + std::to_string(n.id) + ":";
      for (const Node& p : nodes_) {
        if (p.id == n.id) continue;
        why += " " + std::to_string(p.id) + (m->connected(p.id) ? "c" : "-") + std::to_string(m->out_lane(p.id)) +
               "/" + std::to_string(m->in_lane(p.id)) + "(";
        for (int lane = 0; lane < o_.lanes; lane++) why += m->lane(static_cast<size_t>(lane)).connected(p.id) ? "u" : "d";
        why += ")";
      }
    }
    fail(why);
  }
  for (const Node& n : nodes_) {
    if (n.zab) add_stats(*n.zab);
  }
  if (result_.ok) {
    CheckResult c = check_linearizable(history_);
    if (c.verdict != CheckResult::Verdict::kLinearizable) {
      result_.ok = false;
      result_.failure = std::string(c.verdict == CheckResult::Verdict::kViolation ? "history not linearizable: "
                                                                                 : "linearizability inconclusive: ") +
                        c.explanation;
    }
  }
  return result_;
}

}  // namespace

std::string SimResult::summary() const {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%s: %" PRIu64 " events, %" PRIu64 " committed, %" PRIu64 " client ops, %" PRIu64
                " elections, %" PRIu64 " crashes, syncs diff/trunc/snap %" PRIu64 "/%" PRIu64 "/%" PRIu64,
                ok ? "ok" : "FAILED", events, committed, client_ops, elections, crashes, diff_syncs, trunc_syncs,
                snap_syncs);
  return buf;
}

SimResult run_simulation(const SimOptions& options) { return Cluster(options).run(); }

}  // namespace uk::sim
