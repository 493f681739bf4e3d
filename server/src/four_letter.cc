// Four-letter words (zookeeper-protocol.md §9): plain-text answers in ZooKeeper's formats, which monitoring
// tools parse (Mode: in srvr, zk_ keys in mntr).
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cinttypes>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <string>

#include "ukeeper/server/server.h"
#include "connection.h"
#include "ensemble.h"

namespace uk {
namespace {

std::string hex(int64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, static_cast<uint64_t>(v));
  return buf;
}

std::string latency_line(int64_t min_us, int64_t sum_us, uint64_t count, int64_t max_us) {
  char buf[128];
  double avg_ms = count == 0 ? 0.0 : static_cast<double>(sum_us) / 1000.0 / static_cast<double>(count);
  std::snprintf(buf, sizeof buf, "%" PRId64 "/%.4f/%" PRId64, min_us < 0 ? 0 : min_us / 1000, avg_ms,
                max_us / 1000);
  return buf;
}

int64_t dir_bytes(const std::string& dir) {
  std::error_code ec;
  int64_t total = 0;
  if (dir.empty() || !std::filesystem::exists(dir, ec)) return 0;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) total += static_cast<int64_t>(it->file_size(ec));
  }
  return total;
}

// ZooKeeper's short operation names, as cons shows them in lop=.
const char* op_short_name(int32_t type) {
  switch (static_cast<OpCode>(type)) {
    case OpCode::kCreate: return "CREA";
    case OpCode::kCreate2: return "CRE2";
    case OpCode::kCreateContainer: return "CRTE";
    case OpCode::kCreateTtl: return "CTTL";
    case OpCode::kDelete: return "DELE";
    case OpCode::kDeleteContainer: return "DELC";
    case OpCode::kExists: return "EXIS";
    case OpCode::kGetData: return "GETD";
    case OpCode::kSetData: return "SETD";
    case OpCode::kGetAcl: return "GETA";
    case OpCode::kSetAcl: return "SETA";
    case OpCode::kGetChildren: return "GETC";
    case OpCode::kGetChildren2: return "GETC";
    case OpCode::kSync: return "SYNC";
    case OpCode::kPing: return "PING";
    case OpCode::kMulti: return "MULT";
    case OpCode::kMultiRead: return "MLTR";
    case OpCode::kCheck: return "CHEC";
    case OpCode::kCheckWatches: return "CHKW";
    case OpCode::kRemoveWatches: return "REMW";
    case OpCode::kSetWatches: return "SETW";
    case OpCode::kSetWatches2: return "STW2";
    case OpCode::kAddWatch: return "ADDW";
    case OpCode::kGetEphemerals: return "GETE";
    case OpCode::kGetAllChildrenNumber: return "GTCN";
    case OpCode::kWhoAmI: return "WHAM";
    case OpCode::kAuth: return "AUTH";
    case OpCode::kCloseSession: return "CLOS";
    case OpCode::kReconfig: return "RECO";
    default: return "NA";
  }
}

}  // namespace

std::string Server::four_letter(std::string_view cmd) const {
  if (cmd == "ruok") return "imok";
  if (ens_ && !ens_->serving && cmd != "conf" && cmd != "envi" && cmd != "isro" && cmd != "dirs") {
    return "This ZooKeeper instance is not currently serving requests\n";
  }
  if (cmd == "srvr") return fl_srvr(false);
  if (cmd == "stat") return fl_srvr(true);
  if (cmd == "mntr") return fl_mntr();
  if (cmd == "conf") return fl_conf();
  if (cmd == "cons") return fl_cons();
  if (cmd == "wchs") return fl_wchs();
  if (cmd == "wchc") return fl_wchc();
  if (cmd == "wchp") return fl_wchp();
  if (cmd == "dump") return fl_dump();
  if (cmd == "envi") return fl_envi();
  if (cmd == "isro") return "rw";
  if (cmd == "dirs") {
    return "datadir_size: " + std::to_string(dir_bytes(config_.data_dir)) +
           "\nlogdir_size: " + std::to_string(dir_bytes(config_.data_log_dir.empty() ? config_.data_dir
                                                                                       : config_.data_log_dir)) +
           "\n";
  }
  if (cmd == "crst") {
    for (const auto& [id, c] : conns_) c->stats->reset();
    return "Connection stats reset.\n";
  }
  if (cmd == "srst") {
    const_cast<Server*>(this)->reset_counters();
    return "Server stats reset.\n";
  }
  return std::string(cmd) + " is not executed because it is not supported by ukeeper.\n";
}

void Server::reset_counters() {
  for (auto& link : io_) link->thread->counters().reset_latency();
}

