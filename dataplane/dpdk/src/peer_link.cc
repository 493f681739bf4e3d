// PeerLink setup and channel state: validation, the peer table, incarnations, connect/reset, the upper-side calls
// and timeouts. Frame parsing, segments, acks and frame building are in peer_link_datapath.cc.
#include <algorithm>
#include <cassert>
#include <cinttypes>
#include <climits>
#include <iterator>

#include "ukeeper/common/log.h"
#include "ukeeper/dataplane/dpdk/peer_link.h"

namespace uk::dpdk {
namespace {

std::string describe(const Endpoint& e) {
  return format_mac(e.mac) + " " + format_ipv4(e.ip) + ":" + std::to_string(e.udp_port);
}

bool same_endpoint(const Endpoint& a, const Endpoint& b) { return a.ip == b.ip && a.udp_port == b.udp_port; }

std::string validate(const PeerLinkOptions& o) {
  if (o.mtu_bytes < kMinMtuBytes || o.mtu_bytes > kMaxMtuBytes) {
    return "mtu_bytes " + std::to_string(o.mtu_bytes) + " outside [" + std::to_string(kMinMtuBytes) + ", " +
           std::to_string(kMaxMtuBytes) + "]";
  }
  if (o.max_message_bytes > UINT32_MAX) return "max_message_bytes above 2^32 - 1";
  if (o.window_segments == 0 || o.window_segments > 65536) return "window_segments must be in [1, 65536]";
  if (o.retransmit_timeout_us <= 0 || o.hello_interval_us <= 0 || o.keepalive_interval_us <= 0) {
    return "retransmit, hello and keepalive intervals must be positive";
  }
  if (o.peer_timeout_us <= o.keepalive_interval_us) return "peer_timeout_us must exceed keepalive_interval_us";
  if (o.first_incarnation == 0) return "first_incarnation must be positive";
  if (o.me.ip == 0 || o.me.udp_port == 0) return "this node needs an IP address and a UDP port";
  for (size_t i = 0; i < o.peers.size(); ++i) {
    const LinkPeer& a = o.peers[i];
    if (a.id == o.my_id) continue;
    if (a.endpoint.ip == 0 || a.endpoint.udp_port == 0) {
      return "peer " + std::to_string(a.id) + " needs an IP address and a UDP port";
    }
    if (same_endpoint(a.endpoint, o.me)) return "peer " + std::to_string(a.id) + " has this node's IP and port";
    for (size_t j = i + 1; j < o.peers.size(); ++j) {
      const LinkPeer& b = o.peers[j];
      if (b.id == o.my_id) continue;
      if (a.id == b.id) return "peer " + std::to_string(a.id) + " listed twice";
      if (same_endpoint(a.endpoint, b.endpoint)) {
        return "peers " + std::to_string(a.id) + " and " + std::to_string(b.id) + " share an IP and port";
      }
    }
  }
  return "";
}

}  // namespace

std::unique_ptr<PeerLink> PeerLink::create(PeerLinkOptions options, std::string& error) {
  std::string problem = validate(options);
  if (!problem.empty()) {
    error = "dpdk link: " + problem;
    return nullptr;
  }
  return std::unique_ptr<PeerLink>(new PeerLink(std::move(options)));
}

PeerLink::PeerLink(PeerLinkOptions options)
    : options_(std::move(options)),
      segment_bytes_(max_segment_bytes(options_.mtu_bytes)),
      next_incarnation_(options_.first_incarnation) {
  for (const LinkPeer& lp : options_.peers) {
    if (lp.id == options_.my_id) continue;
    Peer& p = peers_.emplace_back();
    p.id = lp.id;
    p.endpoint = lp.endpoint;
    p.my_incarnation = next_incarnation_++;
    p.hello_owed = true;  // say hello on the first pass
    // Every slot allocated now, so the data path does not allocate per segment: the window's worth of held
    // out-of-order segments is window_segments * segment_bytes_ per peer (128 * 1408 B = 176 KiB at the defaults).
    p.inflight.resize(options_.window_segments);
    p.rx_slots.resize(options_.window_segments);
    for (RxSlot& s : p.rx_slots) s.data.reserve(segment_bytes_);
  }
  std::sort(peers_.begin(), peers_.end(), [](const Peer& a, const Peer& b) { return a.id < b.id; });
}

PeerLink::Peer* PeerLink::find_peer(PeerId id) {
  for (Peer& p : peers_) {
    if (p.id == id) return &p;
  }
  return nullptr;
}

const PeerLink::Peer* PeerLink::find_peer(PeerId id) const {
  for (const Peer& p : peers_) {
    if (p.id == id) return &p;
  }
  return nullptr;
}

// A peer is known by its IP and UDP port, and must send from its configured MAC.
PeerLink::Peer* PeerLink::find_peer(const UdpFrame& f) {
  for (Peer& p : peers_) {
    if (p.endpoint.ip == f.src_ip && p.endpoint.udp_port == f.src_port) {
      return p.endpoint.mac == f.src_mac ? &p : nullptr;
    }
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------------------------
// Channel state

bool PeerLink::admit(Peer& p, const LinkHeader& h, int64_t now_us) {
  const uint64_t theirs = h.sender_incarnation;
  if (theirs < p.peer_incarnation) {
    ++stats_.frames_stale;
    return false;
  }
  if (p.up && theirs > p.peer_incarnation) reset(p, "the peer started a new channel");
  if (p.up) {
    if (h.receiver_incarnation != p.my_incarnation) {
      ++stats_.frames_stale;  // from our side's earlier channel, delayed
      return false;
    }
    p.last_heard_us = now_us;
    return true;
  }
  p.peer_incarnation = theirs;
  p.last_heard_us = now_us;
  if (h.receiver_incarnation != p.my_incarnation) {
    p.hello_owed = true;  // tell it which incarnation of ours is current
    return false;
  }
  bring_up(p, now_us);
  return true;
}

void PeerLink::bring_up(Peer& p, int64_t now_us) {
  assert(!p.up && p.next_seq == 1 && p.rx_next == 1);
  p.up = true;
  p.ack_owed = true;  // the first frame tells the peer we are up, which brings its side up
  p.hello_owed = false;
  p.last_heard_us = now_us;
  p.last_sent_us = now_us;
  ++p.counters.connects;
  events_.push_back(PeerEvent{PeerEvent::Kind::kConnected, p.id, {}});
  UK_INFO("dpdk: channel to peer %lld up (%s, incarnations %" PRIu64 "/%" PRIu64 ")", static_cast<long long>(p.id),
          describe(p.endpoint).c_str(), p.my_incarnation, p.peer_incarnation);
}

void PeerLink::reset(Peer& p, const char* reason) {
  if (p.up) {
    ++p.counters.disconnects;
    events_.push_back(PeerEvent{PeerEvent::Kind::kDisconnected, p.id, {}});
    UK_INFO("dpdk: channel to peer %lld lost: %s (%zu message(s) in flight lost)", static_cast<long long>(p.id),
            reason, p.out.size());
  }
  stats_.messages_lost += p.out.size();
  p.up = false;
  p.my_incarnation = next_incarnation_++;
  p.hello_owed = true;
  p.ack_owed = false;
  p.out.clear();
  p.next_seq = 1;
  p.acked = 0;
  p.sent_upto = 0;
  p.tx_message = 0;
  p.retransmit_check_us = INT64_MAX;
  p.backoff = 0;
  for (InFlight& s : p.inflight) s = InFlight{};
  p.rx_next = 1;
  for (RxSlot& s : p.rx_slots) s.seq = 0;
  p.assembling = false;
  p.message.clear();
  p.message.shrink_to_fit();  // a reassembled snapshot can be large; do not keep it for an idle channel
}

void PeerLink::protocol_error(Peer& p, const char* what) {
  ++stats_.protocol_errors;
  ++p.counters.dropped;
  UK_WARN("dpdk: peer %lld broke the protocol: %s; resetting the channel", static_cast<long long>(p.id), what);
  reset(p, what);
}

void PeerLink::tick(int64_t now_us) {
  for (Peer& p : peers_) {
    if (!p.up || now_us - p.last_heard_us <= options_.peer_timeout_us) continue;
    ++stats_.peer_timeouts;
    reset(p, "nothing heard for peer_timeout_us");
    // The peer may come back as a new process whose clock-based incarnations are lower than what we saw (a clock
    // stepped back): after a timeout any incarnation is accepted again. Stale frames still cannot bring a channel
    // up, since they name an incarnation of ours that is gone.
    p.peer_incarnation = 0;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Upper side

bool PeerLink::send(PeerId peer, std::string_view message) {
  Peer* p = find_peer(peer);
  if (p == nullptr) return false;
  if (!p->up || message.size() > options_.max_message_bytes) {
    ++p->counters.dropped;
    if (p->up) {
      UK_WARN("dpdk: not sending a %zu-byte message to peer %lld: above max_message_bytes %zu", message.size(),
              static_cast<long long>(peer), options_.max_message_bytes);
    }
    return false;
  }
  OutMessage& m = p->out.emplace_back();
  m.bytes.assign(message.data(), message.size());
  m.first_seq = p->next_seq;
  m.segments = message.empty() ? 1 : (message.size() + segment_bytes_ - 1) / segment_bytes_;
  p->next_seq += m.segments;
  ++p->counters.messages_sent;
  p->counters.bytes_sent += message.size();
  return true;
}

bool PeerLink::connected(PeerId peer) const {
  const Peer* p = find_peer(peer);
  return p != nullptr && p->up;
}

void PeerLink::disconnect(PeerId peer) {
  Peer* p = find_peer(peer);
  if (p != nullptr && p->up) reset(*p, "disconnected locally");
}

void PeerLink::take_events(std::vector<PeerEvent>& out) {
  if (out.empty()) {
    out.swap(events_);
  } else {
    out.insert(out.end(), std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
    events_.clear();
  }
}

PeerCounters PeerLink::counters(PeerId peer) const {
  const Peer* p = find_peer(peer);
  return p != nullptr ? p->counters : PeerCounters{};
}

size_t PeerLink::unacked_messages(PeerId peer) const {
  const Peer* p = find_peer(peer);
  return p != nullptr ? p->out.size() : 0;
}

int64_t PeerLink::next_deadline_us(int64_t now_us) const {
  int64_t due = INT64_MAX;
  for (const Peer& p : peers_) {
    if (!p.up) {
      due = std::min(due, p.hello_owed ? now_us : p.next_hello_us);
      continue;
    }
    if (p.ack_owed) return now_us;
    if (p.sent_upto + 1 < p.next_seq && p.sent_upto < p.acked + options_.window_segments) return now_us;
    due = std::min({due, p.retransmit_check_us, p.last_sent_us + options_.keepalive_interval_us,
                    p.last_heard_us + options_.peer_timeout_us + 1});
  }
  return due;
}

}  // namespace uk::dpdk
