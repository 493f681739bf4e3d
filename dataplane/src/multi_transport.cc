// MultiTransport: the logical channel over several lanes (design in multi_transport.h).
#include "ukeeper/dataplane/multi_transport.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "ukeeper/common/log.h"

namespace uk {
namespace {

void put_u64(char* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

uint64_t get_u64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

long long ll(PeerId id) { return static_cast<long long>(id); }

[[noreturn]] void setup_failed(const char* what) {
  std::fprintf(stderr, "ukeeper: multi transport: %s: %s\n", what, std::strerror(errno));
  std::abort();
}

}  // namespace

MultiTransport::MultiTransport(MultiTransportOptions options, std::vector<Lane> lanes,
                               std::function<void(size_t, const PeerEvent&)> on_lane_event)
    : options_(std::move(options)), lanes_(std::move(lanes)), on_lane_event_(std::move(on_lane_event)) {
  if (lanes_.empty()) setup_failed("no lanes");
  next_cid_ = options_.first_channel_id != 0
                  ? options_.first_channel_id
                  : static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count());
  for (PeerId id : options_.peers) {
    if (id == options_.my_id) continue;
    Peer& p = peers_[id];
    p.held.resize(lanes_.size());
    p.up_since_ms.assign(lanes_.size(), -1);
  }
  epoll_fd_ = Fd(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd_.valid()) setup_failed("epoll_create1");
  for (size_t i = 0; i < lanes_.size(); ++i) {
    int fd = lanes_[i].transport->wait_fd();
    if (fd < 0) continue;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) setup_failed("epoll_ctl");
  }
}

MultiTransport::~MultiTransport() = default;

MultiTransport::Peer* MultiTransport::find(PeerId peer) {
  auto it = peers_.find(peer);
  return it == peers_.end() ? nullptr : &it->second;
}

const MultiTransport::Peer* MultiTransport::find(PeerId peer) const {
  auto it = peers_.find(peer);
  return it == peers_.end() ? nullptr : &it->second;
}

int MultiTransport::best_up_lane(const Peer& p) const {
  for (size_t i = 0; i < lanes_.size(); ++i) {
    if (p.up_since_ms[i] >= 0) return static_cast<int>(i);
  }
  return -1;
}

int MultiTransport::lane_of_code(uint8_t code) const {
  for (size_t i = 0; i < lanes_.size(); ++i) {
    if (lanes_[i].code == code) return static_cast<int>(i);
  }
  return -1;
}

bool MultiTransport::connected(PeerId peer) const {
  const Peer* p = find(peer);
  return p != nullptr && p->open;
}

int MultiTransport::out_lane(PeerId peer) const {
  const Peer* p = find(peer);
  return p != nullptr && p->open ? p->out : -1;
}

int MultiTransport::in_lane(PeerId peer) const {
  const Peer* p = find(peer);
  return p != nullptr && p->open ? p->in : -1;
}

PeerCounters MultiTransport::counters(PeerId peer) const {
  const Peer* p = find(peer);
  return p != nullptr ? p->counters : PeerCounters{};
}

MultiTransportPeerStats MultiTransport::peer_stats(PeerId peer) const {
  const Peer* p = find(peer);
  return p != nullptr ? p->stats : MultiTransportPeerStats{};
}

// --- sending ----------------------------------------------------------------------------------------------------

bool MultiTransport::send_frame(PeerId id, int lane, Kind kind, uint64_t cid, std::string_view payload) {
  scratch_.resize(kHeaderBytes + payload.size());
  scratch_[0] = static_cast<char>(kind);
  put_u64(scratch_.data() + 1, cid);
  if (!payload.empty()) std::memcpy(scratch_.data() + kHeaderBytes, payload.data(), payload.size());
  bool ok = lanes_[lane].transport->send(id, scratch_);
  if (scratch_.capacity() > kKeepScratchBytes) std::string().swap(scratch_);  // a snapshot went through
  return ok;
}