Server::IoTotals Server::io_totals() const {
  IoTotals t;
  t.bad_frames = counters_.bad_frames;
  for (const auto& link : io_) {
    const IoCounters& c = link->thread->counters();
    auto get = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    t.packets_received += get(c.packets_received);
    t.packets_sent += get(c.packets_sent);
    t.requests += get(c.requests);
    t.bad_frames += get(c.bad_frames);
    t.reads_served += get(c.reads_served);
    t.reads_forwarded += get(c.reads_forwarded);
    t.forwarded += get(c.forwarded);
    t.backlog_peak = std::max(t.backlog_peak, get(c.backlog_peak));
    int64_t mn = c.latency_min_us.load(std::memory_order_relaxed);
    if (mn >= 0 && (t.latency_min_us < 0 || mn < t.latency_min_us)) t.latency_min_us = mn;
    t.latency_max_us = std::max(t.latency_max_us, c.latency_max_us.load(std::memory_order_relaxed));
    t.latency_sum_us += c.latency_sum_us.load(std::memory_order_relaxed);
  }
  return t;
}

namespace {

// " /ip:port[1](queued=..,recved=..,sent=..", the start of a connection's line in srvr and cons (the caller adds
// cons's session and latency fields and closes the parenthesis).
std::string connection_head(const std::string& ip, int port, bool connected, const ConnStats& st) {
  auto get = [](const auto& a) { return a.load(std::memory_order_relaxed); };
  return " /" + ip + ":" + std::to_string(port) + "[" + (connected ? "1" : "0") + "](queued=" +
         std::to_string(get(st.outstanding)) + ",recved=" + std::to_string(get(st.packets_received)) +
         ",sent=" + std::to_string(get(st.packets_sent));
}

}  // namespace

std::string Server::fl_srvr(bool with_connections) const {
  std::string s = "Zookeeper version: " + std::string(kCompatZooKeeperVersion) + ", built for ukeeper " +
                  kUkeeperVersion + "\n";
  if (with_connections) {
    s += "Clients:\n";
    for (const auto& [id, c] : conns_) {
      if (c->dead) continue;
      s += connection_head(c->peer_ip, c->peer_port, c->connected, *c->stats) + ")\n";
    }
    s += "\n";
  }
  IoTotals t = io_totals();
  s += "Latency min/avg/max: " + latency_line(t.latency_min_us, t.latency_sum_us, t.requests, t.latency_max_us) + "\n";
  s += "Received: " + std::to_string(t.packets_received) + "\n";
  s += "Sent: " + std::to_string(t.packets_sent) + "\n";
  s += "Connections: " + std::to_string(conns_.size()) + "\n";
  s += "Outstanding: " + std::to_string(processor_.pending_count()) + "\n";
  s += "Zxid: " + hex(tree_.last_zxid()) + "\n";
  s += "Mode: " + mode_name() + "\n";
  s += "Node count: " + std::to_string(tree_.node_count()) + "\n";
  if (ens_) s += peer_lanes_srvr(ens_->lanes, config_, ens_->my_id);
  return s;
}

