// RdmaTransport: the peer transport over RDMA reliable-connection queue pairs (architecture.md, "Dataplane
// contract"), on rdma-core verbs (drivers/verbs). Same contract as TcpTransport: one reliable FIFO channel per
// peer, kConnected / kDisconnected events, messages lost only with a channel.
//
// Data. Each node registers, per peer, a receive ring that only that peer writes into, and a staging ring of the
// same size from which it writes into the peer's ring (format, batching and credit in ring.h). send() copies the
// message into staging as records — the only copy on the send path; no allocation while the peer keeps up —
// and the records are written with one-sided RDMA WRITE WITH IMMEDIATE, inline when the batch fits the QP's
// inline size. The receiver learns of the bytes from the immediate (its receive completion), so it can block on
// a completion channel instead of polling ring memory; it returns credit with a zero-length RDMA WRITE WITH
// IMMEDIATE. When credit runs out, further messages wait in a per-peer backlog (the only allocation, and only
// while the receiver is behind) and leave as credit returns.
//
// Batching. As in TcpTransport, the first message to a peer in a turn (between two poll() calls) is posted at
// once; later ones of the same turn leave together, as one write, at the next poll().
//
// Bootstrap. A TCP control connection per channel; the node with the higher id dials (as in TcpTransport). Both
// sides create a completion queue and an RC queue pair per channel (INIT, receives posted) and exchange a
// 72-byte hello, big-endian: magic "UKRD", version u16 (=1), flags u16 (0), sender id i64, cluster token u64,
// QPN u32, first PSN u32, GID (16 bytes), LID u16, active MTU u8 (ibv_mtu), reserved u8, ring bytes u32, ring
// address u64, ring rkey u32, reserved u32. The acceptor checks the dialer's hello (magic, version, token, known
// id, dial rule, ring size equal to its own), brings its QP to RTR and RTS, answers with its hello; the dialer
// checks the answer, brings its QP up and sends one byte 'R'; the acceptor emits kConnected on that byte, the
// dialer after sending it — so no side writes before the other side's QP can receive. The remote ring address
// and rkey are used only for writes inside [address, address + ring bytes).
//
// Failure. The control connection stays open while the channel is up: EOF or any byte on it, an error
// completion, a malformed ring record (logged with the reason) or disconnect() close the channel — QP, CQ and
// socket — with kDisconnected; the dialer redials with back-off (reconnect_initial_ms doubling to
// reconnect_max_ms). A new valid hello from a peer that has a channel replaces the old one (it restarted).
//
// Polling. poll() never blocks. wait() spins on the completion queues for spin_us and then blocks on the
// completion channel and the control sockets (wait_fd()), so an idle laptop does not burn a core while a
// bare-metal node can spin (spin_us < 0: never block).
//
// Thread-safety: owned by one thread (the consensus thread), like every Transport.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ukeeper/dataplane/rdma/ring.h"
#include "ukeeper/dataplane/redial.h"
#include "ukeeper/dataplane/transport.h"
#include "ukeeper/drivers/socket.h"
#include "ukeeper/drivers/verbs.h"

