// ZAB as a pure state machine: election, discovery, synchronization and broadcast for one ensemble member.
//
// No clock, socket, disk or thread in here. Inputs are method calls (a peer message, a tick, a connection event,
// `persisted(zxid)` from the log, a transaction to propose); outputs are Actions the host drains with
// take_actions() and carries out IN ORDER: the production server binds them to the TCP transport, the io_uring WAL
// and the znode store; the simulator (tests/sim) binds them to a simulated network and disk. Same inputs, same
// outputs: the simulator replays a failing seed exactly.
//
// Protocol (Junqueira, Reed, Serafini: "Zab: High-performance broadcast for primary-backup systems", 2011, and
// ZooKeeper's implementation of it), as built here:
//  - Election: a looking voter proposes (epoch, last zxid, id) = its own and adopts any better vote it hears in its
//    round; it decides once a quorum holds its vote and no better vote came for finalize_wait_ticks (at once when
//    every voter agrees). A node that is already following or leading answers a looking node with the leader it
//    follows; a quorum of such answers plus the leader's own lets a latecomer (or an observer) join.
//  - Discovery: learners send FOLLOWERINFO(accepted epoch); with a quorum the leader picks a new epoch above every
//    accepted epoch it heard and sends LEADERINFO; learners accept it (durably) and answer ACKEPOCH with their log
//    summary. A learner ahead of the leader (higher current epoch, or same epoch and longer log) makes the leader
//    give up.
//  - Synchronization: per learner, the leader finds the last zxid both logs share (per-epoch log ends make this
//    exact: a zxid names one transaction, proposed by that epoch's single leader) and sends DIFF (entries after
//    it), TRUNC (drop the learner's suffix, then entries) or SNAP (its state as of its last applied zxid, then
//    entries) followed by NEWLEADER. The learner makes all of it durable, adopts the epoch as current (durably)
//    and acks. With a quorum of acks (the leader's own once its log is durable) the leader's whole initial history
//    commits and the leader is established: UPTODATE, then broadcast.
//  - Broadcast: PROPOSAL batches (one message per learner per step), ACKs after `persisted`, commit on a quorum of
//    durable acks including the leader's own, COMMIT piggybacked on the next proposal or sent alone at the end of
//    the step. Observers receive everything and their acks do not count.
//  - Liveness: the leader pings every heartbeat_ticks; a learner that hears nothing from its leader for
//    leader_timeout_ticks looks for a new one; a leader that has not heard from a quorum within
//    learner_timeout_ticks steps down; discovery+sync must finish within init_ticks. A zxid counter about to
//    overflow makes the leader step down so the next one starts a new epoch.
//  - Linearizable barrier (the basis of `sync`): completes once everything proposed before it has committed and a
//    quorum answered a ping sent after it, so a deposed leader cannot complete one.
//
// The host's duties, in the order of the actions:
//  - PersistEpochs, Truncate and InstallSnapshot are durable before the next action is carried out.
//  - Append is queued for the log; the host reports durability with persisted(zxid) later, in log order.
//  - Apply entries in order to the state machine (the znode store). SendSnapshot serializes that state, which is
//    then exactly as of the action's zxid, and sends it as a kSyncSnap message.
//  - Send the bytes to the peer over the transport; a closed channel drops them (consensus recovers).
//
// Thread-safety: one thread owns a Zab.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "ukeeper/consensus/messages.h"

