// Leader election: votes (epoch, last zxid, server id) within rounds, decided by a quorum; joining a leader that
// is already established through the answers of nodes that follow it.
#include <algorithm>
#include <tuple>

#include "ukeeper/consensus/zab.h"

namespace uk::zab {
namespace {

PeerState state_of(Role role) {
  switch (role) {
    case Role::kLooking: return PeerState::kLooking;
    case Role::kFollowing: return PeerState::kFollowing;
    case Role::kLeading: return PeerState::kLeading;
    case Role::kObserving: return PeerState::kObserving;
  }
  return PeerState::kLooking;
}

}  // namespace

void Zab::start_looking(const char* why) {
  note(std::string("looking for a leader: ") + why);
  // Everything that belonged to a leadership or a following ends here; the log and the epochs stay.
  learners_.clear();
  barriers_.clear();
  barriers_done_.clear();
  new_epoch_ = 0;
  epoch_established_ = false;
  ping_needed_ = false;
  newleader_pending_ = false;
  newleader_acked_ = false;
  leader_epoch_ = 0;
  leader_id_ = 0;
  phase_ = Phase::kDiscovery;
  round_++;
  stats_.elections++;
  received_.clear();
  out_of_election_.clear();
  finalize_at_ = -1;
  max_accepted_heard_ = 0;
  if (is_voter(options_.my_id)) {
    vote_ = Vote{options_.my_id, last_zxid(), epochs_.current};
    received_[options_.my_id] = Heard{vote_, round_, PeerState::kLooking};
  } else {
    vote_ = Vote{};
  }
  set_role(Role::kLooking);
  broadcast_vote();
  next_vote_resend_ = now_ + options_.election_resend_ticks;
  if (voters_.size() == 1 && is_voter(options_.my_id)) decide(vote_, "the only voter");
}

bool Zab::better(const Vote& a, const Vote& b) const {
  if (!is_voter(a.leader)) return false;
  return std::tie(a.epoch, a.zxid, a.leader) > std::tie(b.epoch, b.zxid, b.leader);
}

void Zab::send_vote(PeerId to) {
  Message m;
  m.type = MsgType::kVote;
  m.epoch = epochs_.current;
  m.round = round_;
  m.state = state_of(role_);
  m.vote_leader = vote_.leader;
  m.vote_zxid = vote_.zxid;
  m.vote_epoch = vote_.epoch;
  if (role_ != Role::kLooking) {
    // Outside an election we report the leadership itself: leader and its epoch, the same from every member that
    // follows it however it came to (the vote that elected it may differ between them), so that a latecomer sees
    // a quorum agree. Before the epoch is known it is 0 and matches nobody yet.
    m.vote_leader = leader_id_;
    m.vote_epoch = role_ == Role::kLeading ? new_epoch_ : leader_epoch_;
  }
  m.observer = !is_voter(options_.my_id);
  m.accepted_epoch = epochs_.accepted;
  send(to, m);
}

void Zab::broadcast_vote() {
  for (PeerId p : connected_) send_vote(p);
}

bool Zab::quorum_agrees(const std::map<PeerId, Heard>& heard, const Vote& v, bool leader_and_epoch_only) const {
  size_t n = 0;
  for (const auto& [id, h] : heard) {
    if (!is_voter(id)) continue;
    bool same = leader_and_epoch_only ? h.vote.leader == v.leader && h.vote.epoch == v.epoch : h.vote == v;
    n += same ? 1 : 0;
  }
  return n >= quorum_size();
}

void Zab::on_vote(PeerId from, const Message& m) {
  if (role_ == Role::kLooking) {
    on_vote_while_looking(from, m);
    return;
  }
  if (m.state != PeerState::kLooking) return;
  // Our leader looking means it gave up leading us, unless this vote left it before it decided (same round, and we
  // are not yet synchronized with it: the channel is FIFO, so after synchronization nothing that old is in flight).
  if (from == leader_id_ && role_ != Role::kLeading && (m.round > round_ || phase_ == Phase::kBroadcast)) {
    start_looking("the leader is looking for a leader");
    return;
  }
  send_vote(from);  // tell it whom we follow
}

void Zab::on_vote_while_looking(PeerId from, const Message& m) {
  if (m.observer) return;  // observers never vote and never lead
  // A new leader must offer an epoch above every promise a voter made, or that voter cannot follow it.
  max_accepted_heard_ = std::max(max_accepted_heard_, m.accepted_epoch);
  Vote v{m.vote_leader, m.vote_zxid, m.vote_epoch};
  const PeerId me = options_.my_id;
  if (m.state == PeerState::kLooking) {
    if (!is_voter(me)) return;  // an observer learns the leader from nodes that already follow one
    if (m.round > round_) {
      round_ = m.round;
      received_.clear();
      finalize_at_ = -1;
      Vote mine{me, last_zxid(), epochs_.current};
      vote_ = better(v, mine) ? v : mine;
      received_[me] = Heard{vote_, round_, PeerState::kLooking};
      broadcast_vote();
    } else if (m.round < round_) {
      send_vote(from);  // it is behind: our round and vote bring it up
      return;
    } else if (better(v, vote_)) {
      vote_ = v;
      received_[me] = Heard{vote_, round_, PeerState::kLooking};
      finalize_at_ = -1;
      broadcast_vote();
    } else if (!(v == vote_)) {
      // It holds a worse vote in our round: it may have missed ours (sent while it still followed someone), so
      // answer now rather than at the next periodic re-send.
      send_vote(from);
    }
    received_[from] = Heard{v, m.round, m.state};
    if (!quorum_agrees(received_, vote_, false)) return;
    size_t agree = 0;
    for (const auto& [id, h] : received_) agree += is_voter(id) && h.vote == vote_ ? 1 : 0;
    if (agree == voters_.size()) {
      decide(vote_, "every voter agrees");
    } else if (finalize_at_ < 0) {
      finalize_at_ = now_ + options_.finalize_wait_ticks;
    }
    return;
  }
  // From a node that follows or leads: it tells us whom.
  Heard h{v, m.round, m.state};
  out_of_election_[from] = h;
  auto confirmed = [&]() {
    if (v.leader == me) return false;  // we are not leading, whatever others believe
    auto it = out_of_election_.find(v.leader);
    return it != out_of_election_.end() && it->second.state == PeerState::kLeading && it->second.vote.leader == v.leader &&
           it->second.vote.epoch == v.epoch;
  };
  if (m.round == round_) {
    received_[from] = h;
    if (quorum_agrees(received_, v, true) && confirmed()) {
      decide(v, "a quorum follows it");
      return;
    }
  }
  if (quorum_agrees(out_of_election_, v, true) && confirmed()) {
    round_ = std::max(round_, m.round);
    decide(v, "joining the established leader");
  }
}

void Zab::decide(const Vote& v, const char* how) {
  finalize_at_ = -1;
  vote_ = v;
  note("elected server " + std::to_string(v.leader) + " (" + how + ", round " + std::to_string(round_) + ")");
  if (v.leader == options_.my_id) {
    become_leader();
  } else {
    become_learner(v.leader);
  }
}

void Zab::election_tick() {
  if (finalize_at_ >= 0 && now_ >= finalize_at_) {
    if (quorum_agrees(received_, vote_, false)) {
      decide(vote_, "a quorum agrees and no better vote came");
      return;
    }
    finalize_at_ = -1;
  }
  if (now_ >= next_vote_resend_) {
    broadcast_vote();
    // A little jitter keeps looking nodes from re-sending in lockstep.
    next_vote_resend_ = now_ + options_.election_resend_ticks +
                        static_cast<int64_t>(rng_() % static_cast<uint64_t>(options_.election_resend_ticks + 1));
  }
}

}  // namespace uk::zab
