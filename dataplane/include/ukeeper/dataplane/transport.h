// The peer-messaging contract of the ensemble (architecture.md, "Dataplane contract"). Consensus sees one channel per
// peer: reliable, FIFO, complete messages, at most once, for as long as the channel stays up; a channel that breaks
// loses what was in flight and says so with a kDisconnected event, and a later kConnected starts a fresh channel.
// Implementations: tcp/ (TcpTransport), and the simulator's in-process network (tests/sim). RDMA and DPDK follow.
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
};

}  // namespace uk