bool MultiTransport::send(PeerId peer, std::string_view message) {
  Peer* p = find(peer);
  if (p == nullptr || !p->open) {
    if (p != nullptr) ++p->counters.dropped;
    return false;
  }
  if (!send_frame(peer, p->out, kData, p->cid, message)) {
    ++p->counters.dropped;
    break_channel(peer, *p, "its lane refused a message");
    return false;
  }
  ++p->counters.messages_sent;
  p->counters.bytes_sent += message.size();
  return true;
}

void MultiTransport::disconnect(PeerId peer) {
  if (Peer* p = find(peer); p != nullptr && p->open) break_channel(peer, *p, "closed by this member");
}

void MultiTransport::emit(PeerEvent::Kind kind, PeerId peer) {
  events_.push_back(PeerEvent{kind, peer, {}});
}

// --- channel life -----------------------------------------------------------------------------------------------

void MultiTransport::open_channel(PeerId id, Peer& p) {
  int lane = best_up_lane(p);
  if (lane < 0) return;
  uint64_t cid = next_cid_++;
  if (!send_frame(id, lane, kOpen, cid, {})) return;  // the lane's drop event follows; we try again then
  p.cid = cid;
  p.out = lane;
  p.in = -1;
  p.used = 1u << lane;
  p.open = true;
  ++p.counters.connects;
  ++p.stats.opens;
  emit(PeerEvent::Kind::kConnected, id);
  UK_INFO("peer %lld: channel %016" PRIx64 " opened over %s", ll(id), cid, lanes_[lane].transport->name());
}

void MultiTransport::adopt_channel(PeerId id, Peer& p, uint64_t cid, int lane) {
  if (p.open) {
    ++p.counters.disconnects;
    ++p.stats.breaks;
    emit(PeerEvent::Kind::kDisconnected, id);
    UK_INFO("peer %lld: channel %016" PRIx64 " replaced by the peer's %016" PRIx64, ll(id), p.cid, cid);
  }
  p.cid = cid;
  p.in = lane;
  p.used = 1u << lane;
  p.want_reopen = false;
  // Frames held for this channel stay (they wait for a kSwitch); older ones go.
  for (auto& q : p.held) {
    std::erase_if(q, [&](const Held& h) {
      if (h.cid >= cid) return false;
      p.held_bytes -= h.frame.size();
      ++p.stats.stale;
      return true;
    });
  }
  p.out = best_up_lane(p);  // up: the kOpen just came over one
  if (p.out < 0 || !send_frame(id, p.out, kOpen, cid, {})) {
    p.open = false;
    break_channel(id, p, "no lane took our open");
    return;
  }
  p.used |= 1u << p.out;
  p.open = true;
  ++p.counters.connects;
  ++p.stats.opens;
  emit(PeerEvent::Kind::kConnected, id);
  UK_INFO("peer %lld: channel %016" PRIx64 " adopted, peer on %s, we send over %s", ll(id), cid,
          lanes_[lane].transport->name(), lanes_[p.out].transport->name());
}

void MultiTransport::break_channel(PeerId id, Peer& p, const char* why) {
  if (p.open) {
    ++p.counters.disconnects;
    ++p.stats.breaks;
    emit(PeerEvent::Kind::kDisconnected, id);
    UK_INFO("peer %lld: channel %016" PRIx64 " closed: %s", ll(id), p.cid, why);
  }
  p.open = false;
  p.out = -1;
  p.in = -1;
  p.used = 0;
  clear_held(p);
  if (owns(id)) {
    open_channel(id, p);
  } else {
    p.want_reopen = true;
    request_reopen(id, p);
  }
}

void MultiTransport::request_reopen(PeerId id, Peer& p) {
  p.next_reopen_ms = now_ms_ + options_.reopen_retry_ms;
  int lane = best_up_lane(p);
  if (lane >= 0) send_frame(id, lane, kReopen, p.cid, {});
}

void MultiTransport::clear_held(Peer& p) {
  for (auto& q : p.held) q.clear();
  p.held_bytes = 0;
}

// --- lane events ------------------------------------------------------------------------------------------------

