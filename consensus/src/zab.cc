// Zab: inputs, outputs and the log window shared by every role. Roles live in zab_election.cc, zab_leader.cc and
// zab_learner.cc.
#include "ukeeper/consensus/zab.h"

#include <algorithm>
#include <cassert>
#include <cinttypes>
#include <cstdio>

namespace uk::zab {

const char* to_string(Role role) {
  switch (role) {
    case Role::kLooking: return "looking";
    case Role::kFollowing: return "follower";
    case Role::kLeading: return "leader";
    case Role::kObserving: return "observer";
  }
  return "?";
}

Zab::Zab(Options options, uint64_t seed)
    : options_(std::move(options)),
      voters_(options_.voters.begin(), options_.voters.end()),
      observers_(options_.observers.begin(), options_.observers.end()),
      rng_(seed) {}

bool Zab::is_voter(PeerId id) const { return voters_.count(id) != 0; }

void Zab::start(Recovered recovered) {
  epochs_ = recovered.epochs;
  base_ = recovered.base;
  log_.clear();
  for (Entry& e : recovered.entries) {
    assert(e.zxid > last_zxid());
    log_.push_back(std::move(e));
  }
  persisted_ = last_zxid();  // what the host recovered is on disk
  commit_ = base_;
  applied_ = base_;
  start_looking("starting");
}

// --- inputs -----------------------------------------------------------------------------------------------------

void Zab::tick() {
  now_++;
  switch (role_) {
    case Role::kLooking: election_tick(); break;
    case Role::kLeading: leader_tick(); break;
    case Role::kFollowing:
    case Role::kObserving: learner_tick(); break;
  }
}

void Zab::peer_connected(PeerId peer) {
  connected_.insert(peer);
  if (role_ == Role::kLooking) {
    send_vote(peer);
  } else if (role_ != Role::kLeading && peer == leader_id_ && phase_ == Phase::kDiscovery) {
    send_follower_info();
  }
}

void Zab::peer_disconnected(PeerId peer) {
  connected_.erase(peer);
  if ((role_ == Role::kFollowing || role_ == Role::kObserving) && peer == leader_id_) {
    start_looking("lost the connection to the leader");
  } else if (role_ == Role::kLeading) {
    learners_.erase(peer);  // it re-registers when it comes back; the quorum check runs on the next tick
  }
}

void Zab::receive(PeerId from, std::string_view bytes) {
  std::optional<Message> m = decode(bytes);
  if (!m) {
    stats_.dropped_messages++;
    note("malformed message (" + std::to_string(bytes.size()) + " bytes) from server " + std::to_string(from) +
         ": closing the channel");
    actions_.push_back(DisconnectPeer{from});
    return;
  }
  if (from == options_.my_id || (!is_voter(from) && observers_.count(from) == 0)) {
    stats_.dropped_messages++;
    note("message from unknown server " + std::to_string(from) + " dropped");
    return;
  }
  if (m->type == MsgType::kVote) {
    on_vote(from, *m);
  } else if (role_ == Role::kLeading) {
    on_leader_message(from, *m);
  } else if (role_ == Role::kFollowing || role_ == Role::kObserving) {
    on_learner_message(from, *m);
  } else {
    stats_.dropped_messages++;  // looking: leader/learner traffic from an earlier round
  }
}

void Zab::persisted(Zxid zxid) {
  if (zxid <= persisted_) return;
  persisted_ = std::min(zxid, last_zxid());
  if (role_ == Role::kLeading) {
    establish_if_quorum();
    advance_commit();
  } else if (role_ != Role::kLooking) {
    maybe_ack_newleader();
  }
}

Zxid Zab::next_zxid() const { return role_ == Role::kLeading && phase_ == Phase::kBroadcast ? next_zxid_ : 0; }

bool Zab::propose(Zxid zxid, std::string payload) {
  if (role_ != Role::kLeading || phase_ != Phase::kBroadcast || zxid != next_zxid_) return false;
  if (counter_of(zxid) > options_.max_counter) {
    start_looking("the zxid counter of this epoch is exhausted; a new election starts a new epoch");
    return false;
  }
  Entry e{zxid, std::move(payload)};
  for (auto& [id, l] : learners_) {
    if (l.stage >= Learner::Stage::kSyncSent) l.outgoing.push_back(e);
  }
  append(std::move(e));
  next_zxid_++;
  stats_.proposals++;
  return true;
}

bool Zab::barrier(uint64_t token) {
  if (!serving()) return false;
  if (role_ == Role::kLeading) {
    barriers_.push_back(PendingBarrier{0, token, last_zxid(), ping_round_ + 1});
    ping_needed_ = true;
    check_barriers();
    return true;
  }
  Message m = to_leader(MsgType::kBarrier);
  m.token = token;
  send(leader_id_, m);
  return true;
}

bool Zab::send_app(PeerId to, std::string payload) {
  if (role_ == Role::kLeading) {
    auto it = learners_.find(to);
    if (it == learners_.end() || it->second.stage != Learner::Stage::kSynced) return false;
    Message m = to_learner(MsgType::kApp, it->second);
    m.payload = std::move(payload);
    send(to, m);
    return true;
  }
  if (!serving() || to != leader_id_) return false;
  Message m = to_leader(MsgType::kApp);
  m.payload = std::move(payload);
  send(to, m);
  return true;
}

void Zab::compact(Zxid upto) {
  upto = std::min(upto, applied_);
  while (!log_.empty() && log_.front().zxid <= upto) log_.pop_front();
  base_ = std::max(base_, upto);
}

std::vector<Action> Zab::take_actions() {
  end_step();
  std::vector<Action> out;
  out.swap(actions_);
  return out;
}

bool Zab::serving() const { return role_ != Role::kLooking && phase_ == Phase::kBroadcast; }

size_t Zab::synced_learners() const {
  size_t n = 0;
  for (const auto& [id, l] : learners_) n += l.stage == Learner::Stage::kSynced ? 1 : 0;
  return n;
}

// --- shared helpers ---------------------------------------------------------------------------------------------

void Zab::end_step() {
  if (role_ == Role::kLeading) flush_leader_batches();
  if (role_ == Role::kFollowing) flush_learner_acks();
}

void Zab::send(PeerId to, const Message& m) {
  // Whatever was batched for this peer leaves first, so the channel carries messages in the order they were made.
  if (role_ == Role::kLeading) {
    auto it = learners_.find(to);
    if (it != learners_.end() && !it->second.outgoing.empty() && m.type != MsgType::kProposal) {
      flush_leader_batches();
    }
  } else if (role_ == Role::kFollowing && to == leader_id_ && m.type != MsgType::kAck) {
    flush_learner_acks();
  }
  actions_.push_back(Send{to, encode(m)});
}

void Zab::append(Entry e) {
  assert(e.zxid > last_zxid());
  log_.push_back(e);
  actions_.push_back(Append{std::move(e)});
}

void Zab::apply_up_to(Zxid zxid) {
  zxid = std::min(zxid, last_zxid());
  if (zxid <= applied_) return;
  auto it = std::upper_bound(log_.begin(), log_.end(), applied_,
                             [](Zxid z, const Entry& e) { return z < e.zxid; });
  for (; it != log_.end() && it->zxid <= zxid; ++it) {
    actions_.push_back(Apply{*it});
    applied_ = it->zxid;
    stats_.commits++;
  }
  commit_ = std::max(commit_, applied_);
}

void Zab::truncate_after(Zxid zxid) {
  while (!log_.empty() && log_.back().zxid > zxid) log_.pop_back();
  persisted_ = std::min(persisted_, zxid);
  commit_ = std::min(commit_, zxid);
  actions_.push_back(Truncate{zxid});
}

void Zab::note(std::string text) { actions_.push_back(Note{std::move(text)}); }

void Zab::set_role(Role role) {
  role_ = role;
  actions_.push_back(RoleChange{role_, leader_id_, role_ == Role::kLeading ? new_epoch_ : leader_epoch_, serving()});
}

void Zab::persist_epochs() { actions_.push_back(PersistEpochs{epochs_}); }

std::vector<Zxid> Zab::epoch_ends() const {
  std::vector<Zxid> out;
  for (const Entry& e : log_) {
    if (!out.empty() && epoch_of(out.back()) == epoch_of(e.zxid)) {
      out.back() = e.zxid;
    } else {
      out.push_back(e.zxid);
    }
  }
  return out;
}

Zxid Zab::last_in_epoch(uint64_t epoch) const {
  Zxid limit = make_zxid(epoch, 0xffffffffu);
  auto it = std::upper_bound(log_.begin(), log_.end(), limit, [](Zxid z, const Entry& e) { return z < e.zxid; });
  if (it == log_.begin()) return 0;
  --it;
  return epoch_of(it->zxid) == epoch ? it->zxid : 0;
}

const Entry* Zab::find_entry(Zxid zxid) const {
  auto it = std::lower_bound(log_.begin(), log_.end(), zxid, [](const Entry& e, Zxid z) { return e.zxid < z; });
  return it != log_.end() && it->zxid == zxid ? &*it : nullptr;
}

}  // namespace uk::zab
