// The transports under test, opened the same way for every benchmark mode of uk_transport_bench (setup only; the
// measured loops are in transport_bench.cc).
//
// An Endpoint is one uk::Transport with the two things the contract leaves to the owner: `kick()` puts what send()
// queued on the wire now (DpdkTransport queues until its next poll or flush(); TcpTransport and RdmaTransport post
// the first message of a turn from send() itself, so kick() does nothing there), and `wait()` for the blocking
// variant of a loop. Everything here is single-threaded, like the transports.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ukeeper/dataplane/transport.h"

namespace ukbench {

// What the command line says about the transport (see transport_bench.cc's usage text).
struct EndpointSpec {
  std::string transport = "tcp";  // tcp | dpdk | rdma
  uk::PeerId me = 1;               // 1 is the leader side (listens), 2 the follower side (dials: higher id dials)
  uk::PeerId peer = 2;
  std::string host = "127.0.0.1";  // tcp, rdma: the leader's control/listen address
  int port = 0;                    // tcp, rdma: the leader's listen port (0: ephemeral, pair mode only)
  // dpdk
  std::vector<std::string> vdevs;  // EAL --vdev values (pair mode: both ports)
  std::string device;              // this endpoint's port name, e.g. net_af_packet0
  std::string ip;                  // this endpoint's IPv4
  std::string peer_ip;
  std::string peer_mac;            // empty: learned from the other endpoint in pair mode
  std::string lcores = "0@(0-1)";
  int memory_mb = 256;
  int64_t rto_us = 0;              // 0: the link's default retransmit timeout
};

class Endpoint {
 public:
  virtual ~Endpoint() = default;
  uk::Transport& transport() { return *transport_; }
  // Puts queued messages on the wire now (see the header comment).
  virtual void kick() {}
  // Blocks until the transport probably has work, at most timeout_ms (used by --wait=block only).
  virtual void wait(int timeout_ms) = 0;
  // Transport-specific counters as `"key": value` JSON members (no braces), for the RESULT line.
  virtual std::string counters_json() const = 0;
  // tcp, rdma: the port actually listened on (after an ephemeral bind); 0 for dpdk.
  virtual int listen_port() const { return 0; }
  // Where the other endpoint of a pair mode run can reach this one (tcp/rdma: port; dpdk: MAC), set later.
  virtual void set_peer(const std::string& host, int port) { (void)host, (void)port; }
  virtual std::string mac() const { return ""; }

 protected:
  std::unique_ptr<uk::Transport> transport_;
};

// Opens `spec.transport`. Null and `error` set when it cannot (no device, no port, a transport not built in).
std::unique_ptr<Endpoint> open_endpoint(const EndpointSpec& spec, std::string& error);

// Which transports this binary was built with ("tcp dpdk rdma", or fewer).
std::string built_transports();

}  // namespace ukbench
