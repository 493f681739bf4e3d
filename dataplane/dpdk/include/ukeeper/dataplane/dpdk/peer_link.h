// PeerLink: the reliable FIFO channels of the DPDK dataplane, over any medium that carries Ethernet frames and may
// lose, duplicate, reorder or corrupt them. Pure: no DPDK, no clock, no thread. Frames go in through receive() and
// come out of next_frame(); time is the caller's `now_us`. DpdkTransport binds it to a DPDK port; the unit tests
// bind it to a seeded fake link (tests/dpdk).
//
// Channels and incarnations. Each node numbers its channel attempts to each peer with incarnations: a fresh number
// (above every earlier one, also across restarts: first_incarnation comes from the wall clock) whenever a channel to
// that peer is reset. Every frame carries the sender's incarnation and the receiver's as the sender knows it.
//  - A node whose channel is down sends HELLO every hello_interval_us and answers any frame whose receiver
//    incarnation is not its own with a HELLO at once. A frame that names our current incarnation brings the
//    channel up (kConnected); the first frame an up side sends is an ACK, which brings the other side up.
//  - On an up channel, only frames carrying exactly (peer's incarnation, our incarnation) are processed. A frame with
//    an older sender incarnation, or naming an older incarnation of ours, is stale: dropped and counted. A higher
//    sender incarnation means the peer reset its channel: ours resets too (kDisconnected) and a new one is negotiated.
//  - Reset (disconnect(), a peer heard nothing from for peer_timeout_us, a peer's reset, a protocol violation):
//    kDisconnected, and everything in flight both ways is lost, as the Transport contract says. A stale frame can
//    never bring a channel up, since it names an incarnation of ours that is no longer current.
//
// Reliability. Messages become segments (batched several to a frame when small, split when larger than one frame);
// each segment has a sequence number, from 1 in every channel. At most window_segments are unacknowledged; the
// receiver keeps out-of-order segments within that window and delivers in order, drops duplicates and segments
// outside the window (counted), and answers with a cumulative ack plus 64 selective-ack bits. A segment neither
// acked nor selectively acked is sent again retransmit_timeout_us after its last send; while the oldest one keeps
// timing out, the timeout doubles (up to 64 times), and resets when the ack moves. Acks ride on data frames; a
// standalone ACK goes out after data arrived with nothing to piggyback on, and every keepalive_interval_us on an
// idle channel (the peer's liveness signal).
//
// Bad input (frames not for us, bad checksums, impossible lengths, unknown senders, stale incarnations, replays) is
// dropped and counted in PeerLinkStats and never delivered. A checksummed frame from the current channel of a
// known peer that breaks the protocol (an ack for data never sent, fragments that do not add up) resets the channel.
//
// Thread-safety: none; one owner thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ukeeper/dataplane/dpdk/wire.h"
#include "ukeeper/dataplane/transport.h"

