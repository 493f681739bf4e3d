// TcpTransport: the peer transport over plain TCP, for commodity NICs and laptops, and the control connection the
// faster transports negotiate over (architecture.md, "Dataplane contract").
//
// One channel per peer pair. The node with the higher id dials the lower one; the lower one only accepts. With a
// single direction there is never a pair of crossed connections to reconcile, so "one channel" holds by
// construction. A new valid connection from a peer that already has a channel replaces the old one (the peer
// restarted and we have not noticed yet): kDisconnected for the old channel, then kConnected.
//
// Hello. The dialer opens with 26 bytes, all big-endian: magic "UKPR", version u16 (=1), capabilities u32 (the
// kCapability* bits of transport.h: tcp always, and the faster transports this member offers), sender id i64,
// cluster token u64. The acceptor checks magic,
// version, token (a hash of the server list: two configs that disagree must not form a quorum), that the id is
// a known peer, not itself, and higher than its own (the dial rule), then answers with its own hello. A refusal is
// one warning naming the remote address and the reason, and a close. kConnected is emitted on each side once its
// half of the handshake has checked out; a handshake that does not finish within handshake_timeout_ms is dropped.
//
// Framing. Each message is a u32 big-endian length and the payload. A length above max_message_bytes is a protocol
// error: the channel closes (kDisconnected) and `dropped` counts it; bytes from the network never crash anything.
//
// Sending. Each channel has one contiguous output buffer. The first message to a peer in a turn (between two
// poll() calls) goes out at once from the caller's memory (no copy when the kernel takes it all): a lone proposal
// pays no extra latency. Later messages of the same turn are appended and leave together, in one send(2), at the
// next poll() — next_timer_ms() reports that as due at once. What the kernel does not take waits for EPOLLOUT.
// Buffers consume from an offset and compact only when that moves fewer bytes than it frees, so a snapshot of
// hundreds of MiB costs one copy and never blocks the loop. Reads take large chunks and deliver every complete
// frame.
//
// Reconnects. Only the dialer reconnects: after a failed dial or a lost channel it waits reconnect_initial_ms,
// doubling up to reconnect_max_ms while dials keep failing; a completed handshake resets the wait.
//
// Fault hook (tests with real processes). When fault_file is set, poll() re-reads it at most every 20 ms. It holds
// whitespace-separated peer ids cut from this node: their channels close and they are neither dialed nor accepted
// while listed. One log line when a cut starts and one when it ends; a missing file cuts nothing.
//
// Thread-safety: owned by one thread (the consensus thread), like every Transport. Nothing here is thread-safe;
// wait_fd() is the only thing another loop may watch, and only from the owning thread.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ukeeper/dataplane/redial.h"
#include "ukeeper/dataplane/transport.h"
#include "ukeeper/drivers/socket.h"

namespace uk {

struct TcpTransportOptions {
  PeerId my_id = 0;
  std::string listen_address = "0.0.0.0";  // an IP literal
  int listen_port = 0;                       // 0 = ephemeral; listen_port() tells which
  // id -> (host, port). May include my_id (ignored). A port of 0 means "not known yet": the peer is accepted from
  // but not dialed until set_peer_address() gives its port.
  std::map<PeerId, std::pair<std::string, int>> peers;
  uint64_t cluster_token = 0;  // both ends must agree (e.g. a hash of the server list); a mismatch is refused
  size_t max_message_bytes = size_t{1} << 30;  // at most 2^32 - 1 (the length prefix is a u32)
  int reconnect_initial_ms = 10;
  int reconnect_max_ms = 1000;
  int handshake_timeout_ms = 5000;  // connect + hello; also bounds a silent raw connection to the listener
  std::string fault_file;           // empty = no fault hook
  uint32_t capabilities = kCapabilityTcp;  // advertised in the hello (tcp is always added)
};

// Transport-wide numbers for logs and tests (per-peer numbers are in PeerCounters).
struct TcpTransportStats {
  uint64_t connections_accepted = 0;  // raw accepts, before any hello
  uint64_t handshakes_rejected = 0;   // incoming hellos refused (or never completed) on this node
  uint64_t dials_started = 0;
  uint64_t dials_failed = 0;          // refused, timed out, or the other side closed before its hello
  uint64_t write_calls = 0;           // send/sendmsg system calls on channels (batching shows here)
  uint64_t read_calls = 0;
};

class TcpTransport final : public Transport {
 public:
  static constexpr uint32_t kProtocolVersion = 1;
  static constexpr size_t kHelloBytes = 26;

  // Validates the options and binds the listener. On failure returns null and sets `error` (for a bind failure it
  // names address:port and the errno text). No connection is attempted before the first poll().
  static std::unique_ptr<TcpTransport> open(TcpTransportOptions options, std::string& error);
  ~TcpTransport() override;
  TcpTransport(const TcpTransport&) = delete;
  TcpTransport& operator=(const TcpTransport&) = delete;

  // Transport.
  bool send(PeerId peer, std::string_view message) override;
  void poll(int64_t now_ms, std::vector<PeerEvent>& out) override;
  bool connected(PeerId peer) const override;
  void disconnect(PeerId peer) override;
  const char* name() const override { return "tcp"; }
  PeerCounters counters(PeerId peer) const override;

