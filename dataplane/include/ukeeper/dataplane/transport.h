// The peer-messaging contract of the ensemble (architecture.md, "Dataplane contract"). Consensus sees one channel per
// peer: reliable, FIFO, complete messages, at most once, for as long as the channel stays up; a channel that breaks
// loses what was in flight and says so with a kDisconnected event, and a later kConnected starts a fresh channel.
// Implementations: tcp/ (TcpTransport), rdma/ (RdmaTransport), dpdk/ (DpdkTransport), the simulator's in-process
// network (tests/sim), and MultiTransport (multi_transport.h), which carries one such channel per peer over whichever
// of several transports is best at the moment.
//
// Thread-safety: a transport is owned by one thread (the one driving consensus); nothing here is thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace uk {

using PeerId = int64_t;  // the N of zoo.cfg's server.N

struct PeerEvent {
  enum class Kind { kConnected, kDisconnected, kMessage };
  Kind kind = Kind::kMessage;
  PeerId peer = 0;
  std::string message;  // kMessage only
};

// Counters every transport keeps per peer, for mntr/srvr.
struct PeerCounters {
  uint64_t messages_sent = 0;
  uint64_t messages_received = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t connects = 0;     // channels established
  uint64_t disconnects = 0;  // channels lost
  uint64_t dropped = 0;      // messages refused because no channel was up, or rejected as malformed
};

// The virtual call is per message batch, not per packet: consensus hands over whole messages and takes events in
// batches, so the indirection stays off the per-byte path (transports batch below this line).
class Transport {
 public:
  virtual ~Transport() = default;
  // Queues `message` for `peer`. Returns false (and drops it) when no channel to the peer is up. Messages queued
  // while the channel stays up arrive in order; they may leave before the next poll() (implementations flush there
  // at the latest).
  virtual bool send(PeerId peer, std::string_view message) = 0;
  // Does pending I/O (connects, reads, writes, reconnects) without blocking and appends what happened since the
  // last call to `out`, in order per peer. `now_ms` is a monotonic clock reading (used for reconnect back-off).
  virtual void poll(int64_t now_ms, std::vector<PeerEvent>& out) = 0;
  // True while a channel to `peer` is up.
  virtual bool connected(PeerId peer) const = 0;
  // Breaks the channel to `peer` (a protocol error from it, say); a kDisconnected event follows; it reconnects later.
  virtual void disconnect(PeerId peer) = 0;
  // A short name for logs and 4lw ("tcp", "rdma", "dpdk", "sim").
  virtual const char* name() const = 0;
  virtual PeerCounters counters(PeerId peer) const = 0;

  // Waiting. The owning loop alternates poll() with blocking; these tell it how. A transport with nothing to say
  // keeps the defaults (no fd, no timer, may block without limit).
  //
  // Readable when poll() has work; -1 when the transport has no fd and must be polled (see block_budget_us).
  virtual int wait_fd() const { return -1; }
  // Monotonic milliseconds (std::chrono::steady_clock) by which poll() must run again; -1 when nothing is timed.
  virtual int64_t next_timer_ms() const { return -1; }
  // Called right before the loop blocks: microseconds it may block before the next poll(). 0 = poll again at once
  // (work is queued, or the transport is in its spin window); -1 = until wait_fd() is readable or next_timer_ms().
  // May arm notifications (RDMA completion events), so call it last; a loop that then does not block loses nothing.
  virtual int64_t block_budget_us() { return -1; }
};

// Transports a member can offer a peer, as bits (the TCP hello carries them, so that a faster transport is tried
// only towards peers that have it).
inline constexpr uint32_t kCapabilityTcp = 1u << 0;
inline constexpr uint32_t kCapabilityRdma = 1u << 1;
inline constexpr uint32_t kCapabilityDpdk = 1u << 2;

}  // namespace uk