namespace uk::dpdk {

struct LinkPeer {
  PeerId id = 0;
  Endpoint endpoint;
};

struct PeerLinkOptions {
  PeerId my_id = 0;
  Endpoint me;
  std::vector<LinkPeer> peers;  // may include my_id (ignored); endpoints must be distinct
  size_t mtu_bytes = 1500;      // IP MTU of the medium, kMinMtuBytes..kMaxMtuBytes
  size_t max_message_bytes = size_t{1} << 30;  // at most 2^32 - 1 (the segment header's u32)
  uint32_t window_segments = 128;              // unacked segments per channel, and the receiver's reorder window
  int64_t retransmit_timeout_us = 5000;
  int64_t hello_interval_us = 20000;       // HELLO cadence while a channel is down
  int64_t keepalive_interval_us = 50000;   // an idle up channel sends an ACK this often
  int64_t peer_timeout_us = 1000000;       // silence after which a channel is declared lost (> keepalive interval)
  uint64_t first_incarnation = 1;          // above any incarnation an earlier run of this node used (see above)
  ChecksumMode checksum_mode = ChecksumMode::kSoftware;
};

// Link-wide numbers (per-peer message numbers are in PeerCounters).
struct PeerLinkStats {
  uint64_t frames_sent = 0;
  uint64_t frame_bytes_sent = 0;
  uint64_t frames_received = 0;  // accepted: from a known peer, checksums and structure fine
  uint64_t frame_bytes_received = 0;
  uint64_t hello_frames_sent = 0;
  uint64_t data_frames_sent = 0;
  uint64_t ack_frames_sent = 0;
  uint64_t segments_sent = 0;           // first transmissions
  uint64_t segments_retransmitted = 0;
  uint64_t segments_received = 0;       // new, in-window segments
  uint64_t segments_out_of_order = 0;   // of those, kept for later in-order delivery
  uint64_t segments_duplicate = 0;      // already delivered or already held (replays and retransmissions)
  uint64_t segments_out_of_window = 0;  // beyond the receive window: dropped
  uint64_t frames_not_ours = 0;         // other traffic on the port (ARP, IPv6, other addresses or ports)
  uint64_t frames_bad_checksum = 0;
  uint64_t frames_bad_length = 0;       // truncated, contradicting lengths, malformed link header or segments
  uint64_t frames_unknown_peer = 0;     // source not in the peer table, or ids that do not match it
  uint64_t frames_stale = 0;            // from an older channel incarnation
  uint64_t protocol_errors = 0;         // channel resets caused by a peer breaking the protocol
  uint64_t peer_timeouts = 0;
  uint64_t messages_lost = 0;           // queued or in flight to a peer when its channel reset
};

class PeerLink {
 public:
  // Validates the options. On failure returns null and sets `error`.
  static std::unique_ptr<PeerLink> create(PeerLinkOptions options, std::string& error);
  PeerLink(const PeerLink&) = delete;
  PeerLink& operator=(const PeerLink&) = delete;

  // ---- upper side (the Transport contract) ----
  // Queues a copy of `message`; false (counted as dropped) when no channel is up or it exceeds max_message_bytes.
  bool send(PeerId peer, std::string_view message);
  bool connected(PeerId peer) const;
  void disconnect(PeerId peer);  // kDisconnected now; a new channel is negotiated at once
  // Appends the events since the last call, in order per peer.
  void take_events(std::vector<PeerEvent>& out);
  PeerCounters counters(PeerId peer) const;
  // Messages to `peer` not yet acknowledged by it (queued or in flight): 0 once everything sent has arrived.
  size_t unacked_messages(PeerId peer) const;
  const PeerLinkStats& stats() const { return stats_; }
  size_t max_frame_bytes() const { return dpdk::max_frame_bytes(options_.mtu_bytes); }

  // ---- lower side ----
  // One received frame (any traffic the port saw). The verdicts come from a port's checksum offload, if any.
  void receive(const uint8_t* frame, size_t bytes, int64_t now_us, RxChecksum ip_verdict = RxChecksum::kUnknown,
               RxChecksum udp_verdict = RxChecksum::kUnknown);
  // Peer timeouts; call once per poll, before draining next_frame().
  void tick(int64_t now_us);
  // Writes the next frame due at `now_us` into `out` (room for max_frame_bytes()) and returns its length, or 0
  // when nothing is due. Call until it returns 0 (every call makes progress, so that terminates). Peers take
  // turns, one frame each.
  size_t next_frame(int64_t now_us, uint8_t* out);
  // The earliest time at which tick() or next_frame() has timed work (retransmit, hello, keepalive, timeout); at or
  // before now when something is due at once; INT64_MAX when nothing is timed.
  int64_t next_deadline_us(int64_t now_us) const;