void MultiTransport::on_lane_up(PeerId id, Peer& p, int lane) {
  p.up_since_ms[lane] = now_ms_;
  if (owns(id)) {
    if (!p.open) open_channel(id, p);
  } else if (!p.open && p.want_reopen) {
    request_reopen(id, p);
  }
}

void MultiTransport::on_lane_down(PeerId id, Peer& p, int lane) {
  p.up_since_ms[lane] = -1;
  // Any lane the channel used may have lost frames of it that the peer had not taken yet (a kOpen, the frames
  // before a kSwitch): the channel cannot be trusted to be complete any more.
  bool carried = p.open && (((p.used >> lane) & 1u) != 0 || !p.held[lane].empty());
  for (const Held& h : p.held[lane]) p.held_bytes -= h.frame.size();
  p.held[lane].clear();
  if (carried) {
    std::string why = std::string("its lane ") + lanes_[lane].transport->name() + " went down";
    break_channel(id, p, why.c_str());
  }
  // With every lane down a restarted owner may come back with any channel id (its clock may have stepped back).
  if (!owns(id) && !p.open && best_up_lane(p) < 0) p.cid = 0;
}

void MultiTransport::hold(Peer& p, int lane, std::string frame, uint64_t cid) {
  p.held_bytes += frame.size();
  p.stats.held_peak_bytes = std::max<uint64_t>(p.stats.held_peak_bytes, p.held_bytes);
  p.held[lane].push_back(Held{std::move(frame), cid});
}

void MultiTransport::on_frame(PeerId id, Peer& p, int lane, std::string frame) {
  if (frame.size() < kHeaderBytes || frame[0] < kData || frame[0] > kReopen) {
    ++p.stats.malformed;
    ++p.counters.dropped;
    return;
  }
  const Kind kind = static_cast<Kind>(frame[0]);
  const uint64_t cid = get_u64(frame.data() + 1);
  if (kind == kReopen) {
    if (owns(id) && cid == p.cid && cid != 0) {
      if (p.open) {
        break_channel(id, p, "the peer lost it");
      } else {
        open_channel(id, p);
      }
    }
    return;
  }
  if (owns(id)) {
    if (cid != p.cid || !p.open) {
      ++p.stats.stale;
      return;
    }
  } else if (cid < p.cid) {
    ++p.stats.stale;
    return;
  } else if (cid > p.cid) {
    if (kind == kOpen) {
      adopt_channel(id, p, cid, lane);
      drain_held(id, p);
    } else {
      hold(p, lane, std::move(frame), cid);  // a newer channel whose kOpen is still on its way
    }
    return;
  }
  // The current channel.
  p.used |= 1u << lane;
  if (kind == kOpen) {
    if (owns(id) && p.in < 0) {
      p.in = lane;
      drain_held(id, p);
    } else {
      ++p.stats.malformed;
    }
    return;
  }
  if (p.in != lane) {
    hold(p, lane, std::move(frame), cid);
    if (p.held_bytes > options_.max_held_bytes) break_channel(id, p, "too many frames held for a lane switch");
    return;
  }
  if (deliver(id, p, std::move(frame))) drain_held(id, p);
}

bool MultiTransport::deliver(PeerId id, Peer& p, std::string frame) {
  if (frame[0] == kSwitch) {
    int next = frame.size() == kHeaderBytes + 1 ? lane_of_code(static_cast<uint8_t>(frame[kHeaderBytes])) : -1;
    if (next < 0) {
      ++p.stats.malformed;
      break_channel(id, p, "a lane switch named no lane of ours");
      return false;
    }
    p.in = next;
    return true;
  }
  if (frame[0] != kData) {
    ++p.stats.malformed;
    return true;
  }
  frame.erase(0, kHeaderBytes);
  ++p.counters.messages_received;
  p.counters.bytes_received += frame.size();
  events_.push_back(PeerEvent{PeerEvent::Kind::kMessage, id, std::move(frame)});
  return true;
}

