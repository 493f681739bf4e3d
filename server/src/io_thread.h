// Client I/O threads. Each owns a set of client connections: it reads and frames their requests, answers the
// reads a snapshot of the tree can answer (reads.h) itself, hands everything else to the pipeline thread, and
// writes what the pipeline sends back (replies and watch events) to the sockets.
//
// Hand-offs go through two bounded single-producer/single-consumer queues per I/O thread, one each way, and an
// eventfd per side to wake a sleeping consumer. A full queue never blocks: the I/O thread stops reading sockets
// until its backlog drains (backpressure reaches the clients through TCP), and the pipeline thread keeps its own
// backlog and retries on its next turn.
//
// Per-connection order. The I/O thread answers a read itself only when nothing this connection sent earlier is
// still with the pipeline (no write, sync, handshake or watch registration unanswered); otherwise the read goes
// to the pipeline behind them, which keeps the order as it always has (a read behind a pending write waits).
// Since the pipeline answers a connection's requests in order, "answered" is a count: the I/O thread counts the
// replies in what the pipeline sends (every frame but a watch event answers one request).
//
// Watches. A read that sets a watch is answered from snapshot zxid Z and the watch is handed to the pipeline as
// "register at Z": if the node changed after Z the pipeline fires the event at once, else it registers it (the
// setWatches rule), so no change between the read and the registration is missed. Until the registration is
// acknowledged the connection's later reads go to the pipeline. And a client must see a watch event before data
// that would show the change: the pipeline publishes, per I/O thread, the zxid through which it has handed over
// every event (shipped_through); a connection that may hold watches is answered from a snapshot Z only when
// shipped_through >= Z, after taking in what the pipeline sent, so any event for a txn <= Z is written first.
// Otherwise the read goes to the pipeline.
//
// Sessions. The I/O thread stamps each connection's last_heard_ms on every frame (pings included, which it
// answers itself); session expiry on the pipeline consults it before expiring a session.
//
// Inline (ioThreads=0). One IoThread without a thread of its own: the pipeline thread runs its turns (see
// start_inline), so every rule above holds unchanged and the queues are crossed by the same thread, with no
// wake-ups; only the pipeline's work and the reads now share one thread.
// Thread-safety: IoThread's queue ends are each used by one side as documented; ConnStats fields are atomics
// written by the owning I/O thread and read by the pipeline thread (four-letter words).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ukeeper/common/config.h"
#include "ukeeper/common/spsc_queue.h"
#include "ukeeper/common/types.h"
#include "ukeeper/common/znode.h"
#include "ukeeper/drivers/socket.h"
#include "ukeeper/server/reads.h"
#include "ukeeper/storage/tree/data_tree.h"

namespace uk {

// One connection's statistics (cons, srvr): written by its I/O thread, read by the pipeline thread.
struct ConnStats {
  std::atomic<uint64_t> packets_received{0};
  std::atomic<uint64_t> packets_sent{0};
  std::atomic<uint64_t> requests{0};  // replies sent
  std::atomic<int64_t> last_latency_us{0};
  std::atomic<int64_t> latency_min_us{-1};
  std::atomic<int64_t> latency_max_us{0};
  std::atomic<int64_t> latency_sum_us{0};
  std::atomic<int64_t> last_cxid{0};
  std::atomic<int32_t> last_op{0};
  std::atomic<int64_t> last_zxid{0};
  std::atomic<int64_t> last_response_wall_ms{0};
  std::atomic<int64_t> last_heard_ms{0};  // monotonic ms of the last frame from the client: session liveness
  std::atomic<uint32_t> outstanding{0};   // requests received and not answered
  void reset();
};

// Server-wide counters of one I/O thread (mntr, srvr sum them over threads).
struct IoCounters {
  std::atomic<uint64_t> packets_received{0};
  std::atomic<uint64_t> packets_sent{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<int64_t> latency_min_us{-1};
  std::atomic<int64_t> latency_max_us{0};
  std::atomic<int64_t> latency_sum_us{0};
  std::atomic<uint64_t> bad_frames{0};
  std::atomic<uint64_t> reads_served{0};     // answered on this thread from a snapshot
  std::atomic<uint64_t> reads_forwarded{0};  // snapshot reads the pipeline answered (order or watch rules)
  std::atomic<uint64_t> forwarded{0};        // frames handed to the pipeline
  std::atomic<uint64_t> backlog_peak{0};     // deepest backlog towards the pipeline (queue full)
  void reset_latency();
};

// I/O thread -> pipeline.
struct ToPipeline {
  enum class Kind : uint8_t {
    kFrame,       // a request frame (without its length prefix), in arrival order
    kFourLetter,  // a four-letter word (bytes) as the connection's first bytes
    kWatch,       // register `watch` on `bytes` (the path) as of snapshot `zxid`
    kClosed,      // the connection is gone (bytes: why); the pipeline forgets it
  };
  Kind kind = Kind::kFrame;
  ReadWatch watch = ReadWatch::kNone;
  uint64_t conn = 0;
  Zxid zxid = 0;
  std::string bytes;
};

// Pipeline -> I/O thread.
struct ToIo {
  enum class Kind : uint8_t {
    kAdopt,   // a new connection: fd, peer, stats
    kOutput,  // bytes to send (replies and events), watch acknowledgements, new auth ids
    kClose,   // close now (after `bytes`, when close_after)
  };
  Kind kind = Kind::kOutput;
  bool close_after = false;  // kOutput: close once everything is sent
  bool has_watches = false;  // kOutput: the connection holds watches now
  bool auth_changed = false;
  uint32_t watch_acks = 0;  // kOutput: watch registrations handled
  uint64_t conn = 0;
  Fd fd;
  std::string bytes;
  std::string peer_ip;
  std::vector<Id> auth_ids;  // kAdopt, or kOutput when auth_changed
  std::shared_ptr<ConnStats> stats;
};

class IoThread {
 public:
  // `pipeline_wake` is the pipeline's eventfd, written after handing it something.
  IoThread(int index, const ServerConfig& config, const DataTree& tree, int pipeline_wake);
  ~IoThread();
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  void start();
  // ioThreads=0: no thread of its own. The pipeline thread nests epoll_fd() in its own set and runs the turns
  // itself (poll_sockets when it fires, finish_turn after taking in the frames and after handing out replies), so
  // a write's hand-offs are function calls instead of wake-ups of another thread.
  void start_inline() { inline_ = true; }
  bool is_inline() const { return inline_; }
  int epoll_fd() const { return epoll_.fd(); }
  void poll_sockets(int64_t wait_us);
  // Returns whether it handed the pipeline something (inline: the pipeline must not sleep before taking it).
  bool finish_turn();
  // How long the loop driving this may sleep: 0 with output to send, briefly with a backlog towards the pipeline.
  int64_t wanted_wait_us() const;
  // Asks the thread to close its connections and end, and joins it (inline: closes them now).
  void stop();

