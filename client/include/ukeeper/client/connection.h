// uk::client::Connection: one ZooKeeper-protocol session on one TCP connection, for load generators.
//
// Threading and I/O model: a Connection belongs to one thread and is driven by that thread's event loop
// (ukbench runs one epoll loop per worker thread over several connections). The socket is non-blocking after
// open(): submit() only appends the request frame to an output buffer, flush() writes what the kernel takes,
// on_readable() reads what is there and dispatches every complete reply. Nothing blocks except open(), call()
// and close_session(), which poll() this one socket and are meant for setup, teardown and the coordination
// workloads' slow paths. We chose an event loop over a thread per connection so that many connections (and a
// deep window on each) cost no threads and no context switches in the load generator itself.
//
// Pipelining: up to max_in_flight requests may be outstanding. ZooKeeper answers one session's requests in the
// order they were sent, so replies are matched against a FIFO of outstanding xids; a reply that does not match the
// head of the FIFO is a protocol violation and fails the connection. Watch events (xid -1) go to the watch
// callback, ping replies (xid -2) are consumed here.
//
// Memory: the in-flight FIFO is a ring sized at open(); the byte buffers grow to the largest burst and then stay,
// so the steady state allocates nothing per request.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace uk::client {

using Clock = std::chrono::steady_clock;

// Request types (zookeeper-protocol.md §3); the subset a benchmark sends.
namespace op {
inline constexpr int32_t kCreate = 1;
inline constexpr int32_t kDelete = 2;
inline constexpr int32_t kExists = 3;
inline constexpr int32_t kGetData = 4;
inline constexpr int32_t kSetData = 5;
inline constexpr int32_t kGetChildren = 8;
inline constexpr int32_t kPing = 11;
inline constexpr int32_t kMulti = 14;
inline constexpr int32_t kCloseSession = -11;
}  // namespace op

// Error codes a benchmark tells apart.
namespace err {
inline constexpr int32_t kOk = 0;
inline constexpr int32_t kConnectionLoss = -4;
inline constexpr int32_t kNoNode = -101;
inline constexpr int32_t kNodeExists = -110;
}  // namespace err

struct Reply {
  int32_t xid = 0;
  int32_t op = 0;        // the request's type
  int64_t zxid = 0;
  int32_t err = 0;
  uint64_t cookie = 0;   // the caller's tag given to submit()
  std::string_view body; // the response record after the header; valid only during the callback
};

struct WatchEvent {
  int32_t type = 0;  // 1 created, 2 deleted, 3 data changed, 4 children changed
  int32_t state = 0;
  std::string_view path;  // valid only during the callback
};

class Connection {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 2181;
    int session_timeout_ms = 30000;
    size_t max_in_flight = 1024;
    int connect_timeout_ms = 10000;
  };
  using ReplyFn = std::function<void(const Reply&)>;
  using WatchFn = std::function<void(const WatchEvent&)>;

  // Connects and completes the session handshake (blocking, at most connect_timeout_ms). nullptr with *error
  // set on failure.
  static std::unique_ptr<Connection> open(const Options& options, std::string* error);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return fd_; }
  int64_t session_id() const { return session_id_; }
  int negotiated_timeout_ms() const { return timeout_ms_; }
  bool ok() const { return ok_; }
  size_t in_flight() const { return fifo_count_; }
  size_t max_in_flight() const { return fifo_.size(); }
  bool wants_write() const { return out_sent_ < out_.size(); }

  void set_reply_handler(ReplyFn fn) { on_reply_ = std::move(fn); }
  void set_watch_handler(WatchFn fn) { on_watch_ = std::move(fn); }

  // Queues one request (body = the request record after the header). Returns its xid, or -1 when the window is
  // full or the connection has failed. Nothing is sent until flush().
  int32_t submit(int32_t type, std::string_view body, uint64_t cookie);
  // Writes queued bytes until done or the socket would block. false once the connection has failed.
  bool flush();
  // Reads everything available and dispatches complete frames. false on EOF, error or protocol violation.
  bool on_readable();
  // Sends a ping if nothing was sent for a third of the session timeout (keeps an idle session alive).
  void ping_if_idle(Clock::time_point now);

  // Blocking: submits, flushes and waits for this request's reply (other replies and events are dispatched to
  // the handlers meanwhile). Returns the reply's error code, or err::kConnectionLoss on failure or timeout.
  int32_t call(int32_t type, std::string_view body, std::string* reply_body = nullptr, int timeout_ms = 10000);
  // Blocking closeSession; closes the socket. true if the server confirmed.
  bool close_session(int timeout_ms = 10000);

 private:
  struct Pending {
    int32_t xid;
    int32_t type;
    uint64_t cookie;
  };
  Connection(int fd, size_t max_in_flight);
  bool handshake(const Options& options, std::string* error);
  bool wait_fd(short events, int timeout_ms);
  void dispatch(std::string_view frame);
  void fail() { ok_ = false; }

  int fd_;
  bool ok_ = true;
  int64_t session_id_ = 0;
  int timeout_ms_ = 0;
  int32_t next_xid_ = 1;
  std::vector<Pending> fifo_;  // ring of outstanding requests
  size_t fifo_head_ = 0;
  size_t fifo_count_ = 0;
  std::string out_;
  size_t out_sent_ = 0;
  std::vector<char> in_;
  size_t in_begin_ = 0;
  size_t in_end_ = 0;
  Clock::time_point last_send_;
  // Set by dispatch() when the reply to call()'s xid arrives.
  int32_t call_xid_ = 0;
  bool call_done_ = false;
  int32_t call_err_ = 0;
  std::string* call_body_ = nullptr;
  ReplyFn on_reply_;
  WatchFn on_watch_;
};

}  // namespace uk::client