void MultiTransport::drain_held(PeerId id, Peer& p) {
  while (p.open && p.in >= 0 && !p.held[p.in].empty()) {
    // A lane carries a sender's frames in order, so channel ids never go down along a queue: frames of a newer
    // channel (its kOpen still on the way) stop the drain, and all behind them wait with them.
    if (p.held[p.in].front().cid > p.cid) return;
    Held h = std::move(p.held[p.in].front());
    p.held[p.in].pop_front();
    p.held_bytes -= h.frame.size();
    if (h.cid != p.cid) {
      ++p.stats.stale;
      continue;
    }
    if (!deliver(id, p, std::move(h.frame))) return;
  }
}

// --- the loop ---------------------------------------------------------------------------------------------------

void MultiTransport::run_timers(int64_t now_ms) {
  for (auto& [id, p] : peers_) {
    if (p.open && p.out > 0) {
      for (int i = 0; i < p.out; ++i) {
        if (p.up_since_ms[i] < 0 || now_ms - p.up_since_ms[i] < options_.upgrade_after_ms) continue;
        if (!send_frame(id, p.out, kSwitch, p.cid, std::string_view(reinterpret_cast<const char*>(&lanes_[i].code), 1))) {
          break_channel(id, p, "its lane refused a switch");
          break;
        }
        UK_INFO("peer %lld: our side of channel %016" PRIx64 " moves from %s to %s", ll(id), p.cid,
                lanes_[p.out].transport->name(), lanes_[i].transport->name());
        p.out = i;
        p.used |= 1u << i;
        ++p.stats.switches;
        break;
      }
    }
    if (owns(id)) {
      if (!p.open) open_channel(id, p);
    } else if (!p.open && p.want_reopen && now_ms >= p.next_reopen_ms) {
      request_reopen(id, p);
    }
  }
}

void MultiTransport::poll(int64_t now_ms, std::vector<PeerEvent>& out) {
  now_ms_ = now_ms;
  for (size_t lane = 0; lane < lanes_.size(); ++lane) {
    lane_events_.clear();
    lanes_[lane].transport->poll(now_ms, lane_events_);
    for (PeerEvent& ev : lane_events_) {
      Peer* p = find(ev.peer);
      if (p == nullptr) continue;
      const int l = static_cast<int>(lane);
      switch (ev.kind) {
        case PeerEvent::Kind::kConnected:
          if (on_lane_event_) on_lane_event_(lane, ev);
          on_lane_up(ev.peer, *p, l);
          break;
        case PeerEvent::Kind::kDisconnected:
          if (on_lane_event_) on_lane_event_(lane, ev);
          on_lane_down(ev.peer, *p, l);
          break;
        case PeerEvent::Kind::kMessage:
          on_frame(ev.peer, *p, l, std::move(ev.message));
          break;
      }
    }
  }
  run_timers(now_ms);
  for (PeerEvent& e : events_) out.push_back(std::move(e));
  events_.clear();
}

int64_t MultiTransport::next_timer_ms() const {
  int64_t due = -1;
  auto sooner = [&](int64_t t) {
    if (t >= 0 && (due < 0 || t < due)) due = t;
  };
  if (!events_.empty()) sooner(now_ms_);
  for (const Lane& l : lanes_) sooner(l.transport->next_timer_ms());
  for (const auto& [id, p] : peers_) {
    if (p.open) {
      for (int i = 0; i < p.out; ++i) {
        if (p.up_since_ms[i] >= 0) sooner(p.up_since_ms[i] + options_.upgrade_after_ms);
      }
    } else if (!owns(id) && p.want_reopen && best_up_lane(p) >= 0) {
      sooner(p.next_reopen_ms);
    }
  }
  return due;
}

int64_t MultiTransport::block_budget_us() {
  if (!events_.empty()) return 0;
  int64_t budget = -1;
  for (Lane& l : lanes_) {
    int64_t b = l.transport->block_budget_us();
    if (b >= 0 && (budget < 0 || b < budget)) budget = b;
  }
  return budget;
}

}  // namespace uk