  // Pipeline side.
  bool try_send(ToIo& m) { return to_io_.try_push(m); }
  bool try_receive(ToPipeline& m) { return to_pipeline_.try_pop(m); }
  void wake();
  // Every event for txns <= zxid has been handed to this thread (see the header comment).
  void set_shipped_through(Zxid zxid) { shipped_through_.store(zxid, std::memory_order_release); }
  const IoCounters& counters() const { return counters_; }
  IoCounters& counters() { return counters_; }

 private:
  struct Conn;

  void run();
  void close_all();
  void drain_inbound();
  void flush_dirty();
  void on_inbound(ToIo& m);
  void apply_output(Conn& c, ToIo& m);
  void on_readable(Conn& c);
  void process_input(Conn& c);
  // Answers `frame` on this thread when the order and watch rules allow; false: it goes to the pipeline.
  bool try_serve(Conn& c, std::string_view frame, int64_t start_us);
  // Hands `m` to the pipeline, or to the backlog behind what is already waiting there.
  void forward(ToPipeline m);
  void push_backlog();
  void flush(Conn& c);
  void update_interest(Conn& c);
  // Closes the socket; tells the pipeline unless it asked for the close.
  void close(Conn& c, const char* why, bool tell_pipeline);
  void note_answer(Conn& c, int64_t start_us);
  uint64_t in_flight(const Conn& c) const;

  const int index_;
  const ServerConfig& config_;
  TreeReader reader_;
  const int pipeline_wake_;
  SpscQueue<ToIo> to_io_;
  SpscQueue<ToPipeline> to_pipeline_;
  std::deque<ToPipeline> backlog_;  // what did not fit into to_pipeline_, in order
  int64_t turn_wall_ms_ = 0;        // wall clock read once per loop turn (a connection's last response time)
  bool pushed_ = false;             // handed the pipeline something this turn: wake it
  std::atomic<Zxid> shipped_through_{0};
  std::atomic<bool> stopping_{false};
  bool inline_ = false;
  IoCounters counters_;
  Epoll epoll_;
  Fd wake_fd_;
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::vector<uint64_t> dead_;     // closed this turn; destroyed at its end
  std::vector<uint64_t> dirty_;    // connections given output this turn
  std::vector<uint64_t> stalled_;  // connections with framed input left while the backlog was full
  // Sockets are read into this and the bytes appended to the connection's input: growing the input by a whole
  // read's room first would zero it every time (64 KiB per read; 14% of the thread's time at 64 writing clients).
  std::unique_ptr<char[]> read_buf_;
  std::thread thread_;
};

// The pipeline thread's end of one I/O thread: the thread, and what did not fit into its queue yet.
struct IoLink {
  std::unique_ptr<IoThread> thread;
  std::deque<ToIo> backlog;
  bool woken = false;  // handed something this turn
};

bool is_four_letter_word(std::string_view w);

}  // namespace uk
