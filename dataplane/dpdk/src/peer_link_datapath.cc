// PeerLink data path: frame parsing and checks, acks, segment delivery and reassembly, and frame building
// (hello, ack, retransmission, new data). Channel state is in peer_link.cc.
#include <algorithm>
#include <cassert>
#include <climits>
#include <cstring>

#include "ukeeper/dataplane/dpdk/peer_link.h"

namespace uk::dpdk {
namespace {

// Appends one segment (header and bytes) to a frame body holding `used` of `capacity` bytes; false when it does not
// fit.
bool append_segment(uint8_t* body, size_t capacity, size_t& used, uint8_t flags, uint32_t message_bytes,
                    const char* data, uint16_t bytes) {
  if (capacity - used < kSegmentHeaderBytes + bytes) return false;
  write_segment_header(body + used, SegmentHeader{flags, bytes, message_bytes});
  if (bytes > 0) std::memcpy(body + used + kSegmentHeaderBytes, data, bytes);
  used += kSegmentHeaderBytes + bytes;
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Receiving

void PeerLink::receive(const uint8_t* frame, size_t bytes, int64_t now_us, RxChecksum ip_verdict,
                       RxChecksum udp_verdict) {
  UdpFrame f;
  switch (parse_udp_frame(frame, bytes, options_.me, ip_verdict, udp_verdict, f)) {
    case UdpParse::kOk: break;
    case UdpParse::kNotOurs: ++stats_.frames_not_ours; return;
    case UdpParse::kBadLength: ++stats_.frames_bad_length; return;
    case UdpParse::kBadChecksum: ++stats_.frames_bad_checksum; return;
  }
  Peer* p = find_peer(f);
  if (p == nullptr) {
    ++stats_.frames_unknown_peer;
    return;
  }
  LinkHeader h;
  if (!read_link_header(f.payload, f.payload_bytes, h) || h.sender_incarnation == 0 ||
      !segments_well_formed(h, f.payload + kLinkHeaderBytes, f.payload_bytes - kLinkHeaderBytes)) {
    ++stats_.frames_bad_length;
    ++p->counters.dropped;
    return;
  }
  if (h.sender != p->id || h.receiver != options_.my_id) {
    ++stats_.frames_unknown_peer;  // the address says one peer, the header another: a misconfigured table
    ++p->counters.dropped;
    return;
  }
  if (!admit(*p, h, now_us)) return;
  ++stats_.frames_received;
  stats_.frame_bytes_received += bytes;
  if (h.type == FrameType::kHello) {
    p->ack_owed = true;  // it is not up yet: an ACK from our current channel brings it up
    return;
  }
  if (!on_ack(*p, h)) return;
  if (h.type == FrameType::kData) on_segments(*p, h, f.payload + kLinkHeaderBytes);
}

// Every segment header and its bytes inside the frame, lengths that can belong to one message, no bytes left over,
// sequence numbers that do not wrap. Checked before anything in the frame is used.
bool PeerLink::segments_well_formed(const LinkHeader& h, const uint8_t* body, size_t body_bytes) const {
  if (h.type != FrameType::kData) return body_bytes == 0;
  if (h.first_seq == 0 || h.first_seq > UINT64_MAX - h.segment_count) return false;
  size_t at = 0;
  for (uint16_t i = 0; i < h.segment_count; ++i) {
    if (body_bytes - at < kSegmentHeaderBytes) return false;
    SegmentHeader s = read_segment_header(body + at);
    at += kSegmentHeaderBytes;
    if (s.bytes > body_bytes - at || s.bytes > s.message_bytes || s.message_bytes > options_.max_message_bytes) {
      return false;
    }
    if ((s.flags & ~(kSegmentFirst | kSegmentLast)) != 0) return false;
    bool whole = (s.flags & (kSegmentFirst | kSegmentLast)) == (kSegmentFirst | kSegmentLast);
    if (whole && s.bytes != s.message_bytes) return false;
    if (!whole && s.bytes == 0) return false;  // a fragment always carries bytes
    at += s.bytes;
  }
  return at == body_bytes;
}

bool PeerLink::on_ack(Peer& p, const LinkHeader& h) {
  if (h.ack > p.sent_upto) {
    protocol_error(p, "acknowledged data never sent");
    return false;
  }
  if (h.ack > p.acked) {
    p.acked = h.ack;
    p.backoff = 0;
    while (!p.out.empty() && p.out.front().first_seq + p.out.front().segments - 1 <= p.acked) {
      p.out.pop_front();
      assert(p.tx_message > 0);
      --p.tx_message;
    }
  }
  for (uint64_t bits = h.sack_bits; bits != 0; bits &= bits - 1) {
    uint64_t seq = h.ack + 2 + static_cast<uint64_t>(__builtin_ctzll(bits));
    if (seq <= p.acked || seq > p.sent_upto || seq - p.acked > options_.window_segments) continue;
    slot(p, seq).sacked = true;
  }
  return true;
}

void PeerLink::on_segments(Peer& p, const LinkHeader& h, const uint8_t* body) {
  p.ack_owed = true;
  const uint64_t window = options_.window_segments;
  for (uint16_t i = 0; i < h.segment_count; ++i) {
    SegmentHeader s = read_segment_header(body);
    const uint8_t* data = body + kSegmentHeaderBytes;
    body = data + s.bytes;
    const uint64_t seq = h.first_seq + i;
    if (seq < p.rx_next) {
      ++stats_.segments_duplicate;
      continue;
    }
    if (seq - p.rx_next >= window) {
      ++stats_.segments_out_of_window;
      continue;
    }
    if (seq == p.rx_next) {
      ++stats_.segments_received;
      ++p.rx_next;
      if (!accept_segment(p, s.flags, s.message_bytes, data, s.bytes) || !deliver_held(p)) return;
      continue;
    }
    RxSlot& held = p.rx_slots[seq % window];
    if (held.seq == seq) {
      ++stats_.segments_duplicate;
      continue;
    }
    assert(held.seq < p.rx_next);  // whatever was there has been delivered: slots are reused only a window later
    ++stats_.segments_received;
    ++stats_.segments_out_of_order;
    held.seq = seq;
    held.flags = s.flags;
    held.message_bytes = s.message_bytes;
    held.data.assign(reinterpret_cast<const char*>(data), s.bytes);
  }
}

// Delivers the held segments that are now next in order. False when the channel was reset on the way.
bool PeerLink::deliver_held(Peer& p) {
  for (;;) {
    RxSlot& held = p.rx_slots[p.rx_next % options_.window_segments];
    if (held.seq != p.rx_next) return true;
    held.seq = 0;
    ++p.rx_next;
    if (!accept_segment(p, held.flags, held.message_bytes, reinterpret_cast<const uint8_t*>(held.data.data()),
                        static_cast<uint16_t>(held.data.size()))) {
      return false;
    }
  }
}

// The next segment in order: reassembles and delivers. False (after resetting the channel) when the fragments do
// not make up one message.
bool PeerLink::accept_segment(Peer& p, uint8_t flags, uint32_t message_bytes, const uint8_t* data, uint16_t bytes) {
  const bool first = (flags & kSegmentFirst) != 0;
  const bool last = (flags & kSegmentLast) != 0;
  const char* chars = reinterpret_cast<const char*>(data);
  if (first == p.assembling) {
    protocol_error(p, first ? "a new message began inside a fragmented one" : "a fragment with no message begun");
    return false;
  }
  if (first && last) {  // the common case: a whole message in one segment, no reassembly copy
    ++p.counters.messages_received;
    p.counters.bytes_received += bytes;
    events_.push_back(PeerEvent{PeerEvent::Kind::kMessage, p.id, std::string(chars, bytes)});
    return true;
  }
  if (first) {
    p.assembling = true;
    p.assembling_bytes = message_bytes;
    p.message.clear();
    p.message.reserve(message_bytes);  // bounded by max_message_bytes (checked with the frame)
  } else if (message_bytes != p.assembling_bytes) {
    protocol_error(p, "fragments of one message disagree on its length");
    return false;
  }
  if (bytes > p.assembling_bytes - p.message.size() || (last && p.message.size() + bytes != p.assembling_bytes)) {
    protocol_error(p, "fragments do not add up to the message length");
    return false;
  }
  p.message.append(chars, bytes);
  if (!last) return true;
  p.assembling = false;
  ++p.counters.messages_received;
  p.counters.bytes_received += p.message.size();
  events_.push_back(PeerEvent{PeerEvent::Kind::kMessage, p.id, std::move(p.message)});
  p.message = std::string();
  return true;
}

uint64_t PeerLink::sack_bits(const Peer& p) const {
  uint64_t bits = 0;
  const uint64_t window = options_.window_segments;
  for (uint64_t i = 0; i < 64 && i + 1 < window; ++i) {
    uint64_t seq = p.rx_next + 1 + i;
    if (p.rx_slots[seq % window].seq == seq) bits |= uint64_t{1} << i;
  }
  return bits;
}

// ---------------------------------------------------------------------------------------------------------------
// Sending

size_t PeerLink::next_frame(int64_t now_us, uint8_t* out) {
  for (size_t i = 0; i < peers_.size(); ++i) {
    size_t index = (tx_cursor_ + i) % peers_.size();
    size_t n = frame_for(peers_[index], now_us, out);
    if (n > 0) {
      tx_cursor_ = index + 1;
      return n;
    }
  }
  return 0;
}

// What is due for one peer, most urgent first: hello (down), retransmission, new data, a standalone ack.
size_t PeerLink::frame_for(Peer& p, int64_t now_us, uint8_t* out) {
  if (!p.up) return p.hello_owed || now_us >= p.next_hello_us ? hello_frame(p, now_us, out) : 0;
  if (now_us >= p.retransmit_check_us) {
    size_t n = retransmit_frame(p, now_us, out);
    if (n > 0) return n;
  }
  if (p.sent_upto + 1 < p.next_seq && p.sent_upto < p.acked + options_.window_segments) {
    return new_data_frame(p, now_us, out);
  }
  if (p.ack_owed || now_us >= p.last_sent_us + options_.keepalive_interval_us) return ack_frame(p, now_us, out);
  return 0;
}

size_t PeerLink::hello_frame(Peer& p, int64_t now_us, uint8_t* out) {
  p.hello_owed = false;
  p.next_hello_us = now_us + options_.hello_interval_us;
  LinkHeader h;
  h.type = FrameType::kHello;
  ++stats_.hello_frames_sent;
  return finish_frame(p, h, now_us, out, 0);
}

size_t PeerLink::ack_frame(Peer& p, int64_t now_us, uint8_t* out) {
  LinkHeader h;
  h.type = FrameType::kAck;
  ++stats_.ack_frames_sent;
  return finish_frame(p, h, now_us, out, 0);
}

// The first run of consecutive segments whose timers ran out (neither acked nor selectively acked), in one frame.
size_t PeerLink::retransmit_frame(Peer& p, int64_t now_us, uint8_t* out) {
  const int64_t timeout = retransmit_timeout(p);
  uint64_t start = 0;
  int64_t next_check = INT64_MAX;
  for (uint64_t seq = p.acked + 1; seq <= p.sent_upto; ++seq) {
    const InFlight& s = slot(p, seq);
    if (s.sacked) continue;
    if (s.sent_us + timeout <= now_us) {
      start = seq;
      break;
    }
    next_check = std::min(next_check, s.sent_us + timeout);
  }
  if (start == 0) {
    p.retransmit_check_us = next_check;
    return 0;
  }
  // The oldest segment timing out again means the path is lossy or the peer slow: back off (reset by a moving ack).
  if (start == p.acked + 1 && p.backoff < 6) ++p.backoff;
  uint8_t* body = out + kUdpFrameHeaderBytes + kLinkHeaderBytes;
  const size_t capacity = max_link_bytes(options_.mtu_bytes) - kLinkHeaderBytes;
  size_t used = 0;
  uint16_t count = 0;
  for (uint64_t seq = start; seq <= p.sent_upto && count < UINT16_MAX; ++seq) {
    InFlight& s = slot(p, seq);
    if (s.sacked || s.sent_us + timeout > now_us) break;  // the run ends: a frame carries consecutive segments
    if (!append_segment(body, capacity, used, s.flags, s.message_bytes, s.data, s.bytes)) break;
    s.sent_us = now_us;
    ++count;
  }
  assert(count > 0);
  p.retransmit_check_us = now_us;  // there may be more runs: look again on the next call
  stats_.segments_retransmitted += count;
  LinkHeader h;
  h.type = FrameType::kData;
  h.segment_count = count;
  h.first_seq = start;
  ++stats_.data_frames_sent;
  return finish_frame(p, h, now_us, out, used);
}

// Segments not sent before, from sent_upto + 1, as many as fit the frame and the window.
size_t PeerLink::new_data_frame(Peer& p, int64_t now_us, uint8_t* out) {
  uint8_t* body = out + kUdpFrameHeaderBytes + kLinkHeaderBytes;
  const size_t capacity = max_link_bytes(options_.mtu_bytes) - kLinkHeaderBytes;
  const uint64_t start = p.sent_upto + 1;
  size_t used = 0;
  uint16_t count = 0;
  while (p.sent_upto + 1 < p.next_seq && p.sent_upto < p.acked + options_.window_segments && count < UINT16_MAX) {
    const uint64_t seq = p.sent_upto + 1;
    assert(p.tx_message < p.out.size());
    const OutMessage& m = p.out[p.tx_message];
    assert(seq >= m.first_seq && seq < m.first_seq + m.segments);
    const uint64_t k = seq - m.first_seq;
    const size_t offset = k * segment_bytes_;
    const uint16_t bytes = static_cast<uint16_t>(std::min(segment_bytes_, m.bytes.size() - offset));
    uint8_t flags = 0;
    if (k == 0) flags |= kSegmentFirst;
    if (k + 1 == m.segments) flags |= kSegmentLast;
    const uint32_t message_bytes = static_cast<uint32_t>(m.bytes.size());
    if (!append_segment(body, capacity, used, flags, message_bytes, m.bytes.data() + offset, bytes)) break;
    InFlight& s = slot(p, seq);
    s = InFlight{m.bytes.data() + offset, message_bytes, bytes, flags, false, now_us};
    p.sent_upto = seq;
    if (k + 1 == m.segments) ++p.tx_message;
    ++count;
  }
  assert(count > 0);  // an empty frame body always has room for one whole segment
  p.retransmit_check_us = std::min(p.retransmit_check_us, now_us + retransmit_timeout(p));
  stats_.segments_sent += count;
  LinkHeader h;
  h.type = FrameType::kData;
  h.segment_count = count;
  h.first_seq = start;
  ++stats_.data_frames_sent;
  return finish_frame(p, h, now_us, out, used);
}

// Fills in the link header (incarnations, ack) and the UDP/IP/Ethernet headers around a body already in place.
size_t PeerLink::finish_frame(Peer& p, LinkHeader& h, int64_t now_us, uint8_t* out, size_t body_bytes) {
  h.sender = options_.my_id;
  h.receiver = p.id;
  h.sender_incarnation = p.my_incarnation;
  h.receiver_incarnation = p.peer_incarnation;
  if (p.up) {
    h.ack = p.rx_next - 1;
    h.sack_bits = sack_bits(p);
    p.ack_owed = false;
  }
  p.last_sent_us = now_us;
  write_link_header(out + kUdpFrameHeaderBytes, h);
  size_t n = write_udp_headers(out, options_.me, p.endpoint, kLinkHeaderBytes + body_bytes, ip_id_++,
                               options_.checksum_mode);
  ++stats_.frames_sent;
  stats_.frame_bytes_sent += n;
  return n;
}

}  // namespace uk::dpdk
