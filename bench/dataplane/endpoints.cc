// Opening the transports for uk_transport_bench (see endpoints.h). Options that matter for the figures are set
// here once and printed by the driver: everything else keeps the transports' defaults, so the benchmark measures
// what the server runs.
#include "endpoints.h"

#include <poll.h>

#include <cinttypes>
#include <cstdio>
#include <utility>

#include "ukeeper/dataplane/tcp/tcp_transport.h"
#if UK_BENCH_HAVE_DPDK
#include "ukeeper/dataplane/dpdk/dpdk_transport.h"
#endif
#if UK_BENCH_HAVE_RDMA
#include "ukeeper/dataplane/rdma/rdma_transport.h"
#endif

namespace ukbench {
namespace {

constexpr uint64_t kClusterToken = 0xbe9c4;

std::string member(const char* key, uint64_t value) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "\"%s\": %" PRIu64, key, value);
  return buf;
}

std::string peer_counters_json(const uk::PeerCounters& c) {
  return member("messages_sent", c.messages_sent) + ", " + member("messages_received", c.messages_received) + ", " +
         member("bytes_sent", c.bytes_sent) + ", " + member("bytes_received", c.bytes_received);
}

// ---- tcp ----------------------------------------------------------------------------------------------------------

class TcpEndpoint final : public Endpoint {
 public:
  TcpEndpoint(std::unique_ptr<uk::TcpTransport> t, uk::PeerId peer) : tcp_(t.get()), peer_(peer) {
    transport_ = std::move(t);
  }
  void wait(int timeout_ms) override {
    pollfd p{tcp_->wait_fd(), POLLIN, 0};
    ::poll(&p, 1, timeout_ms);
  }
  std::string counters_json() const override {
    const uk::TcpTransportStats& s = tcp_->stats();
    return peer_counters_json(tcp_->counters(peer_)) + ", " + member("write_calls", s.write_calls) + ", " +
           member("read_calls", s.read_calls);
  }
  int listen_port() const override { return tcp_->listen_port(); }
  void set_peer(const std::string& host, int port) override { tcp_->set_peer_address(peer_, host, port); }

 private:
  uk::TcpTransport* tcp_;
  uk::PeerId peer_;
};

// TcpTransport and RdmaTransport take the same addressing: the leader (id 1) listens on spec.port, the follower
// (id 2, the higher id, the one that dials) listens on an ephemeral port and dials the leader. Everything else
// keeps the transport's defaults.
template <class EndpointT, class TransportT, class Options>
std::unique_ptr<Endpoint> open_addressed(const EndpointSpec& spec, std::string& error) {
  Options o;
  o.my_id = spec.me;
  o.listen_address = spec.host;
  o.listen_port = spec.me == 1 ? spec.port : 0;
  o.peers[spec.peer] = {spec.host, spec.me == 1 ? 0 : spec.port};
  o.cluster_token = kClusterToken;
  std::unique_ptr<TransportT> t = TransportT::open(o, error);
  if (t == nullptr) return nullptr;
  return std::make_unique<EndpointT>(std::move(t), spec.peer);
}

std::unique_ptr<Endpoint> open_tcp(const EndpointSpec& spec, std::string& error) {
  return open_addressed<TcpEndpoint, uk::TcpTransport, uk::TcpTransportOptions>(spec, error);
}

// ---- dpdk ---------------------------------------------------------------------------------------------------------

#if UK_BENCH_HAVE_DPDK
class DpdkEndpoint final : public Endpoint {
 public:
  DpdkEndpoint(std::unique_ptr<uk::DpdkTransport> t, uk::PeerId peer) : dpdk_(t.get()), peer_(peer) {
    transport_ = std::move(t);
  }
  void kick() override { dpdk_->flush(); }
  void wait(int timeout_ms) override { dpdk_->wait_for_work(int64_t{timeout_ms} * 1000); }
  std::string counters_json() const override {
    uk::DpdkTransportStats s = dpdk_->stats();
    return peer_counters_json(dpdk_->counters(peer_)) + ", " + member("frames_sent", s.link.frames_sent) + ", " +
           member("frames_received", s.link.frames_received) + ", " +
           member("data_frames_sent", s.link.data_frames_sent) + ", " +
           member("ack_frames_sent", s.link.ack_frames_sent) + ", " +
           member("frames_not_ours", s.link.frames_not_ours) + ", " +
           member("segments_retransmitted", s.link.segments_retransmitted) + ", " +
           member("rx_bursts", s.rx_bursts) + ", " + member("tx_bursts", s.tx_bursts) + ", " +
           member("tx_checksum_offload", dpdk_->port().offloads().tx_checksum ? 1 : 0);
  }
  std::string mac() const override { return uk::dpdk::format_mac(dpdk_->port().mac()); }

