// A client connection as the pipeline thread sees it (private to server/src): its session, its requests in
// order, and what it is owed. The socket itself belongs to one I/O thread (io_thread.h); this side receives the
// connection's frames from it and sends back replies and watch events. It is also the Watcher its watches deliver
// to: events are encoded straight into its output, which the loop hands to the I/O thread at the end of its turn.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "io_thread.h"
#include "ukeeper/server/processor.h"
#include "ukeeper/server/proto.h"
#include "ukeeper/server/server.h"

namespace uk {

class Server::Connection final : public Watcher {
 public:
  Connection(uint64_t conn_id, int io_thread, std::string peer, int port, std::vector<uint64_t>* flush_list)
      : id(conn_id),
        io(io_thread),
        peer_ip(std::move(peer)),
        peer_port(port),
        stats(std::make_shared<ConnStats>()),
        flush_list_(flush_list) {
    client.auth_ids.push_back(Id{"ip", this->peer_ip});
    client.watcher = this;
    client.token = conn_id;
  }

  void deliver_event(EventType type, const std::string& path) override {
    if (dead) return;
    encode_watch_event(out, type, path);
    mark_output_pending();
  }
  // Output or acknowledgements are waiting; the loop hands them to the I/O thread at the end of its turn.
  void mark_output_pending() {
    if (output_pending) return;
    output_pending = true;
    flush_list_->push_back(id);
  }
  const std::vector<Id>& watcher_ids() const override { return client.auth_ids; }

  uint64_t id;
  int io;  // index of the owning I/O thread
  std::string peer_ip;
  int peer_port;
  std::shared_ptr<ConnStats> stats;  // kept by the I/O thread, read here for the four-letter words
  std::deque<ToPipeline> frames;     // frames and watch registrations received and not yet handled, in order
  std::string out;                   // replies and events not yet handed to the I/O thread
  uint32_t watch_acks = 0;           // watch registrations handled since the last hand-off
  bool auth_changed = false;         // client.auth_ids changed since the last hand-off
  bool connected = false;            // handshake done
  bool close_after_flush = false;    // the I/O thread closes it once `out` is sent; read nothing more
  bool dead = false;
  bool output_pending = false;
  int pending_writes = 0;          // this connection's requests still in the processor's queue
  bool handshake_pending = false;  // a createSession txn for this connection is not applied yet
  bool closing_session = false;    // closeSession sent: read nothing more
  int syncs_pending = 0;           // ensemble: syncs waiting for their barrier; nothing after them is read
  std::deque<int32_t> sync_xids;
  std::deque<std::string> sync_paths;
  int32_t negotiated_timeout_ms = 0;
  bool has_read_only = false;
  ClientContext client;
  int64_t established_wall_ms = 0;
  int64_t reported_heard_ms = 0;  // ensemble learner: last_heard_ms last reported to the leader

 private:
  std::vector<uint64_t>* flush_list_;  // the server's list of connections to hand off this turn
};

}  // namespace uk
