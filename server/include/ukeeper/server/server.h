// The ukeeper server. run() is the pipeline thread: it accepts client connections and hands each to one of the
// client I/O threads (ioThreads, io_thread.h), which read and frame its requests, answer snapshot reads from the
// lock-free store themselves and pass everything else here; this thread runs those requests through the
// Processor (and consensus in an ensemble), logs and applies transactions, fires watches, answers four-letter
// words, expires sessions, and hands replies and events back to the owning I/O thread.
// Thread-safety: run() owns everything but the I/O threads' sockets; stop() may be called from any thread or a
// signal handler.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ukeeper/common/config.h"
#include "ukeeper/consensus/zab.h"
#include "ukeeper/drivers/socket.h"
#include "ukeeper/server/processor.h"
#include "ukeeper/server/reads.h"
#include "ukeeper/server/sessions.h"
#include "ukeeper/server/watches.h"
#include "ukeeper/storage/tree/data_tree.h"
#include "ukeeper/storage/wal/wal.h"

namespace uk {

struct EnsembleState;
struct PeerApp;
struct IoLink;
struct ToPipeline;
struct ToIo;

inline constexpr const char* kUkeeperVersion = "0.1.0";
// Reported where ZooKeeper tools parse a ZooKeeper version ("Zookeeper version:" in srvr/stat).
inline constexpr const char* kCompatZooKeeperVersion = "3.8.0-ukeeper-0.1.0";

// Counters of the pipeline thread; the I/O threads keep the per-request ones (IoCounters).
struct ServerCounters {
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;  // over maxClientCnxns
  uint64_t bad_frames = 0;           // closed for malformed input found here (the I/O threads count theirs)
};

class Server final : private CommitSink {
 public:
  explicit Server(ServerConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Recovers the tree and sessions from the data directory (WAL replay) and binds the client port. Returns
  // false with `error` set when it cannot.
  bool start(std::string& error);
  // Serves until stop() is called or storage fails (then fatal_error() says why).
  void run();
  void stop();
  // Wakes run() from another thread (stop, a finished snapshot, the I/O threads use the same eventfd).
  void wake_pipeline();

  int bound_port() const { return bound_port_; }
  const std::string& fatal_error() const { return fatal_; }

 private:
  class Connection;

  void accept_all();
  // Takes in what the I/O threads sent: frames, watch registrations, closed connections.
  void drain_io();
  void on_io_message(ToPipeline& m);
  // Hands every connection's new output to its I/O thread, then tells each thread through which zxid it has
  // every watch event (IoThread::set_shipped_through) and wakes it.
  void ship_output();
  void ship(Connection& c);
  void send_to_io(int io, ToIo m);
  // Consumes the connection's received frames while its order rules allow.
  void process_input(Connection& c);
  bool process_frame(Connection& c, std::string_view frame);
  bool process_connect(Connection& c, std::string_view frame);
  bool process_request(Connection& c, std::string_view frame);
  void answer_four_letter(Connection& c, std::string_view cmd);
  // Forgets the connection here; unless its I/O thread reported the close, tells it to close the socket.
  void close_connection(Connection& c, const char* why, bool tell_io = true);
  // The connection's I/O thread heard from its client after the session's deadline: push the deadline out.
  bool heard_since(Session& s, int64_t mono_now);
  void expire_sessions(int64_t mono_ms);
  void reap_dead_connections();
  bool open_storage(std::string& error);
  std::string snapshot_dir() const;
  std::string wal_dir() const;
  // Starts a snapshot (on a thread of its own) once enough txns applied since the last; joins a finished one and
  // purges old snapshots and WAL segments as configured.
  void maybe_snapshot();
  void purge_old_files();
  // Moves new txns to the WAL, applies what is durable, answers, and resumes connections whose reads waited.
  void drive_pipeline();
  Connection* find_connection(uint64_t token);
  void send_connect_response(Connection& c, SessionId id);
  // Appends a reply frame to `c`; the request it answers leaves the connection's pending count.
  void deliver_reply(Connection& c, std::string frame, bool close_after);

  // Ensemble (ensemble.cc); ens_ is null in standalone mode.
  bool read_myid(std::string& error);
  bool load_epochs(zab::Epochs& epochs, std::string& error);
  bool start_ensemble(std::string& error);
  // How long the loop may block: until the next tick or peer timer, at most wait_ms; 0 while a lane spins.
  int64_t ensemble_wait_us(int64_t now, int wait_ms);
  void ensemble_turn(int64_t now);
  void report_persisted();
  void run_zab_actions();
  void on_zab_action(zab::PersistEpochs& a);
  void on_zab_action(zab::Truncate& a);
  void on_zab_action(zab::InstallSnapshot& a);
  void on_zab_action(zab::Append& a);
  void on_zab_action(zab::Apply& a);
  void on_zab_action(zab::Send& a);
  void on_zab_action(zab::SendSnapshot& a);
  void on_zab_action(zab::RoleChange& a);
  void on_zab_action(zab::BarrierDone& a);
  void on_zab_action(zab::Deliver& a);
  void on_zab_action(zab::DisconnectPeer& a);
  void on_zab_action(zab::Note& a);
  void on_learner_app(int64_t from, PeerApp& m);
  void on_leader_app(PeerApp& m);
  void send_to_member(uint64_t token, PeerApp m);
  void release_held_replies();
  // A learner forwards writes and every member turns sync into a barrier; true when the request was taken.
  bool ensemble_request(Connection& c, const RequestHeader& h, JuteReader& body);
  bool ensemble_new_session(Connection& c, SessionId id, int32_t timeout);
  bool ensemble_serving() const;
  bool leads_or_standalone() const;
  std::string mode_name() const;

  // CommitSink: results of applied txns (called from drive_pipeline via Processor::apply_persisted).
  void reply(uint64_t token, std::string frame, bool close_after) override;
  void session_created(uint64_t token, SessionId id) override;
  void session_closed(SessionId id) override;

  // Four-letter words (four_letter.cc).
  std::string four_letter(std::string_view cmd) const;
  std::string fl_srvr(bool with_connections) const;
  std::string fl_mntr() const;
  std::string fl_conf() const;
  std::string fl_cons() const;
  std::string fl_wchs() const;
  std::string fl_wchc() const;
  std::string fl_wchp() const;
  std::string fl_dump() const;
  std::string fl_envi() const;
  void reset_counters();
  // Sums over the I/O threads.
  struct IoTotals {
    uint64_t packets_received = 0, packets_sent = 0, requests = 0, bad_frames = 0;
    uint64_t reads_served = 0, reads_forwarded = 0, forwarded = 0, backlog_peak = 0;
    int64_t latency_min_us = -1, latency_max_us = 0, latency_sum_us = 0;
  };
  IoTotals io_totals() const;

  ServerConfig config_;
  DataTree tree_;
  WatchManager watches_;
  SessionTracker sessions_;
  Processor processor_;
  ServerCounters counters_;
  std::unique_ptr<Wal> wal_;
  std::string fatal_;
  std::vector<uint64_t> to_resume_;  // connections whose last pending write was answered
  std::vector<uint64_t> to_flush_;   // connections given output from outside their own I/O this turn
  Zxid last_snapshot_zxid_ = 0;
  Zxid snapshot_zxid_in_progress_ = 0;
  std::thread snapshot_thread_;
  std::unique_ptr<TreeReader> snapshot_reader_;  // the snapshot thread's registration with tree_
  std::atomic<bool> snapshot_done_{false};
  int64_t snapshot_started_ms_ = 0;
  int64_t snapshot_peak_retired_ = 0;  // tree_.retired_bytes() at its highest while the snapshot was written
  std::string snapshot_error_;  // written by the snapshot thread, read after it is joined
  uint64_t snapshots_started_ = 0;
  int64_t next_snapshot_after_txns_ = 0;  // set from snapCount in the constructor
  int64_t purge_interval_ms_ = 0;         // autopurge.purgeInterval; 0 = never
  int64_t next_purge_ms_ = 0;
  std::minstd_rand snapshot_rng_{std::random_device{}()};

  Epoll epoll_;
  Fd listen_fd_;
  Fd wake_fd_;  // eventfd: stop() wakes the loop
  int bound_port_ = 0;
  std::atomic<bool> stopping_{false};
  int64_t started_mono_ms_ = 0;

  uint64_t next_conn_id_ = 1000;  // connection ids double as the I/O threads' epoll tags (small ones are theirs)
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> conns_;
  std::unordered_map<std::string, int> conns_per_ip_;
  std::vector<uint64_t> dead_;  // closed this loop turn; destroyed at its end

  std::unique_ptr<EnsembleState> ens_;
  std::string session_key_;  // ensemble: the session-password key every member derives alike

  // Last: the I/O threads read tree_ and wake wake_fd_, so they stop before those go.
  std::vector<std::unique_ptr<IoLink>> io_;
  size_t next_io_ = 0;  // round robin of new connections
};

}  // namespace uk