namespace uk {

struct RdmaTransportOptions {
  PeerId my_id = 0;
  std::string listen_address = "0.0.0.0";  // control connections; an IP literal
  int listen_port = 0;                       // 0 = ephemeral; listen_port() tells which
  // id -> (host, port) of the peer's control listener; may include my_id (ignored); port 0 = not dialed yet.
  std::map<PeerId, std::pair<std::string, int>> peers;
  uint64_t cluster_token = 0;
  verbs::DeviceOptions device;
  // Per peer and direction; both ends must agree. Memory: 2 * ring_bytes per peer, registered at open().
  uint32_t ring_bytes = 1u << 20;
  size_t max_message_bytes = size_t{1} << 30;  // at most 2^32 - 1
  uint32_t max_inline_bytes = 256;             // asked of each QP; the device may grant less
  // Send work requests per QP: a flush is at most two writes plus a credit return; signalling one in every
  // send_queue_depth / 4 keeps the queue from filling while completions stay rare.
  uint32_t send_queue_depth = 128;
  // Receives per QP: one per data write or credit return in flight towards us; reposted at every poll. A peer
  // that outruns them waits (RNR retry without limit) rather than failing.
  uint32_t recv_queue_depth = 256;
  int spin_us = 50;  // wait(): spin this long before blocking; < 0 spins without end (bare metal, pinned)
  verbs::RcTimers timers;
  int reconnect_initial_ms = 10;
  int reconnect_max_ms = 1000;
  int handshake_timeout_ms = 5000;
};

// Per-peer RDMA counters beside PeerCounters (mntr/srvr will show them).
struct RdmaPeerStats {
  uint64_t writes_posted = 0;      // RDMA WRITE work requests carrying ring bytes
  uint64_t inline_writes = 0;      // ... of which inline
  uint64_t write_bytes = 0;        // ring bytes written (headers, payload, alignment, pads)
  uint64_t flushes = 0;            // batches (one immediate each)
  uint64_t credit_writes = 0;      // credit returns posted to the peer
  uint64_t send_completions = 0;   // signalled send completions polled
  uint64_t recv_completions = 0;   // immediates received (data and credit)
  uint64_t credits_received = 0;
  uint64_t ring_wraps = 0;         // pad records written (our writes reached the ring end)
  uint64_t fragments = 0;          // records carrying part of a message larger than a record
  uint64_t credit_stalls = 0;      // messages that found the peer's ring full and waited in the backlog
  uint64_t backlog_peak_bytes = 0;
  uint64_t send_queue_full = 0;    // flushes deferred because the send queue was full
};

struct RdmaTransportStats {
  uint64_t dials_started = 0;
  uint64_t dials_failed = 0;
  uint64_t handshakes_completed = 0;
  uint64_t handshakes_rejected = 0;  // refused or abandoned on this node
  uint64_t error_completions = 0;
  uint64_t cq_polls = 0;
  uint64_t completions = 0;
  uint64_t waits = 0;        // wait() calls
  uint64_t spin_hits = 0;    // ... that found work while spinning
  uint64_t blocks = 0;       // ... that blocked on the completion channel / sockets
  uint64_t cq_events = 0;    // completion-channel events taken
};

class RdmaTransport final : public Transport {
 public:
  static constexpr uint32_t kProtocolVersion = 1;
  static constexpr size_t kHelloBytes = 72;

  // Opens the device (verbs::Device::open: "no RDMA device found" when there is none), registers every peer's
  // rings and binds the control listener. Returns null and sets `error` on failure.
  static std::unique_ptr<RdmaTransport> open(RdmaTransportOptions options, std::string& error);
  ~RdmaTransport() override;
  RdmaTransport(const RdmaTransport&) = delete;
  RdmaTransport& operator=(const RdmaTransport&) = delete;

  // Transport.
  bool send(PeerId peer, std::string_view message) override;
  void poll(int64_t now_ms, std::vector<PeerEvent>& out) override;
  bool connected(PeerId peer) const override;
  void disconnect(PeerId peer) override;
  const char* name() const override { return "rdma"; }
  PeerCounters counters(PeerId peer) const override;

  // Adds a peer or changes its control address (port 0 = not dialed). A new peer's rings are registered here.
  // Returns false (and logs) when registration fails.
  bool set_peer_address(PeerId peer, std::string host, int port);
  int listen_port() const { return listen_port_; }
  // Spins up to spin_us for completions or control-socket activity, then blocks up to timeout_ms on wait_fd().
  // Returns at once when poll() has work queued. Call poll() afterwards.
  void wait(int timeout_ms);
  // Readable when poll() has work: control sockets and the completion channel. Before blocking on it in another
  // loop, call arm_for_wait(); when that returns false there is work already and blocking would miss it.
  int wait_fd() const override;
  bool arm_for_wait();
  // For a loop that polls several transports: 0 while completions came within spin_us (or spin_us < 0) or work
  // is queued; otherwise arms the completion channel and returns -1 (block on wait_fd()).
  int64_t block_budget_us() override;
  // As TcpTransport::next_timer_ms: when poll() must run again even if wait_fd() stays quiet; -1 when never.
  int64_t next_timer_ms() const override;

  const RdmaTransportStats& stats() const { return stats_; }
  RdmaPeerStats peer_stats(PeerId peer) const;
  const verbs::PortInfo& port() const { return device_->port(); }

 private:
  enum class ChanState {
    kConnecting,  // dialer: TCP connect in flight (QP in INIT)
    kAwaitReply,  // dialer: hello sent, waiting for the acceptor's
    kAwaitHello,  // acceptor: waiting for the dialer's hello (no QP yet)
    kAwaitReady,  // acceptor: answered; QP in RTS; waiting for 'R'
    kUp,
  };