std::string Server::fl_mntr() const {
  size_t ephemerals = 0;
  for (const auto& [sid, paths] : tree_.ephemerals()) ephemerals += paths.size();
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  size_t open_fds = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    open_fds++;
  }
  IoTotals t = io_totals();
  double avg_ms = t.requests == 0 ? 0.0
                                  : static_cast<double>(t.latency_sum_us) / 1000.0 / static_cast<double>(t.requests);
  char avg[32];
  std::snprintf(avg, sizeof avg, "%.4f", avg_ms);
  std::string s;
  auto kv = [&s](const char* k, const std::string& v) { s += std::string(k) + "\t" + v + "\n"; };
  kv("zk_version", std::string(kCompatZooKeeperVersion));
  kv("zk_server_state", mode_name());
  kv("zk_avg_latency", avg);
  kv("zk_max_latency", std::to_string(t.latency_max_us / 1000));
  kv("zk_min_latency", std::to_string(t.latency_min_us < 0 ? 0 : t.latency_min_us / 1000));
  kv("zk_packets_received", std::to_string(t.packets_received));
  kv("zk_packets_sent", std::to_string(t.packets_sent));
  kv("zk_num_alive_connections", std::to_string(conns_.size()));
  kv("zk_outstanding_requests", std::to_string(processor_.pending_count()));
  kv("zk_znode_count", std::to_string(tree_.node_count()));
  kv("zk_watch_count", std::to_string(watches_.watch_count()));
  kv("zk_ephemerals_count", std::to_string(ephemerals));
  kv("zk_approximate_data_size", std::to_string(tree_.approximate_data_size()));
  // The znode store's own accounting (data_tree.h): estimated live heap bytes, bytes retired but still held
  // for readers, and live bytes per znode.
  const int64_t tree_bytes = tree_.memory_bytes();
  const auto znodes = static_cast<int64_t>(tree_.node_count());  // never 0: the root always exists
  kv("zk_ukeeper_tree_memory_bytes", std::to_string(tree_bytes));
  kv("zk_ukeeper_tree_retired_bytes", std::to_string(tree_.retired_bytes()));
  kv("zk_ukeeper_bytes_per_znode", std::to_string(znodes > 0 ? tree_bytes / znodes : 0));
  kv("zk_open_file_descriptor_count", std::to_string(open_fds));
  kv("zk_max_file_descriptor_count", std::to_string(rl.rlim_cur));
  kv("zk_global_sessions", std::to_string(sessions_.all().size()));
  kv("zk_connections_refused", std::to_string(counters_.connections_refused));
  kv("zk_bad_frames", std::to_string(t.bad_frames));
  kv("zk_ukeeper_io_threads", std::to_string(config_.io_threads));
  kv("zk_ukeeper_reads_served_on_io_threads", std::to_string(t.reads_served));
  kv("zk_ukeeper_reads_via_pipeline", std::to_string(t.reads_forwarded));
  kv("zk_ukeeper_requests_to_pipeline", std::to_string(t.forwarded));
  kv("zk_ukeeper_io_backlog_peak", std::to_string(t.backlog_peak));
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t now_ms = static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
  kv("zk_uptime", std::to_string(now_ms - started_mono_ms_));
  kv("zk_wal_batches", std::to_string(wal_->batches_written()));
  kv("zk_wal_records", std::to_string(wal_->records_written()));
  kv("zk_wal_record_bytes", std::to_string(wal_->record_bytes_written()));
  kv("zk_wal_padding_bytes", std::to_string(wal_->padding_bytes_written()));
  kv("zk_wal_peak_batches_in_flight", std::to_string(wal_->peak_batches_in_flight()));
  kv("zk_wal_persisted_zxid", hex(wal_->persisted_zxid()));
  kv("zk_last_snapshot_zxid", hex(last_snapshot_zxid_));
  kv("zk_snapshots_started", std::to_string(snapshots_started_));
  if (ens_) {
    const zab::Zab& z = *ens_->zab;
    if (ens_->role == zab::Role::kLeading) {
      kv("zk_followers", std::to_string(z.learner_count()));
      kv("zk_synced_followers", std::to_string(z.synced_learners()));
      kv("zk_pending_syncs", std::to_string(ens_->syncs.size()));
    }
    kv("zk_peer_state", mode_name() + (ens_->serving ? " - broadcast" : ""));
    kv("zk_ukeeper_epoch", std::to_string(z.epoch()));
    kv("zk_ukeeper_leader_id", std::to_string(ens_->leader));
    kv("zk_ukeeper_peer_transport", to_string(config_.transport));
    kv("zk_ukeeper_elections", std::to_string(z.stats().elections));
    kv("zk_ukeeper_role_changes", std::to_string(ens_->role_changes));
    kv("zk_ukeeper_sync_diff", std::to_string(z.stats().diff_syncs));
    kv("zk_ukeeper_sync_trunc", std::to_string(z.stats().trunc_syncs));
    kv("zk_ukeeper_sync_snap", std::to_string(z.stats().snap_syncs));
    kv("zk_ukeeper_commit_zxid", "0x" + zab::hex_zxid(z.commit_zxid()));
    uint64_t sent = 0;
    uint64_t received = 0;
    for (const auto& [id, spec] : config_.servers) {
      if (id == ens_->my_id) continue;
      PeerCounters pc = ens_->lanes.transport->counters(id);
      sent += pc.messages_sent;
      received += pc.messages_received;
    }
    kv("zk_ukeeper_peer_messages_sent", std::to_string(sent));
    kv("zk_ukeeper_peer_messages_received", std::to_string(received));
    s += peer_lanes_mntr(ens_->lanes, config_, ens_->my_id);
  }
  return s;
}

