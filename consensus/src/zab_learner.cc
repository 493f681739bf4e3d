// A learner (follower or observer): registration with the elected leader, accepting its epoch, synchronization,
// then logging proposals, acknowledging what is durable and applying what is committed.
#include "ukeeper/consensus/zab.h"

namespace uk::zab {

void Zab::become_learner(PeerId leader) {
  leader_id_ = leader;
  phase_ = Phase::kDiscovery;
  attempt_ = rng_() | 1;  // random, so a message of an earlier attempt (or incarnation) never matches
  last_heard_leader_ = now_;
  phase_deadline_ = now_ + options_.init_ticks;
  newleader_pending_ = false;
  newleader_acked_ = false;
  leader_epoch_ = 0;
  barriers_done_.clear();
  set_role(is_voter(options_.my_id) ? Role::kFollowing : Role::kObserving);
  if (connected_.count(leader) != 0) send_follower_info();
}

Message Zab::to_leader(MsgType type) const {
  Message m;
  m.type = type;
  m.epoch = leader_epoch_;
  m.attempt = attempt_;
  return m;
}

void Zab::send_follower_info() {
  Message m = to_leader(MsgType::kFollowerInfo);
  m.accepted_epoch = epochs_.accepted;
  m.observer = !is_voter(options_.my_id);
  send(leader_id_, m);
}

void Zab::on_learner_message(PeerId from, const Message& m) {
  if (from != leader_id_ || m.attempt != attempt_ || (m.type != MsgType::kLeaderInfo && m.epoch != leader_epoch_)) {
    stats_.dropped_messages++;
    return;
  }
  last_heard_leader_ = now_;
  const bool voter = is_voter(options_.my_id);
  switch (m.type) {
    case MsgType::kLeaderInfo: {
      if (phase_ != Phase::kDiscovery) break;
      // A voter promises an epoch once. The same epoch offered again counts only if it comes from the leader that
      // offered it first (a reconnect); otherwise the ack carries our log but must not count toward the epoch's
      // quorum, or two leaders could establish one epoch. Observers promise nothing.
      bool counts = true;
      if (voter && m.epoch < epochs_.accepted) {
        start_looking("the elected leader offered an epoch older than one already accepted");
        return;
      }
      if (voter && m.epoch == epochs_.accepted) {
        counts = accepted_from_ == from;
      } else if (m.epoch != epochs_.accepted) {
        epochs_.accepted = m.epoch;
        persist_epochs();
      }
      accepted_from_ = from;
      leader_epoch_ = m.epoch;
      Message ack = to_leader(MsgType::kAckEpoch);
      ack.current_epoch = epochs_.current;
      ack.zxid = last_zxid();
      ack.base = base_;
      ack.epoch_ends = epoch_ends();
      ack.observer = !counts;
      send(from, ack);
      phase_ = Phase::kSync;
      return;
    }
    case MsgType::kSyncDiff:
      if (phase_ != Phase::kSync) break;
      return;
    case MsgType::kSyncTrunc:
      if (phase_ != Phase::kSync) break;
      if (m.zxid < applied_) {
        // Committed records are never truncated; a leader asking for it is a bug somewhere. Refuse loudly.
        note("PROTOCOL VIOLATION: leader " + std::to_string(from) + " asked to truncate below the applied zxid");
        start_looking("refused a truncation of committed records");
        return;
      }
      truncate_after(m.zxid);
      return;
    case MsgType::kSyncSnap:
      if (phase_ != Phase::kSync) break;
      log_.clear();
      base_ = applied_ = commit_ = persisted_ = m.zxid;
      actions_.push_back(InstallSnapshot{m.zxid, m.payload});
      return;
    case MsgType::kProposal:
      if (phase_ == Phase::kDiscovery) break;
      for (const Entry& e : m.entries) {
        if (e.zxid <= last_zxid() || (phase_ == Phase::kBroadcast && epoch_of(e.zxid) != leader_epoch_)) {
          note("proposal 0x" + hex_zxid(e.zxid) + " out of order after 0x" + hex_zxid(last_zxid()));
          start_looking("out-of-order proposal from the leader");
          return;
        }
        append(e);
      }
      if (phase_ == Phase::kBroadcast) learner_commit(m.commit);
      return;
    case MsgType::kNewLeader:
      if (phase_ != Phase::kSync || newleader_pending_ || newleader_acked_) break;
      newleader_pending_ = true;
      newleader_zxid_ = m.zxid;
      maybe_ack_newleader();
      return;
    case MsgType::kUpToDate:
      if (phase_ != Phase::kSync || !newleader_acked_) break;
      phase_ = Phase::kBroadcast;
      learner_commit(m.commit);
      note("synchronized with leader " + std::to_string(from) + " in epoch " + std::to_string(leader_epoch_) +
           ", serving");
      set_role(role_);
      return;
    case MsgType::kCommit:
      if (phase_ != Phase::kBroadcast) break;
      learner_commit(m.commit);
      return;
    case MsgType::kPing: {
      if (phase_ == Phase::kBroadcast) learner_commit(m.commit);
      Message ack = to_leader(MsgType::kPingAck);
      ack.token = m.token;
      send(from, ack);
      return;
    }
    case MsgType::kBarrierDone:
      if (phase_ != Phase::kBroadcast) break;
      learner_commit(m.commit);
      barriers_done_.emplace_back(m.token, m.zxid);
      learner_commit(commit_);  // answers it when already applied
      return;
    case MsgType::kApp:
      if (phase_ != Phase::kBroadcast) break;
      actions_.push_back(Deliver{from, m.payload});
      return;
    default:
      break;
  }
  stats_.dropped_messages++;
}

void Zab::maybe_ack_newleader() {
  if (!newleader_pending_ || persisted_ < newleader_zxid_) return;
  newleader_pending_ = false;
  newleader_acked_ = true;
  epochs_.current = leader_epoch_;
  persist_epochs();
  acked_sent_ = newleader_zxid_;
  send(leader_id_, to_leader(MsgType::kAckNewLeader));
}

void Zab::learner_commit(Zxid commit) {
  if (commit > commit_) apply_up_to(commit);
  while (!barriers_done_.empty() && barriers_done_.front().second <= applied_) {
    actions_.push_back(BarrierDone{barriers_done_.front().first});
    barriers_done_.pop_front();
  }
}

void Zab::flush_learner_acks() {
  if (!newleader_acked_ || persisted_ <= acked_sent_) return;
  acked_sent_ = persisted_;
  Message ack = to_leader(MsgType::kAck);
  ack.zxid = persisted_;
  actions_.push_back(Send{leader_id_, encode(ack)});
}

void Zab::learner_tick() {
  // The leader may still have been looking when our registration arrived (it drops learner traffic then): repeat it
  // until it answers.
  if (phase_ == Phase::kDiscovery && connected_.count(leader_id_) != 0 && now_ % 2 == 0) send_follower_info();
  if (phase_ != Phase::kBroadcast && now_ >= phase_deadline_) {
    start_looking("synchronization with the leader did not finish within initLimit");
  } else if (now_ - last_heard_leader_ > options_.leader_timeout_ticks) {
    start_looking("the leader has been silent too long");
  }
}

}  // namespace uk::zab