 private:
  uk::DpdkTransport* dpdk_;
  uk::PeerId peer_;
};

std::unique_ptr<Endpoint> open_dpdk(const EndpointSpec& spec, std::string& error) {
  uk::DpdkTransportOptions o;
  o.eal.lcores = spec.lcores;
  o.eal.memory_mb = spec.memory_mb;
  o.eal.no_huge = true;
  o.eal.in_memory = true;
  o.eal.no_pci = true;
  o.eal.log_level = "warning";
  o.eal.vdevs = spec.vdevs;
  o.port.device = spec.device;
  o.link.my_id = spec.me;
  o.link.me.udp_port = 7400;
  uk::dpdk::LinkPeer p;
  p.id = spec.peer;
  p.endpoint.udp_port = 7400;
  if (!uk::dpdk::parse_ipv4(spec.ip, o.link.me.ip) || !uk::dpdk::parse_ipv4(spec.peer_ip, p.endpoint.ip) ||
      !uk::dpdk::parse_mac(spec.peer_mac, p.endpoint.mac)) {
    error = "dpdk needs --ip, --peer-ip and --peer-mac (got '" + spec.ip + "', '" + spec.peer_ip + "', '" +
            spec.peer_mac + "')";
    return nullptr;
  }
  o.link.peers.push_back(p);
  if (spec.rto_us > 0) o.link.retransmit_timeout_us = spec.rto_us;
  std::unique_ptr<uk::DpdkTransport> t = uk::DpdkTransport::open(o, error);
  if (t == nullptr) return nullptr;
  return std::make_unique<DpdkEndpoint>(std::move(t), spec.peer);
}
#endif

// ---- rdma ---------------------------------------------------------------------------------------------------------

#if UK_BENCH_HAVE_RDMA
class RdmaEndpoint final : public Endpoint {
 public:
  RdmaEndpoint(std::unique_ptr<uk::RdmaTransport> t, uk::PeerId peer) : rdma_(t.get()), peer_(peer) {
    transport_ = std::move(t);
  }
  void wait(int timeout_ms) override { rdma_->wait(timeout_ms); }
  std::string counters_json() const override {
    uk::RdmaPeerStats s = rdma_->peer_stats(peer_);
    const uk::RdmaTransportStats& t = rdma_->stats();
    return peer_counters_json(rdma_->counters(peer_)) + ", " + member("writes_posted", s.writes_posted) + ", " +
           member("inline_writes", s.inline_writes) + ", " + member("flushes", s.flushes) + ", " +
           member("credit_writes", s.credit_writes) + ", " + member("send_completions", s.send_completions) + ", " +
           member("recv_completions", s.recv_completions) + ", " + member("cq_polls", t.cq_polls);
  }
  int listen_port() const override { return rdma_->listen_port(); }
  void set_peer(const std::string& host, int port) override { rdma_->set_peer_address(peer_, host, port); }

 private:
  uk::RdmaTransport* rdma_;
  uk::PeerId peer_;
};

std::unique_ptr<Endpoint> open_rdma(const EndpointSpec& spec, std::string& error) {
  return open_addressed<RdmaEndpoint, uk::RdmaTransport, uk::RdmaTransportOptions>(spec, error);
}
#endif

}  // namespace

std::unique_ptr<Endpoint> open_endpoint(const EndpointSpec& spec, std::string& error) {
  if (spec.transport == "tcp") return open_tcp(spec, error);
#if UK_BENCH_HAVE_DPDK
  if (spec.transport == "dpdk") return open_dpdk(spec, error);
#endif
#if UK_BENCH_HAVE_RDMA
  if (spec.transport == "rdma") return open_rdma(spec, error);
#endif
  error = "transport '" + spec.transport + "' is not built into this binary (built: " + built_transports() + ")";
  return nullptr;
}

std::string built_transports() {
  std::string s = "tcp";
#if UK_BENCH_HAVE_DPDK
  s += " dpdk";
#endif
#if UK_BENCH_HAVE_RDMA
  s += " rdma";
#endif
  return s;
}

}  // namespace ukbench