std::string Server::fl_conf() const {
  std::string s;
  auto kv = [&s](const char* k, const std::string& v) { s += std::string(k) + "=" + v + "\n"; };
  kv("clientPort", std::to_string(bound_port_));
  kv("clientPortAddress", config_.client_port_address);
  kv("dataDir", config_.data_dir);
  kv("dataDirSize", std::to_string(dir_bytes(config_.data_dir)));
  kv("dataLogDir", config_.data_log_dir.empty() ? config_.data_dir : config_.data_log_dir);
  kv("tickTime", std::to_string(config_.tick_time_ms));
  kv("maxClientCnxns", std::to_string(config_.max_client_cnxns));
  kv("minSessionTimeout", std::to_string(config_.min_session_timeout_ms));
  kv("maxSessionTimeout", std::to_string(config_.max_session_timeout_ms));
  kv("serverId", "0");
  kv("jute.maxbuffer", std::to_string(config_.jute_max_buffer));
  kv("extendedTypesEnabled", config_.extended_types_enabled ? "true" : "false");
  const char* d = config_.durability == Durability::kFsync ? "fsync"
                  : config_.durability == Durability::kAsync ? "async"
                                                             : "none";
  kv("durability", d);
  return s;
}

std::string Server::fl_cons() const {
  std::string s;
  for (const auto& [id, c] : conns_) {
    if (c->dead) continue;
    const ConnStats& st = *c->stats;
    s += connection_head(c->peer_ip, c->peer_port, c->connected, st);
    if (c->connected) {
      auto get = [](const auto& a) { return a.load(std::memory_order_relaxed); };
      uint64_t n = std::max<uint64_t>(1, get(st.requests));
      int32_t timeout = 0;
      if (const Session* sess = sessions_.find_const(c->client.session)) timeout = sess->timeout_ms;
      int64_t min_us = get(st.latency_min_us);
      s += ",sid=" + hex(c->client.session) + ",lop=" + op_short_name(get(st.last_op)) +
           ",est=" + std::to_string(c->established_wall_ms) + ",to=" + std::to_string(timeout) +
           ",lcxid=" + hex(get(st.last_cxid)) + ",lzxid=" + hex(get(st.last_zxid)) +
           ",lresp=" + std::to_string(get(st.last_response_wall_ms)) +
           ",llat=" + std::to_string(get(st.last_latency_us) / 1000) +
           ",minlat=" + std::to_string(min_us < 0 ? 0 : min_us / 1000) +
           ",avglat=" + std::to_string(get(st.latency_sum_us) / 1000 / static_cast<int64_t>(n)) +
           ",maxlat=" + std::to_string(get(st.latency_max_us) / 1000);
    }
    s += ")\n";
  }
  return s + "\n";
}

std::string Server::fl_wchs() const {
  return std::to_string(watches_.watcher_count()) + " connections watching " + std::to_string(watches_.path_count()) +
         " paths\nTotal watches:" + std::to_string(watches_.watch_count()) + "\n";
}

std::string Server::fl_wchc() const {
  std::string s;
  for (const auto& [w, paths] : watches_.by_watcher()) {
    const auto* c = static_cast<const Connection*>(w);
    s += hex(c->client.session) + "\n";
    for (const std::string& p : paths) s += "\t" + p + "\n";
  }
  return s;
}

std::string Server::fl_wchp() const {
  std::string s;
  for (const auto& [p, ws] : watches_.by_path()) {
    s += p + "\n";
    for (Watcher* w : ws) s += "\t" + hex(static_cast<const Connection*>(w)->client.session) + "\n";
  }
  return s;
}

std::string Server::fl_dump() const {
  std::string s = "SessionTracker dump:\nGlobal Sessions(" + std::to_string(sessions_.all().size()) + "):\n";
  for (const auto& [id, sess] : sessions_.all()) {
    s += hex(id) + "\t" + std::to_string(sess.timeout_ms) + "ms\n";
  }
  s += "ephemeral nodes dump:\nSessions with Ephemerals (" + std::to_string(tree_.ephemerals().size()) + "):\n";
  for (const auto& [sid, paths] : tree_.ephemerals()) {
    s += hex(sid) + ":\n";
    for (const std::string& p : paths) s += "\t" + p + "\n";
  }
  s += "Connections with Ephemerals (0):\n";
  return s;
}

std::string Server::fl_envi() const {
  utsname u{};
  uname(&u);
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  char cwd[4096] = {0};
  if (getcwd(cwd, sizeof cwd - 1) == nullptr) cwd[0] = '\0';
  std::string s = "Environment:\n";
  s += "zookeeper.version=" + std::string(kCompatZooKeeperVersion) + "\n";
  s += "ukeeper.version=" + std::string(kUkeeperVersion) + "\n";
  s += "host.name=" + std::string(host) + "\n";
  s += "os.name=" + std::string(u.sysname) + "\n";
  s += "os.arch=" + std::string(u.machine) + "\n";
  s += "os.version=" + std::string(u.release) + "\n";
  s += "user.dir=" + std::string(cwd) + "\n";
  s += "os.procs=" + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + "\n";
  return s;
}

}  // namespace uk