  // One control connection and, once the peer is known, its queue pair.
  struct Channel {
    uint64_t tag = 0;  // epoll tag and key in chans_; never reused
    Fd fd;
    ChanState state = ChanState::kAwaitHello;
    PeerId peer = -1;
    std::string remote;  // "ip:port" for logs
    int64_t deadline_ms = 0;
    char in[kHelloBytes] = {};
    size_t in_bytes = 0;
    std::string out;  // control bytes not yet taken by the kernel (a hello at most)
    // Verbs objects: the QP before the CQ it uses (destruction runs bottom-up).
    verbs::CompletionQueue cq;
    verbs::QueuePair qp;
    uint32_t local_psn = 0;
    uint64_t remote_ring_addr = 0;
    uint32_t remote_rkey = 0;
    // Send queue accounting: work request ids count up; a signalled completion of id i retires all up to i.
    uint64_t wr_posted = 0;
    uint64_t wr_retired = 0;
    uint64_t last_signalled = 0;
    uint32_t recv_to_repost = 0;
    uint64_t immediate_turn = ~uint64_t{0};  // the turn in which a send() last posted at once
  };

  // Everything per peer that outlives channels: addresses, rings (registered once), counters.
  struct Peer {
    std::string host;
    int port = 0;
    uint64_t channel = 0;  // tag of the channel owning the rings (kAwaitReady, kUp, or a dial), 0 when none
    Redial redial;
    std::unique_ptr<char[]> inbox_mem;    // ring_bytes: the peer writes here
    std::unique_ptr<char[]> staging_mem;  // ring_bytes: we write from here
    verbs::MemoryRegion inbox_mr;
    verbs::MemoryRegion staging_mr;
    std::unique_ptr<rdma::RingWriter> writer;
    std::unique_ptr<rdma::RingReader> reader;
    std::deque<std::string> backlog;  // messages (tails of messages) waiting for credit
    size_t backlog_offset = 0;        // bytes of backlog.front()'s message already in the ring
    size_t backlog_bytes = 0;
    PeerCounters counters;
    RdmaPeerStats stats;
  };

  RdmaTransport(RdmaTransportOptions options, std::unique_ptr<verbs::Device> device, Fd listener, int port);

  // Setup (rdma_transport.cc).
  bool dials(PeerId peer) const { return options_.my_id > peer; }
  bool should_dial(const Peer& p, PeerId id) const;
  Peer* find_peer(PeerId id);
  const Peer* find_peer(PeerId id) const;
  Channel* find_chan(uint64_t tag);
  Channel* add_chan(Fd fd, std::string remote, ChanState state, PeerId peer, uint32_t interest);
  void set_interest(Channel& c, uint32_t events);
  void accept_pending();
  void start_due_dials();
  void start_dial(PeerId id, Peer& p);
  void note_dial_failure(PeerId id, Peer& p, const std::string& remote, const std::string& reason);
  bool create_qp(Channel& c, Peer& p, std::string& error);
  bool connect_qp(Channel& c, const char* hello, std::string& error);
  void encode_hello(const Channel& c, const Peer& p, char* out) const;
  std::string check_hello(const char* hello, PeerId& id) const;
  void on_control(Channel& c, uint32_t events);
  bool flush_control(Channel& c);
  void finish_connect(Channel& c);
  void on_hello(Channel& c);
  void accept_hello(Channel& c, PeerId id);
  void finish_dial(Channel& c, PeerId id);
  void establish(Channel& c, Peer& p);
  void close_chan(Channel& c, const std::string& reason);
  void expire_handshakes();
  void schedule_redial(Peer& p);

  // Data path (rdma_transport_datapath.cc).
  void handle_ready_fds();
  void take_cq_events();
  int poll_completions();
  bool on_completion(Channel& c, const ibv_wc& wc);
  void deliver(Channel& c, Peer& p);
  void drain_backlog(Peer& p);
  bool flush(Channel& c, Peer& p);
  bool return_credit(Channel& c, Peer& p);
  bool repost_receives(Channel& c);
  bool send_queue_room(const Channel& c, uint32_t wrs) const;
  bool should_signal(const Channel& c) const;
  bool has_queued_work() const;
  static int64_t monotonic_us();

  RdmaTransportOptions options_;
  std::unique_ptr<verbs::Device> device_;
  verbs::CompletionChannel comp_channel_;
  Fd listener_;
  int listen_port_ = 0;
  Fd epoll_fd_;
  std::map<PeerId, Peer> peers_;
  // Channels by tag; unique_ptr so a channel's address (the CQ's context) is stable.
  std::unordered_map<uint64_t, std::unique_ptr<Channel>> chans_;
  uint64_t next_tag_ = 2;  // 0 is the listener, 1 the completion channel
  std::vector<ibv_recv_wr> recv_wrs_;  // recv_queue_depth empty receives, chained on use
  std::vector<PeerEvent> events_;
  int64_t now_ms_ = 0;
  uint64_t turn_ = 0;
  int64_t last_work_us_ = 0;  // last poll() that found completions
  RdmaTransportStats stats_;
};

}  // namespace uk
