// A client connection of the standalone server (private to server/src). It is also the Watcher that the
// connection's watches deliver to: events are encoded straight into its output buffer.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "ukeeper/drivers/socket.h"
#include "ukeeper/server/processor.h"
#include "ukeeper/server/proto.h"
#include "ukeeper/server/server.h"

namespace uk {

// One client connection. It is also the Watcher its watches deliver to.
class Server::Connection final : public Watcher {
 public:
  Connection(uint64_t conn_id, Fd socket, std::string peer, int port, int64_t now_ms,
             std::vector<uint64_t>* flush_list)
      : id(conn_id),
        fd(std::move(socket)),
        peer_ip(std::move(peer)),
        peer_port(port),
        established_ms(now_ms),
        flush_list_(flush_list) {
    client.auth_ids.push_back(Id{"ip", this->peer_ip});
    client.watcher = this;
    client.token = conn_id;
  }

  void deliver_event(EventType type, const std::string& path) override {
    if (dead) return;
    encode_watch_event(out, type, path);
    packets_sent++;
    mark_output_pending();
  }
  // Output was queued from outside this connection's own I/O; the event loop flushes it at the end of its turn.
  void mark_output_pending() {
    if (output_pending) return;
    output_pending = true;
    flush_list_->push_back(id);
  }
  const std::vector<Id>& watcher_ids() const override { return client.auth_ids; }

  uint64_t id;
  Fd fd;
  std::string peer_ip;
  int peer_port;
  int64_t established_ms;
  std::string in;
  size_t in_pos = 0;  // bytes of `in` already consumed
  std::string out;
  size_t out_pos = 0;  // bytes of `out` already written
  bool connected = false;      // handshake done
  bool close_after_flush = false;
  bool dead = false;
  bool output_pending = false;  // events or replies were queued from outside its own I/O; the loop flushes it
  int pending_writes = 0;       // this connection's requests still in the processor's queue
  std::deque<int64_t> pending_start_us;  // arrival times of those requests, oldest first (for latency)
  bool handshake_pending = false;  // a createSession txn for this connection is not applied yet
  bool closing_session = false;    // closeSession sent: read nothing more
  int syncs_pending = 0;           // ensemble: syncs waiting for their barrier; nothing after them is read
  std::deque<int32_t> sync_xids;
  std::deque<std::string> sync_paths;
  int32_t negotiated_timeout_ms = 0;
  bool reading = true;
  uint32_t epoll_events = EPOLLIN | EPOLLRDHUP;  // the interest registered with epoll now
  bool has_read_only = false;
  ClientContext client;
  uint64_t packets_received = 0;
  uint64_t packets_sent = 0;
  int64_t last_latency_us = 0;
  int64_t latency_min_us = -1;
  int64_t latency_max_us = 0;
  int64_t latency_sum_us = 0;
  int64_t established_wall_ms = 0;
  int64_t last_response_wall_ms = 0;
  int64_t last_cxid = 0;
  int64_t last_zxid = 0;
  int32_t last_op = 0;

 private:
  std::vector<uint64_t>* flush_list_;  // the server's list of connections to flush this turn
};

}  // namespace uk
