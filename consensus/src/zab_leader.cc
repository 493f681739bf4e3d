// The leader: discovery (a new epoch), synchronization of each learner (DIFF, TRUNC or SNAP), establishment, and
// broadcast (proposals, quorum commit, heartbeats, barriers).
#include <algorithm>
#include <functional>

#include "ukeeper/consensus/zab.h"

namespace uk::zab {

void Zab::become_leader() {
  leader_id_ = options_.my_id;
  phase_ = Phase::kDiscovery;
  learners_.clear();
  barriers_.clear();
  new_epoch_ = 0;
  epoch_established_ = false;
  prior_epoch_ = epochs_.current;
  initial_last_ = last_zxid();
  phase_deadline_ = now_ + options_.init_ticks;
  set_role(Role::kLeading);
  choose_epoch_if_quorum();
}

Message Zab::to_learner(MsgType type, const Learner& l) const {
  Message m;
  m.type = type;
  m.epoch = new_epoch_;
  m.attempt = l.attempt;
  return m;
}

void Zab::on_leader_message(PeerId from, const Message& m) {
  if (m.type == MsgType::kFollowerInfo) {
    on_follower_info(from, m);
    return;
  }
  auto it = learners_.find(from);
  if (it == learners_.end() || m.attempt != it->second.attempt || m.epoch != new_epoch_) {
    stats_.dropped_messages++;
    return;
  }
  Learner& l = it->second;
  l.last_heard = now_;
  switch (m.type) {
    case MsgType::kAckEpoch:
      if (l.stage == Learner::Stage::kEpochSent) on_ack_epoch(from, l, m);
      return;
    case MsgType::kAckNewLeader:
      if (l.stage != Learner::Stage::kSyncSent) break;
      l.stage = Learner::Stage::kSynced;
      l.acked = l.sync_zxid;
      if (phase_ == Phase::kBroadcast) {
        Message up = to_learner(MsgType::kUpToDate, l);
        up.commit = commit_;
        l.commit_sent = commit_;
        send(from, up);
        advance_commit();
      } else {
        establish_if_quorum();
      }
      return;
    case MsgType::kAck:
      if (l.stage != Learner::Stage::kSynced) break;
      on_learner_ack(l, m.zxid);
      return;
    case MsgType::kPingAck:
      l.ping_round_acked = std::max(l.ping_round_acked, m.token);
      check_barriers();
      return;
    case MsgType::kBarrier:
      if (l.stage != Learner::Stage::kSynced || phase_ != Phase::kBroadcast) break;
      barriers_.push_back(PendingBarrier{from, m.token, last_zxid(), ping_round_ + 1});
      ping_needed_ = true;
      check_barriers();
      return;
    case MsgType::kApp:
      if (l.stage != Learner::Stage::kSynced) break;
      actions_.push_back(Deliver{from, m.payload});
      return;
    default:
      break;
  }
  stats_.dropped_messages++;
}

void Zab::on_follower_info(PeerId from, const Message& m) {
  bool configured_observer = observers_.count(from) != 0;
  if (m.observer != configured_observer) {
    stats_.dropped_messages++;
    note("server " + std::to_string(from) + " registers as " + (m.observer ? "an observer" : "a voter") +
         " but this server's configuration says otherwise: closing its channel");
    actions_.push_back(DisconnectPeer{from});
    return;
  }
  if (new_epoch_ != 0 && !m.observer && m.accepted_epoch > new_epoch_) {
    // This voter promised a newer epoch (to a leader that never got established) and can never follow ours; the
    // ensemble would run a member short for good. Elect again: the votes carry its promise, and the next epoch
    // goes above it.
    start_looking(("server " + std::to_string(from) + " promised epoch " + std::to_string(m.accepted_epoch) +
                   ", above ours (" + std::to_string(new_epoch_) + ")").c_str());
    return;
  }
  Learner& l = learners_[from];
  if (l.attempt == m.attempt) return;  // a repeated registration of the attempt under way
  l = Learner{};
  l.attempt = m.attempt;
  l.observer = m.observer;
  l.accepted_epoch = m.accepted_epoch;
  l.last_heard = now_;
  if (new_epoch_ != 0) {
    send(from, to_learner(MsgType::kLeaderInfo, l));
    l.stage = Learner::Stage::kEpochSent;
    return;
  }
  choose_epoch_if_quorum();
}

void Zab::choose_epoch_if_quorum() {
  if (new_epoch_ != 0) return;
  size_t voters = is_voter(options_.my_id) ? 1 : 0;
  uint64_t max_accepted = std::max(epochs_.accepted, max_accepted_heard_);
  for (const auto& [id, l] : learners_) {
    voters += l.observer ? 0 : 1;
    max_accepted = std::max(max_accepted, l.accepted_epoch);
  }
  if (voters < quorum_size()) return;
  new_epoch_ = max_accepted + 1;
  epochs_.accepted = new_epoch_;
  persist_epochs();
  note("proposing epoch " + std::to_string(new_epoch_) + " to " + std::to_string(learners_.size()) + " learners");
  for (auto& [id, l] : learners_) {
    send(id, to_learner(MsgType::kLeaderInfo, l));
    l.stage = Learner::Stage::kEpochSent;
  }
  establish_epoch_if_quorum();
}

void Zab::on_ack_epoch(PeerId from, Learner& l, const Message& m) {
  uint64_t my_epoch = epoch_established_ ? epochs_.current : prior_epoch_;
  Zxid my_last = epoch_established_ ? last_zxid() : initial_last_;
  if (!l.observer && (m.current_epoch > my_epoch || (m.current_epoch == my_epoch && m.zxid > my_last))) {
    start_looking(("server " + std::to_string(from) + " has a newer history than this leader").c_str());
    return;
  }
  l.summary = m;
  l.stage = Learner::Stage::kEpochAcked;
  if (epoch_established_) {
    sync_learner(from, l);
  } else {
    establish_epoch_if_quorum();
  }
}

void Zab::establish_epoch_if_quorum() {
  if (epoch_established_ || new_epoch_ == 0) return;
  size_t n = is_voter(options_.my_id) ? 1 : 0;
  for (const auto& [id, l] : learners_) {
    n += !l.observer && l.stage == Learner::Stage::kEpochAcked && !l.summary.observer ? 1 : 0;
  }
  if (n < quorum_size()) return;
  epochs_.current = new_epoch_;
  persist_epochs();
  epoch_established_ = true;
  next_zxid_ = make_zxid(new_epoch_, 1);
  for (auto& [id, l] : learners_) {
    if (l.stage == Learner::Stage::kEpochAcked) sync_learner(id, l);
  }
  establish_if_quorum();
}

// Finds the last zxid this leader's log shares with the learner's and sends what makes the learner's log equal
// to this one: DIFF (nothing to drop), TRUNC (drop the learner's divergent suffix) or SNAP (the shared point lies
// before this log's window), then the entries after that point, then NEWLEADER.
void Zab::sync_learner(PeerId id, Learner& l) {
  const Message& s = l.summary;
  std::optional<Zxid> common;
  bool snap = false;
  for (auto it = s.epoch_ends.rbegin(); it != s.epoch_ends.rend() && !common && !snap; ++it) {
    uint64_t e = epoch_of(*it);
    if (Zxid mine = last_in_epoch(e); mine != 0) {
      common = std::min(*it, mine);
    } else if (base_ != 0 && epoch_of(base_) == e) {
      common = std::min(*it, base_);
    } else if (base_ != 0 && epoch_of(base_) > e) {
      snap = true;  // its records of epoch e may lie before this log's window
    }              // else this log never had epoch e: those records of the learner were never committed
  }
  if (!common && !snap) common = s.base;
  if (snap || *common < base_ || *common < s.base) {
    snap = true;
    common = applied_;
    stats_.snap_syncs++;
    actions_.push_back(SendSnapshot{id, applied_, new_epoch_, l.attempt});
  } else if (*common == s.zxid) {
    stats_.diff_syncs++;
    send(id, to_learner(MsgType::kSyncDiff, l));
  } else {
    stats_.trunc_syncs++;
    Message t = to_learner(MsgType::kSyncTrunc, l);
    t.zxid = *common;
    send(id, t);
  }
  note("synchronizing server " + std::to_string(id) + " by " +
       (snap ? "SNAP" : *common == s.zxid ? "DIFF" : "TRUNC") + " from 0x" + hex_zxid(*common) + " to 0x" +
       hex_zxid(last_zxid()));
  auto it = std::upper_bound(log_.begin(), log_.end(), *common, [](Zxid z, const Entry& e) { return z < e.zxid; });
  while (it != log_.end()) {
    Message p = to_learner(MsgType::kProposal, l);
    for (size_t n = 0; it != log_.end() && n < options_.max_batch_entries; ++it, ++n) p.entries.push_back(*it);
    send(id, p);
  }
  Message nl = to_learner(MsgType::kNewLeader, l);
  nl.zxid = last_zxid();
  send(id, nl);
  l.sync_zxid = last_zxid();
  l.stage = Learner::Stage::kSyncSent;
}

void Zab::establish_if_quorum() {
  if (!epoch_established_ || phase_ == Phase::kBroadcast) return;
  size_t n = is_voter(options_.my_id) && persisted_ >= initial_last_ ? 1 : 0;
  for (const auto& [id, l] : learners_) n += !l.observer && l.stage == Learner::Stage::kSynced ? 1 : 0;
  if (n < quorum_size()) return;
  phase_ = Phase::kBroadcast;
  // The whole initial history is on a quorum's disks under this epoch: it is committed.
  apply_up_to(initial_last_);
  commit_ = std::max(commit_, initial_last_);
  for (auto& [id, l] : learners_) {
    if (l.stage != Learner::Stage::kSynced) continue;
    Message up = to_learner(MsgType::kUpToDate, l);
    up.commit = commit_;
    l.commit_sent = commit_;
    send(id, up);
  }
  note("established epoch " + std::to_string(new_epoch_) + " with " + std::to_string(n) + " of " +
       std::to_string(voters_.size()) + " voters synchronized");
  set_role(Role::kLeading);
  next_ping_ = now_;
  advance_commit();
}

void Zab::on_learner_ack(Learner& l, Zxid zxid) {
  if (zxid <= l.acked) return;
  l.acked = std::min(zxid, last_zxid());
  advance_commit();
}

// Commit = the highest zxid durable on a quorum of voters (the leader's own log counts once it is durable).
void Zab::advance_commit() {
  if (role_ != Role::kLeading || phase_ != Phase::kBroadcast) return;
  std::vector<Zxid> acked;
  if (is_voter(options_.my_id)) acked.push_back(persisted_);
  for (const auto& [id, l] : learners_) {
    if (!l.observer && l.stage == Learner::Stage::kSynced) acked.push_back(l.acked);
  }
  if (acked.size() < quorum_size()) return;
  std::nth_element(acked.begin(), acked.begin() + static_cast<ptrdiff_t>(quorum_size() - 1), acked.end(),
                   std::greater<>());
  Zxid c = acked[quorum_size() - 1];
  if (c <= commit_) return;
  apply_up_to(c);
  commit_advanced_ = true;
  check_barriers();
}

void Zab::check_barriers() {
  while (!barriers_.empty()) {
    const PendingBarrier& b = barriers_.front();
    if (commit_ < b.zxid) return;
    size_t n = is_voter(options_.my_id) ? 1 : 0;
    for (const auto& [id, l] : learners_) {
      n += !l.observer && l.stage == Learner::Stage::kSynced && l.ping_round_acked >= b.round ? 1 : 0;
    }
    if (n < quorum_size()) return;
    if (b.origin == 0) {
      actions_.push_back(BarrierDone{b.token});
    } else if (auto it = learners_.find(b.origin); it != learners_.end()) {
      Message done = to_learner(MsgType::kBarrierDone, it->second);
      done.token = b.token;
      done.zxid = b.zxid;
      done.commit = commit_;
      it->second.commit_sent = std::max(it->second.commit_sent, commit_);
      send(b.origin, done);
    }
    barriers_.pop_front();
  }
}

void Zab::leader_tick() {
  if (phase_ != Phase::kBroadcast) {
    if (now_ >= phase_deadline_) start_looking("no quorum synchronized within initLimit");
    return;
  }
  for (auto it = learners_.begin(); it != learners_.end();) {
    if (now_ - it->second.last_heard > options_.learner_timeout_ticks) {
      note("server " + std::to_string(it->first) + " silent for " + std::to_string(options_.learner_timeout_ticks) +
           " ticks: dropping it");
      actions_.push_back(DisconnectPeer{it->first});
      it = learners_.erase(it);
    } else {
      ++it;
    }
  }
  size_t n = is_voter(options_.my_id) ? 1 : 0;
  for (const auto& [id, l] : learners_) n += !l.observer && l.stage == Learner::Stage::kSynced ? 1 : 0;
  if (n < quorum_size()) {
    start_looking("lost the quorum of synchronized followers");
    return;
  }
  if (now_ >= next_ping_) {
    ping_needed_ = true;
    next_ping_ = now_ + options_.heartbeat_ticks;
  }
}

void Zab::flush_leader_batches() {
  for (auto& [id, l] : learners_) {
    if (l.outgoing.empty()) continue;
    std::vector<Entry> batch;
    batch.swap(l.outgoing);
    for (size_t i = 0; i < batch.size(); i += options_.max_batch_entries) {
      Message p = to_learner(MsgType::kProposal, l);
      size_t end = std::min(batch.size(), i + options_.max_batch_entries);
      p.entries.assign(std::make_move_iterator(batch.begin() + static_cast<ptrdiff_t>(i)),
                       std::make_move_iterator(batch.begin() + static_cast<ptrdiff_t>(end)));
      p.commit = l.stage == Learner::Stage::kSynced ? commit_ : 0;
      if (l.stage == Learner::Stage::kSynced) l.commit_sent = commit_;
      actions_.push_back(Send{id, encode(p)});
    }
  }
  if (commit_advanced_) {
    commit_advanced_ = false;
    for (auto& [id, l] : learners_) {
      if (l.stage != Learner::Stage::kSynced || l.commit_sent >= commit_) continue;
      Message c = to_learner(MsgType::kCommit, l);
      c.commit = commit_;
      l.commit_sent = commit_;
      actions_.push_back(Send{id, encode(c)});
    }
  }
  if (ping_needed_ && phase_ == Phase::kBroadcast) {
    ping_needed_ = false;
    ping_round_++;
    for (auto& [id, l] : learners_) {
      if (l.stage != Learner::Stage::kSynced) continue;
      Message p = to_learner(MsgType::kPing, l);
      p.commit = commit_;
      p.token = ping_round_;
      l.commit_sent = std::max(l.commit_sent, commit_);
      actions_.push_back(Send{id, encode(p)});
    }
    check_barriers();  // a lone leader confirms its own barriers
  }
}

}  // namespace uk::zab
