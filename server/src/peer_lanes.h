// The ensemble's peer transport (private to server/src): a MultiTransport over the lanes this member's config and
// hardware allow, best first — RDMA, DPDK, TCP — and what mntr/srvr report about them.
//
// Which lanes (the `transport` key):
//   tcp   TCP only.
//   rdma  RDMA and TCP; no usable RDMA device is a startup error. TCP carries the channel while RDMA (re)connects.
//   dpdk  DPDK and TCP; no usable DPDK port (dpdk.device/dpdk.vdev, dpdk.server.N for every member) is an error.
//   auto  every lane that opens: RDMA when a device is present, DPDK when a port is configured and opens, TCP
//         always; what was found and what was not is logged once at start.
// RDMA control connections go to each member's electionPort, and only towards members whose TCP hello advertised
// RDMA (the capability bits), so a member without a device is never dialed in vain. The lane each peer's traffic
// takes, and each switch, is logged by MultiTransport.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ukeeper/common/config.h"
#include "ukeeper/dataplane/multi_transport.h"

namespace uk {

class TcpTransport;
class RdmaTransport;
class DpdkTransport;

struct PeerLanes {
  std::unique_ptr<MultiTransport> transport;
  // The lanes inside `transport` (null when not in use).
  TcpTransport* tcp = nullptr;
  RdmaTransport* rdma = nullptr;
  DpdkTransport* dpdk = nullptr;
};

// Opens the lanes for member `my_id`. `token` is the member-list hash both ends check. False with `error` (naming
// the config key at fault) when a forced transport cannot run or a listener cannot bind.
bool open_peer_lanes(const ServerConfig& config, int64_t my_id, uint64_t token, PeerLanes& out, std::string& error);

// mntr lines (key \t value \n) about every peer's lanes: which lane each direction uses, and per lane its message
// counters plus the RDMA (writes posted, completions, bytes) and DPDK (frames, bytes, retransmissions, drops)
// numbers. srvr gets one short line per peer.
std::string peer_lanes_mntr(const PeerLanes& lanes, const ServerConfig& config, int64_t my_id);
std::string peer_lanes_srvr(const PeerLanes& lanes, const ServerConfig& config, int64_t my_id);

}  // namespace uk