  // Adds a peer or changes its address (port 0 = not dialed). Lets a test bind every node on port 0 first and
  // hand out the ports afterwards. An established channel is kept; a new address is used from the next dial.
  void set_peer_address(PeerId peer, std::string host, int port);
  // The bound listening port (the ephemeral one when options.listen_port was 0).
  int listen_port() const { return listen_port_; }
  // Readable when poll() has socket work; nest it in another epoll loop (an epoll fd is itself pollable).
  int wait_fd() const override;
  // The time, on poll()'s now_ms clock, by which poll() must run again even if wait_fd() stays quiet (reconnect
  // back-off, handshake deadlines, the fault-file re-read, messages waiting for the turn's batch, events queued
  // by send() or disconnect()); at or before the last now_ms means at once. -1 when nothing is timed.
  int64_t next_timer_ms() const override;
  const TcpTransportStats& stats() const { return stats_; }
  // The capability bits of the peer's hello on its current (or last) channel; 0 before the first.
  uint32_t peer_capabilities(PeerId peer) const;

 private:
  // A FIFO of bytes that consumes from an offset and compacts only when that moves fewer bytes than it frees.
  class ByteQueue {
   public:
    size_t size() const { return tail_ - head_; }
    bool empty() const { return head_ == tail_; }
    const char* data() const { return buf_.get() + head_; }
    void consume(size_t n);
    // Makes at least `n` bytes writable at the tail and returns where they start; writable() may be more.
    char* prepare(size_t n);
    size_t writable() const { return capacity_ - tail_; }
    void commit(size_t n) { tail_ += n; }
    void append(const void* bytes, size_t n);
    // Gives back a buffer a big message grew, once it is empty, so an idle channel does not hold hundreds of MiB.
    void release_if_big_and_empty();

   private:
    std::unique_ptr<char[]> buf_;
    size_t capacity_ = 0;
    size_t head_ = 0;
    size_t tail_ = 0;
  };

  enum class ConnState {
    kConnecting,  // dialer: non-blocking connect in flight
    kAwaitReply,  // dialer: hello sent, waiting for the acceptor's
    kAwaitHello,  // acceptor: waiting for the dialer's hello
    kUp,          // handshake done: this is the peer's channel
  };

  struct Conn {
    Fd fd;
    uint64_t tag = 0;  // epoll tag and key in conns_; never reused, so a stale epoll event finds nothing
    ConnState state = ConnState::kAwaitHello;
    PeerId peer = -1;  // known from the start when dialing, from the hello when accepting
    std::string remote;  // "ip:port" for logs
    ByteQueue in;
    ByteQueue out;
    uint32_t interest = 0;          // the epoll events currently registered
    bool deferred = false;          // in dirty_: output waits for the next poll()
    uint64_t immediate_turn = ~uint64_t{0};  // the turn in which this channel last sent at once
    int64_t deadline_ms = 0;        // handshake deadline (not kUp)
    uint32_t peer_capabilities = 0;  // from the peer's hello
  };

  struct Peer {
    std::string host;
    int port = 0;
    uint64_t channel = 0;  // tag of the kUp conn, 0 when none
    uint64_t dialing = 0;  // tag of the dial in progress, 0 when none
    Redial redial;
    bool cut = false;
    uint32_t capabilities = 0;  // from the hello of the last channel
    PeerCounters counters;
  };

  TcpTransport(TcpTransportOptions options, Fd listener, int listen_port);

  // Setup (tcp_transport.cc).
  bool dials(PeerId peer) const { return options_.my_id > peer; }
  bool should_dial(const Peer& p, PeerId id) const;
  Conn* add_conn(Fd fd, std::string remote, ConnState state, PeerId peer, uint32_t interest);
  void drop_conn(Conn& c);
  void set_interest(Conn& c, uint32_t events);
  Conn* find_conn(uint64_t tag);
  Peer* find_peer(PeerId id);
  const Peer* find_peer(PeerId id) const;
  void accept_pending();
  size_t handshakes_in_progress() const;
  void start_due_dials();
  void start_dial(PeerId id, Peer& p);
  void note_dial_failure(PeerId id, Peer& p, const std::string& remote, const std::string& reason);
  void finish_connect(Conn& c);
  bool send_hello(Conn& c);
  bool on_hello(Conn& c);
  bool accept_hello(Conn& c, PeerId id);
  bool finish_dial(Conn& c, PeerId id);
  void establish(Conn& c, Peer& p);
  void refuse(Conn& c, const std::string& reason, bool loudly);
  void close_conn(Conn& c, const std::string& reason);
  void expire_handshakes();
  void schedule_redial(Peer& p);
  void reread_fault_file_if_due();
  void apply_cuts(const std::vector<PeerId>& cut_ids);

  // Data path (tcp_transport_datapath.cc).
  void handle_ready_sockets();
  void on_ready(Conn& c, uint32_t events);
  bool send_now(Conn& c, std::string_view header, std::string_view payload);
  bool flush(Conn& c);
  void flush_deferred();
  bool read_ready(Conn& c);
  bool parse_input(Conn& c);
  bool deliver_frames(Conn& c);

  TcpTransportOptions options_;
  Fd listener_;
  int listen_port_ = 0;
  // A bare epoll fd rather than drivers' Epoll: wait_fd() must hand the fd out, and Epoll keeps it private.
  Fd epoll_fd_;
  std::map<PeerId, Peer> peers_;
  std::unordered_map<uint64_t, Conn> conns_;
  uint64_t next_tag_ = 1;  // 0 is the listener
  std::vector<uint64_t> dirty_;  // channels with output deferred to the next poll()
  std::vector<PeerEvent> events_;  // what poll() hands out next
  int64_t now_ms_ = 0;
  uint64_t turn_ = 0;
  int64_t next_fault_read_ms_ = INT64_MIN;
  TcpTransportStats stats_;
};

}  // namespace uk