namespace uk::zab {

enum class Role { kLooking, kFollowing, kLeading, kObserving };
const char* to_string(Role role);

struct Options {
  PeerId my_id = 0;
  std::vector<PeerId> voters;     // every voting member, including this node when it votes
  std::vector<PeerId> observers;  // non-voting members, including this node when it observes
  int heartbeat_ticks = 5;        // the leader pings this often
  int leader_timeout_ticks = 20;  // a learner gives up on a silent leader after this
  int learner_timeout_ticks = 20; // a leader drops a silent learner after this; steps down without a quorum
  int init_ticks = 100;           // discovery and synchronization must finish within this
  int election_resend_ticks = 10; // a looking node re-sends its vote this often
  int finalize_wait_ticks = 3;    // a looking node waits this long for a better vote once a quorum agrees
  size_t max_batch_entries = 256; // entries per PROPOSAL message
  uint32_t max_counter = 0xfffffffeu;  // last usable zxid counter of an epoch (tests lower it)
};

// What the host keeps durably besides the log.
struct Epochs {
  uint64_t accepted = 0;  // the newest epoch this node promised to follow (LEADERINFO accepted)
  uint64_t current = 0;   // the epoch of the leader this node last synchronized with (NEWLEADER acked)
  bool operator==(const Epochs&) const = default;
};

// What the host recovered at start: its state machine is as of `base` (a snapshot or the empty tree at 0), and
// `entries` are the durable log records after it, in order (not applied: consensus decides what is committed).
struct Recovered {
  Epochs epochs;
  Zxid base = 0;
  std::vector<Entry> entries;
};

// --- Actions, carried out by the host in order ------------------------------------------------------------------
struct PersistEpochs { Epochs epochs; };
struct Truncate { Zxid after = 0; };                   // drop log records with zxid > after
struct InstallSnapshot { Zxid zxid = 0; std::string state; };  // replace state and log: the log now starts after zxid
struct Append { Entry entry; };
struct Apply { Entry entry; };
struct Send { PeerId peer = 0; std::string bytes; };
struct SendSnapshot { PeerId peer = 0; Zxid zxid = 0; uint64_t epoch = 0; uint64_t attempt = 0; };
struct RoleChange { Role role = Role::kLooking; PeerId leader = 0; uint64_t epoch = 0; bool serving = false; };
struct BarrierDone { uint64_t token = 0; };
struct Deliver { PeerId from = 0; std::string payload; };  // a kApp message from the leader or a learner
struct DisconnectPeer { PeerId peer = 0; };               // protocol error: break the channel
struct Note { std::string text; };                        // something worth a log line
using Action = std::variant<PersistEpochs, Truncate, InstallSnapshot, Append, Apply, Send, SendSnapshot, RoleChange,
                            BarrierDone, Deliver, DisconnectPeer, Note>;

// Counters for mntr/srvr and tests.
struct Stats {
  uint64_t elections = 0;
  uint64_t proposals = 0;
  uint64_t commits = 0;
  uint64_t diff_syncs = 0;
  uint64_t trunc_syncs = 0;
  uint64_t snap_syncs = 0;
  uint64_t dropped_messages = 0;  // malformed, out of epoch or attempt, or unexpected
};

class Zab {
 public:
  Zab(Options options, uint64_t seed);

  // Starts from what the host recovered; the node begins by looking for a leader.
  void start(Recovered recovered);

  // --- inputs ---
  void tick();
  void peer_connected(PeerId peer);
  void peer_disconnected(PeerId peer);
  void receive(PeerId from, std::string_view bytes);
  // The log is durable up to `zxid` (records are made durable in log order).
  void persisted(Zxid zxid);
  // Leader, established: appends and proposes `payload` as `zxid`, which must be next_zxid(). Returns false when
  // this node cannot propose now (not an established leader, or the zxid counter is exhausted: then it steps down).
  bool propose(Zxid zxid, std::string payload);
  Zxid next_zxid() const;
  // A linearizable barrier: BarrierDone(token) once everything committed before the call is applied here and a
  // quorum confirmed this node's leader is still the leader. Returns false when there is no serving leader.
  bool barrier(uint64_t token);
  // Host message to the leader (from a learner) or to a learner (from the leader). False when not possible now.
  bool send_app(PeerId to, std::string payload);
  // The host snapshotted its state at `upto` (<= applied): log records up to it may leave memory. Records that a
  // lagging learner would need then come from a snapshot instead.
  void compact(Zxid upto);

  // --- outputs ---
  std::vector<Action> take_actions();

  // --- observation ---
  Role role() const { return role_; }
  bool serving() const;  // leader established, or learner up to date: clients may be served
  PeerId leader() const { return leader_id_; }
  uint64_t epoch() const { return epochs_.current; }
  const Epochs& epochs() const { return epochs_; }
  Zxid last_zxid() const { return log_.empty() ? base_ : log_.back().zxid; }
  Zxid commit_zxid() const { return commit_; }
  Zxid applied_zxid() const { return applied_; }
  Zxid persisted_zxid() const { return persisted_; }
  Zxid log_base() const { return base_; }
  int64_t now_ticks() const { return now_; }
  const Stats& stats() const { return stats_; }
  // Leader: learners connected and synchronized (NEWLEADER acked), voters and observers alike.
  size_t synced_learners() const;
  size_t learner_count() const { return learners_.size(); }
  bool is_voter(PeerId id) const;
  size_t quorum_size() const { return voters_.size() / 2 + 1; }

 private:
  struct Vote {
    PeerId leader = 0;
    Zxid zxid = 0;
    uint64_t epoch = 0;
    bool operator==(const Vote&) const = default;
  };
  struct Heard {  // a vote heard from a peer during an election
    Vote vote;
    uint64_t round = 0;
    PeerState state = PeerState::kLooking;
  };
  enum class Phase { kDiscovery, kSync, kBroadcast };
  struct Learner {
    uint64_t attempt = 0;
    bool observer = false;
    enum class Stage { kInfo, kEpochSent, kEpochAcked, kSyncSent, kSynced } stage = Stage::kInfo;
    uint64_t accepted_epoch = 0;
    Message summary;  // its ACKEPOCH
    Zxid acked = 0;
    int64_t last_heard = 0;
    uint64_t ping_round_acked = 0;
    Zxid commit_sent = 0;
    Zxid sync_zxid = 0;  // the last zxid of its synchronization (NEWLEADER)
    std::vector<Entry> outgoing;  // proposals of this step, sent as one batch at its end
  };
  struct PendingBarrier {
    PeerId origin = 0;  // 0: this node
    uint64_t token = 0;
    Zxid zxid = 0;
    uint64_t round = 0;
  };

