// The ensemble's lanes (design in peer_lanes.h).
#include "peer_lanes.h"

#include <cinttypes>
#include <cstdlib>
#include <utility>
#include <vector>

#include "ukeeper/common/log.h"
#include "ukeeper/dataplane/tcp/tcp_transport.h"
#ifdef UKEEPER_HAVE_RDMA
#include "ukeeper/dataplane/rdma/rdma_transport.h"
#endif
#ifdef UKEEPER_HAVE_DPDK
#include "ukeeper/dataplane/dpdk/dpdk_transport.h"
#endif

namespace uk {
namespace {

// What one lane attempt produced: the transport, or why there is none.
struct LaneAttempt {
  std::unique_ptr<Transport> transport;
  std::string why_not;
};

LaneAttempt open_rdma(const ServerConfig& config, int64_t my_id, uint64_t token, RdmaTransport** out) {
  LaneAttempt a;
#ifdef UKEEPER_HAVE_RDMA
  RdmaTransportOptions o;
  o.my_id = my_id;
  const ServerSpec& me = config.servers.at(my_id);
  o.listen_address = config.quorum_listen_on_all_ips ? "0.0.0.0" : me.host;
  o.listen_port = me.election_port;
  // Peers are dialed only once their TCP hello shows RDMA (port 0 = known, not dialed yet).
  for (const auto& [id, spec] : config.servers) o.peers[id] = {spec.host, 0};
  o.cluster_token = token;
  o.device.device_name = config.rdma.device;
  o.device.port_num = config.rdma.port;
  o.device.gid_index = config.rdma.gid_index;
  o.ring_bytes = static_cast<uint32_t>(config.rdma.ring_bytes);
  o.spin_us = config.rdma.spin_us;
  o.max_inline_bytes = static_cast<uint32_t>(config.rdma.max_inline_bytes);
  std::string error;
  std::unique_ptr<RdmaTransport> t = RdmaTransport::open(o, error);
  if (!t) {
    a.why_not = error;
    return a;
  }
  UK_INFO("rdma lane: device %s port %u, gid index %d, control connections on %s:%d", t->port().device_name.c_str(),
          static_cast<unsigned>(t->port().port_num), t->port().gid_index, o.listen_address.c_str(), o.listen_port);
  *out = t.get();
  a.transport = std::move(t);
#else
  (void)config, (void)my_id, (void)token, (void)out;
  a.why_not = "this build has no RDMA support (libibverbs-dev was missing when it was built)";
#endif
  return a;
}

LaneAttempt open_dpdk(const ServerConfig& config, int64_t my_id, DpdkTransport** out) {
  LaneAttempt a;
  const DpdkSettings& d = config.dpdk;
  if (!d.configured()) {
    a.why_not = "no DPDK port is configured (dpdk.device or dpdk.vdev)";
    return a;
  }
  for (const auto& [id, spec] : config.servers) {
    if (d.servers.count(id) == 0) {
      a.why_not = "dpdk.server." + std::to_string(id) + " is missing (every server.N needs its dpdk.server.N line)";
      return a;
    }
  }
#ifdef UKEEPER_HAVE_DPDK
  DpdkTransportOptions o;
  o.eal.lcores = d.lcores;
  o.eal.memory_mb = d.memory_mb;
  o.eal.no_huge = !d.hugepages;
  o.eal.file_prefix = d.file_prefix;
  o.eal.in_memory = d.file_prefix.empty();  // no runtime files to collide with another process
  o.eal.no_pci = d.no_pci;
  if (!d.vdev.empty()) o.eal.vdevs.push_back(d.vdev);
  o.eal.log_level = d.log_level;
  o.port.device = !d.device.empty() ? d.device : d.vdev.substr(0, d.vdev.find(','));
  o.port.mtu_bytes = static_cast<uint16_t>(d.mtu);
  o.link.my_id = my_id;
  for (const auto& [id, spec] : d.servers) {
    dpdk::Endpoint ep;
    if (!dpdk::parse_mac(spec.mac, ep.mac) || !dpdk::parse_ipv4(spec.ip, ep.ip)) {
      a.why_not = "dpdk.server." + std::to_string(id) + ": bad MAC or IPv4 address";
      return a;
    }
    ep.udp_port = static_cast<uint16_t>(spec.udp_port);
    if (id == my_id) {
      o.link.me = ep;
    } else if (config.servers.count(id) != 0) {
      o.link.peers.push_back(dpdk::LinkPeer{id, ep});
    }
  }
  o.link.retransmit_timeout_us = d.retransmit_timeout_us;
  o.link.peer_timeout_us = d.peer_timeout_ms * 1000;
  o.spin_us = d.spin_us;
  o.idle_sleep_us = d.idle_sleep_us;
  std::string error;
  std::unique_ptr<DpdkTransport> t = DpdkTransport::open(std::move(o), error);
  if (!t) {
    a.why_not = error;
    return a;
  }
  UK_INFO("dpdk lane: port %s, %s:%u", d.device.empty() ? d.vdev.c_str() : d.device.c_str(),
          d.servers.at(my_id).ip.c_str(), static_cast<unsigned>(d.servers.at(my_id).udp_port));
  *out = t.get();
  a.transport = std::move(t);
#else
  (void)my_id, (void)out;
  a.why_not = "this build has no DPDK support (libdpdk-dev was missing when it was built)";
#endif
  return a;
}

std::string caps_text(uint32_t caps) {
  std::string s;
  if (caps & kCapabilityRdma) s += "rdma ";
  if (caps & kCapabilityDpdk) s += "dpdk ";
  if (caps & kCapabilityTcp) s += "tcp";
  return s;
}

}  // namespace

bool open_peer_lanes(const ServerConfig& config, int64_t my_id, uint64_t token, PeerLanes& out, std::string& error) {
  const PeerTransport want = config.transport;
  std::vector<MultiTransport::Lane> lanes;
  uint32_t caps = kCapabilityTcp;
  std::string found;
  if (want == PeerTransport::kRdma || want == PeerTransport::kAuto) {
    LaneAttempt a = open_rdma(config, my_id, token, &out.rdma);
    if (a.transport) {
      lanes.push_back({std::move(a.transport), kLaneRdma});
      caps |= kCapabilityRdma;
    } else if (want == PeerTransport::kRdma) {
      error = "transport=rdma: " + a.why_not + " (use transport=auto to fall back to TCP)";
      return false;
    } else {
      found += "no rdma (" + a.why_not + "); ";
    }
  }
  if (want == PeerTransport::kDpdk || want == PeerTransport::kAuto) {
    LaneAttempt a = open_dpdk(config, my_id, &out.dpdk);
    if (a.transport) {
      lanes.push_back({std::move(a.transport), kLaneDpdk});
      caps |= kCapabilityDpdk;
    } else if (want == PeerTransport::kDpdk) {
      error = "transport=dpdk: " + a.why_not + " (use transport=auto to fall back to TCP)";
      return false;
    } else {
      found += "no dpdk (" + a.why_not + "); ";
    }
  }

  TcpTransportOptions t;
  t.my_id = my_id;
  const ServerSpec& me = config.servers.at(my_id);
  t.listen_address = config.quorum_listen_on_all_ips ? "0.0.0.0" : me.host;
  t.listen_port = me.quorum_port;
  for (const auto& [id, spec] : config.servers) t.peers[id] = {spec.host, spec.quorum_port};
  t.cluster_token = token;
  t.capabilities = caps;
  if (const char* f = std::getenv("UKEEPER_FAULT_PARTITION_FILE")) t.fault_file = f;
  std::unique_ptr<TcpTransport> tcp = TcpTransport::open(t, error);
  if (!tcp) return false;
  out.tcp = tcp.get();
  lanes.push_back({std::move(tcp), kLaneTcp});

  if (want == PeerTransport::kAuto) {
    if (!found.empty()) found.resize(found.size() - 2);  // the last "; "
    UK_INFO("transport=auto: this member offers %s%s%s", caps_text(caps).c_str(), found.empty() ? "" : "; ",
            found.c_str());
  }
  MultiTransportOptions mo;
  mo.my_id = my_id;
  for (const auto& [id, spec] : config.servers) mo.peers.push_back(id);
  const size_t tcp_lane = lanes.size() - 1;
  // RDMA is dialed only towards peers whose TCP hello offers it; the lower id never dials, so it needs nothing.
  auto on_lane_event = [&config, my_id, tcp_lane, lanes_out = &out](size_t lane, const PeerEvent& ev) {
    if (lane != tcp_lane || ev.kind != PeerEvent::Kind::kConnected) return;
    uint32_t theirs = lanes_out->tcp->peer_capabilities(ev.peer);
    UK_INFO("peer %" PRId64 " offers %s", static_cast<int64_t>(ev.peer), caps_text(theirs).c_str());
#ifdef UKEEPER_HAVE_RDMA
    if (lanes_out->rdma != nullptr && my_id > ev.peer) {
      const ServerSpec& spec = config.servers.at(ev.peer);
      lanes_out->rdma->set_peer_address(ev.peer, spec.host, (theirs & kCapabilityRdma) ? spec.election_port : 0);
    }
#else
    (void)config, (void)my_id;
#endif
  };
  out.transport = std::make_unique<MultiTransport>(mo, std::move(lanes), on_lane_event);
  return true;
}

namespace {

void kv(std::string& s, const std::string& k, uint64_t v) { s += k + "\t" + std::to_string(v) + "\n"; }
void kv(std::string& s, const std::string& k, const std::string& v) { s += k + "\t" + v + "\n"; }

const char* lane_name(const MultiTransport& t, int lane) { return lane < 0 ? "none" : t.lane(lane).name(); }

}  // namespace

std::string peer_lanes_mntr(const PeerLanes& lanes, const ServerConfig& config, int64_t my_id) {
  std::string s;
  const MultiTransport& t = *lanes.transport;
  for (const auto& [id, spec] : config.servers) {
    if (id == my_id) continue;
    const std::string p = "zk_ukeeper_peer_" + std::to_string(id) + "_";
    kv(s, p + "lane", lane_name(t, t.out_lane(id)));
    kv(s, p + "in_lane", lane_name(t, t.in_lane(id)));
    MultiTransportPeerStats ps = t.peer_stats(id);
    kv(s, p + "channel_opens", ps.opens);
    kv(s, p + "channel_breaks", ps.breaks);
    kv(s, p + "lane_switches", ps.switches);
    kv(s, p + "stale_frames", ps.stale);
    kv(s, p + "malformed_frames", ps.malformed);
    kv(s, p + "held_peak_bytes", ps.held_peak_bytes);
    for (size_t i = 0; i < t.lane_count(); ++i) {
      const std::string l = p + t.lane(i).name() + "_";
      PeerCounters c = t.lane(i).counters(id);
      kv(s, l + "messages_sent", c.messages_sent);
      kv(s, l + "messages_received", c.messages_received);
      kv(s, l + "bytes_sent", c.bytes_sent);
      kv(s, l + "bytes_received", c.bytes_received);
    }
#ifdef UKEEPER_HAVE_RDMA
    if (lanes.rdma != nullptr) {
      RdmaPeerStats r = lanes.rdma->peer_stats(id);
      kv(s, p + "rdma_writes_posted", r.writes_posted);
      kv(s, p + "rdma_write_bytes", r.write_bytes);
      kv(s, p + "rdma_credit_writes", r.credit_writes);
      kv(s, p + "rdma_send_completions", r.send_completions);
      kv(s, p + "rdma_recv_completions", r.recv_completions);
    }
#endif
  }
#ifdef UKEEPER_HAVE_DPDK
  if (lanes.dpdk != nullptr) {
    DpdkTransportStats d = lanes.dpdk->stats();
    kv(s, "zk_ukeeper_dpdk_frames_sent", d.link.frames_sent);
    kv(s, "zk_ukeeper_dpdk_frames_received", d.link.frames_received);
    kv(s, "zk_ukeeper_dpdk_frame_bytes_sent", d.link.frame_bytes_sent);
    kv(s, "zk_ukeeper_dpdk_frame_bytes_received", d.link.frame_bytes_received);
    kv(s, "zk_ukeeper_dpdk_retransmissions", d.link.segments_retransmitted);
    kv(s, "zk_ukeeper_dpdk_dropped_frames", d.link.frames_bad_checksum + d.link.frames_bad_length +
                                                 d.link.frames_unknown_peer + d.link.frames_stale +
                                                 d.link.segments_out_of_window + d.port.rx_missed);
  }
#endif
  return s;
}

std::string peer_lanes_srvr(const PeerLanes& lanes, const ServerConfig& config, int64_t my_id) {
  std::string s;
  const MultiTransport& t = *lanes.transport;
  for (const auto& [id, spec] : config.servers) {
    if (id == my_id) continue;
    s += "Peer " + std::to_string(id) + ": " + lane_name(t, t.out_lane(id)) + " (in " + lane_name(t, t.in_lane(id)) +
         ")\n";
  }
  return s;
}

}  // namespace uk
