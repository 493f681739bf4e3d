// MultiTransport: one logical channel per peer, carried by whichever of several transports ("lanes") is best at the
// moment — RDMA or DPDK where both members have it, TCP always — with the contract of transport.h towards
// consensus: reliable, FIFO, at most once while the channel is up; kDisconnected when something may have been lost.
//
// Why a channel of its own. Each lane has its own channels, which come and go independently. Consensus must not
// see a reconnect (and re-synchronise) every time a faster lane comes up, and must see one whenever a message may
// have been lost. So the logical channel is a thing of its own, named by a channel id (cid), and each direction
// of it moves between lanes without loss or reordering:
//
//  - Frames. Every message travels with a 9-byte header: kind u8 and cid u64 (big-endian). kData carries a
//    consensus message; kOpen starts the sender's direction of channel cid on the lane it travels over; kSwitch
//    (one more byte: the next lane's wire code) says "my following frames of cid travel over that lane";
//    kReopen asks the owner for a new channel after the sender lost channel cid.
//  - Ownership. Of two members, the one with the higher id owns their channel: only it makes channel ids (from
//    the wall clock in microseconds at start, then counting up, so a restarted owner's ids are newer). The other
//    adopts a channel when it receives its kOpen, and drops frames of older channels.
//  - Order. A receiver delivers only from the lane its peer's direction is on ("in lane"): that is the lane the
//    peer's kOpen came over, and after a kSwitch the lane it names. Frames of the current channel arriving on
//    another lane are held until the kSwitch that makes their lane current, then delivered in order.
//  - Upgrades are seamless: when a better lane to an open peer has been up for upgrade_after_ms, the sender
//    sends kSwitch on its current lane and continues on the better one. Each direction switches on its own.
//  - Breaks. When a lane's channel drops after it carried any frame of the channel, either way, frames may be
//    lost (a kOpen, or the frames before a kSwitch the peer has not taken yet): the logical channel closes
//    (kDisconnected). The owner opens a new one at once over the best lane still up (kConnected); the other side
//    asks for one (kReopen, repeated every reopen_retry_ms while it waits) and adopts it on its kOpen. Losing a
//    lane the channel never used costs nothing; losing the one it moved away from costs one reopen, after which
//    the new channel lives on the better lane alone. (Found by the simulator with two lanes, seed 10901: a kOpen
//    lost on a lane the owner had already switched away from left the other side waiting for ever.)
//
// Lanes are given best first; each has a one-byte wire code both members agree on (kLaneTcp etc.). Counters:
// counters() are the logical channel's; lane(i).counters() the lane's own.
//
// Waiting: wait_fd() is an epoll fd over the lanes' fds; next_timer_ms() and block_budget_us() are the soonest
// of the lanes' and its own.
//
// Thread-safety: owned by one thread, like every Transport.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ukeeper/dataplane/transport.h"
#include "ukeeper/drivers/socket.h"

namespace uk {

// Wire codes of lanes (kSwitch names the next lane by its code).
inline constexpr uint8_t kLaneTcp = 1;
inline constexpr uint8_t kLaneDpdk = 2;
inline constexpr uint8_t kLaneRdma = 3;

struct MultiTransportOptions {
  PeerId my_id = 0;
  std::vector<PeerId> peers;  // may include my_id (ignored)
  uint64_t first_channel_id = 0;  // 0 = the wall clock in microseconds
  int64_t upgrade_after_ms = 100;  // a better lane must stay up this long before traffic moves onto it
  int64_t reopen_retry_ms = 100;
  size_t max_held_bytes = size_t{256} << 20;  // frames held for a kSwitch; more closes the channel
};

struct MultiTransportPeerStats {
  uint64_t opens = 0;      // logical channels opened (owner) or adopted
  uint64_t breaks = 0;     // logical channels closed because a lane carrying them dropped (or disconnect())
  uint64_t switches = 0;   // our direction moved to another lane
  uint64_t stale = 0;      // frames of older channels dropped
  uint64_t malformed = 0;  // frames with a bad header dropped
  uint64_t held_peak_bytes = 0;
};

class MultiTransport final : public Transport {
 public:
  struct Lane {
    std::unique_ptr<Transport> transport;
    uint8_t code = 0;
  };
  // `lanes`: best first; at least one. Events of each lane also go to `on_lane_event` (connects and disconnects,
  // not messages) before this class acts on them, so an owner can react (e.g. learn a peer's capabilities).
  MultiTransport(MultiTransportOptions options, std::vector<Lane> lanes,
                 std::function<void(size_t lane, const PeerEvent&)> on_lane_event = {});
  ~MultiTransport() override;
  MultiTransport(const MultiTransport&) = delete;
  MultiTransport& operator=(const MultiTransport&) = delete;