  // zab_election.cc
  void start_looking(const char* why);
  void on_vote(PeerId from, const Message& m);
  void on_vote_while_looking(PeerId from, const Message& m);
  void send_vote(PeerId to);
  void broadcast_vote();
  bool better(const Vote& a, const Vote& b) const;
  bool quorum_agrees(const std::map<PeerId, Heard>& heard, const Vote& v, bool leader_and_epoch_only) const;
  void decide(const Vote& v, const char* how);
  void election_tick();
  // zab_leader.cc
  void become_leader();
  void on_leader_message(PeerId from, const Message& m);
  void on_follower_info(PeerId from, const Message& m);
  void on_ack_epoch(PeerId from, Learner& l, const Message& m);
  void choose_epoch_if_quorum();
  void establish_epoch_if_quorum();
  void sync_learner(PeerId id, Learner& l);
  void establish_if_quorum();
  void on_learner_ack(Learner& l, Zxid zxid);
  void advance_commit();
  void check_barriers();
  void leader_tick();
  void flush_leader_batches();
  Message to_learner(MsgType type, const Learner& l) const;
  // zab_learner.cc
  void become_learner(PeerId leader);
  void send_follower_info();
  void on_learner_message(PeerId from, const Message& m);
  void on_sync_entry(const Entry& e);
  void learner_commit(Zxid commit);
  void learner_tick();
  void maybe_ack_newleader();
  void flush_learner_acks();
  Message to_leader(MsgType type) const;
  // zab.cc
  void send(PeerId to, const Message& m);
  void append(Entry e);
  void apply_up_to(Zxid zxid);
  void truncate_after(Zxid zxid);
  void note(std::string text);
  void set_role(Role role);
  void persist_epochs();
  std::vector<Zxid> epoch_ends() const;
  Zxid last_in_epoch(uint64_t epoch) const;  // 0 when this log has no record of `epoch`
  const Entry* find_entry(Zxid zxid) const;
  void end_step();

  Options options_;
  std::set<PeerId> voters_;
  std::set<PeerId> observers_;
  std::mt19937_64 rng_;
  int64_t now_ = 0;
  std::vector<Action> actions_;
  Stats stats_;

  // Durable state (mirrored by the host) and the log window (base_, last].
  Epochs epochs_;
  Zxid base_ = 0;
  std::deque<Entry> log_;
  Zxid persisted_ = 0;
  Zxid commit_ = 0;
  Zxid applied_ = 0;

  Role role_ = Role::kLooking;
  Phase phase_ = Phase::kDiscovery;
  PeerId leader_id_ = 0;
  std::set<PeerId> connected_;

  // Election.
  uint64_t round_ = 0;
  Vote vote_;
  std::map<PeerId, Heard> received_;       // this round's votes from looking voters
  std::map<PeerId, Heard> out_of_election_; // what following/leading nodes told us
  int64_t finalize_at_ = -1;
  uint64_t max_accepted_heard_ = 0;  // the highest epoch a voter told us (in votes) it promised to follow
  int64_t next_vote_resend_ = 0;

  // Leader.
  std::map<PeerId, Learner> learners_;
  uint64_t new_epoch_ = 0;           // chosen in discovery; 0 until then
  Zxid initial_last_ = 0;            // the last zxid of the history this leader started with
  bool epoch_established_ = false;   // ACKEPOCH quorum reached, current epoch adopted
  uint64_t prior_epoch_ = 0;         // this leader's current epoch when it was elected
  bool ping_needed_ = false;         // a barrier waits for the next ping round
  int64_t phase_deadline_ = 0;
  int64_t next_ping_ = 0;
  uint64_t ping_round_ = 0;
  Zxid next_zxid_ = 0;
  std::deque<PendingBarrier> barriers_;
  bool commit_advanced_ = false;

  // Learner.
  uint64_t attempt_ = 0;
  int64_t last_heard_leader_ = 0;
  bool newleader_pending_ = false;
  uint64_t newleader_epoch_ = 0;
  Zxid acked_sent_ = 0;
  uint64_t leader_epoch_ = 0;       // the epoch the leader offered (LEADERINFO)
  PeerId accepted_from_ = 0;        // who offered epochs_.accepted (not durable: after a restart, unknown)
  Zxid newleader_zxid_ = 0;
  bool newleader_acked_ = false;
  std::deque<std::pair<uint64_t, Zxid>> barriers_done_;  // token, zxid: answered once applied up to zxid
};

}  // namespace uk::zab