 private:
  struct OutMessage {
    std::string bytes;
    uint64_t first_seq = 0;
    uint64_t segments = 0;
  };
  struct InFlight {  // a sent, not yet acknowledged segment; data points into an OutMessage kept until acked
    const char* data = nullptr;
    uint32_t message_bytes = 0;
    uint16_t bytes = 0;
    uint8_t flags = 0;
    bool sacked = false;
    int64_t sent_us = 0;
  };
  struct RxSlot {  // an out-of-order segment held for in-order delivery
    uint64_t seq = 0;  // 0 = empty
    uint8_t flags = 0;
    uint32_t message_bytes = 0;
    std::string data;
  };
  struct Peer {
    PeerId id = 0;
    Endpoint endpoint;
    bool up = false;
    uint64_t my_incarnation = 0;
    uint64_t peer_incarnation = 0;  // the newest heard from the peer (0 = none); older ones are stale
    int64_t last_heard_us = 0;
    int64_t last_sent_us = 0;
    int64_t next_hello_us = 0;
    bool hello_owed = false;
    bool ack_owed = false;
    // Send side. Sequence numbers are assigned as messages are queued; [acked+1, sent_upto] are in flight.
    std::deque<OutMessage> out;  // references stay valid across push_back/pop_front (InFlight::data relies on it)
    uint64_t next_seq = 1;
    uint64_t acked = 0;
    uint64_t sent_upto = 0;
    size_t tx_message = 0;  // index in `out` of the message holding segment sent_upto + 1
    std::vector<InFlight> inflight;  // window_segments slots, by seq % window
    int64_t retransmit_check_us = INT64_MAX;
    int backoff = 0;
    // Receive side.
    uint64_t rx_next = 1;
    std::vector<RxSlot> rx_slots;  // window_segments slots, by seq % window
    bool assembling = false;
    uint32_t assembling_bytes = 0;
    std::string message;  // the fragmented message being reassembled
    PeerCounters counters;
  };

  explicit PeerLink(PeerLinkOptions options);

  // Channel state (peer_link.cc).
  Peer* find_peer(PeerId id);
  const Peer* find_peer(PeerId id) const;
  Peer* find_peer(const UdpFrame& frame);
  void bring_up(Peer& p, int64_t now_us);
  void reset(Peer& p, const char* reason);
  void protocol_error(Peer& p, const char* what);
  // Applies the incarnation rules to an accepted frame; true when its contents belong to the current channel.
  bool admit(Peer& p, const LinkHeader& h, int64_t now_us);

  // Data path (peer_link_datapath.cc).
  bool segments_well_formed(const LinkHeader& h, const uint8_t* body, size_t body_bytes) const;
  bool on_ack(Peer& p, const LinkHeader& h);
  void on_segments(Peer& p, const LinkHeader& h, const uint8_t* body);
  bool accept_segment(Peer& p, uint8_t flags, uint32_t message_bytes, const uint8_t* data, uint16_t bytes);
  bool deliver_held(Peer& p);
  uint64_t sack_bits(const Peer& p) const;
  size_t frame_for(Peer& p, int64_t now_us, uint8_t* out);
  size_t hello_frame(Peer& p, int64_t now_us, uint8_t* out);
  size_t ack_frame(Peer& p, int64_t now_us, uint8_t* out);
  size_t retransmit_frame(Peer& p, int64_t now_us, uint8_t* out);
  size_t new_data_frame(Peer& p, int64_t now_us, uint8_t* out);
  size_t finish_frame(Peer& p, LinkHeader& h, int64_t now_us, uint8_t* out, size_t body_bytes);
  InFlight& slot(Peer& p, uint64_t seq) { return p.inflight[seq % options_.window_segments]; }
  int64_t retransmit_timeout(const Peer& p) const { return options_.retransmit_timeout_us << p.backoff; }

  PeerLinkOptions options_;
  size_t segment_bytes_ = 0;  // largest segment payload in one frame
  std::vector<Peer> peers_;
  size_t tx_cursor_ = 0;      // the peer next_frame() looks at first
  uint64_t next_incarnation_ = 1;
  uint16_t ip_id_ = 0;
  std::vector<PeerEvent> events_;
  PeerLinkStats stats_;
};

}  // namespace uk::dpdk