  bool send(PeerId peer, std::string_view message) override;
  void poll(int64_t now_ms, std::vector<PeerEvent>& out) override;
  bool connected(PeerId peer) const override;
  void disconnect(PeerId peer) override;
  const char* name() const override { return "multi"; }
  PeerCounters counters(PeerId peer) const override;
  int wait_fd() const override { return epoll_fd_.get(); }
  int64_t next_timer_ms() const override;
  int64_t block_budget_us() override;

  size_t lane_count() const { return lanes_.size(); }
  Transport& lane(size_t i) { return *lanes_[i].transport; }
  const Transport& lane(size_t i) const { return *lanes_[i].transport; }
  // The lane our messages to `peer` travel over, and the one its messages are delivered from; -1 when none.
  int out_lane(PeerId peer) const;
  int in_lane(PeerId peer) const;
  MultiTransportPeerStats peer_stats(PeerId peer) const;

 private:
  enum Kind : uint8_t { kData = 1, kOpen = 2, kSwitch = 3, kReopen = 4 };
  static constexpr size_t kHeaderBytes = 9;
  static constexpr size_t kKeepScratchBytes = size_t{1} << 20;

  struct Held {
    std::string frame;
    uint64_t cid = 0;
  };
  struct Peer {
    uint64_t cid = 0;   // the current channel (0: none yet)
    bool open = false;  // consensus has been told kConnected for cid
    int out = -1;       // lane we send on
    int in = -1;        // lane we deliver from; -1 until the peer's kOpen of cid
    uint32_t used = 0;  // lanes (bits) that carried frames of cid, either way
    std::vector<std::deque<Held>> held;  // per lane
    size_t held_bytes = 0;
    std::vector<int64_t> up_since_ms;  // per lane: when its channel came up; -1 while down
    bool want_reopen = true;           // non-owner: closed, asking the owner for a channel
    int64_t next_reopen_ms = 0;
    PeerCounters counters;
    MultiTransportPeerStats stats;
  };

  bool owns(PeerId peer) const { return options_.my_id > peer; }
  Peer* find(PeerId peer);
  const Peer* find(PeerId peer) const;
  int best_up_lane(const Peer& p) const;
  int lane_of_code(uint8_t code) const;
  bool send_frame(PeerId id, int lane, Kind kind, uint64_t cid, std::string_view payload);
  void emit(PeerEvent::Kind kind, PeerId peer);
  void open_channel(PeerId id, Peer& p);   // owner
  void adopt_channel(PeerId id, Peer& p, uint64_t cid, int lane);  // non-owner
  void break_channel(PeerId id, Peer& p, const char* why);
  void request_reopen(PeerId id, Peer& p);
  void clear_held(Peer& p);
  void on_lane_up(PeerId id, Peer& p, int lane);
  void on_lane_down(PeerId id, Peer& p, int lane);
  void on_frame(PeerId id, Peer& p, int lane, std::string frame);
  // Processes one frame of the current channel arriving on the in lane; returns false if it broke the channel.
  bool deliver(PeerId id, Peer& p, std::string frame);
  void drain_held(PeerId id, Peer& p);
  void hold(Peer& p, int lane, std::string frame, uint64_t cid);
  void run_timers(int64_t now_ms);

  MultiTransportOptions options_;
  std::vector<Lane> lanes_;
  std::function<void(size_t, const PeerEvent&)> on_lane_event_;
  std::map<PeerId, Peer> peers_;
  Fd epoll_fd_;
  uint64_t next_cid_ = 0;
  int64_t now_ms_ = 0;
  std::string scratch_;
  std::vector<PeerEvent> lane_events_;
  std::vector<PeerEvent> events_;  // for the caller, queued by send()/disconnect() or produced in poll()
};

}  // namespace uk
