// RdmaTransport setup: device and ring registration, the control listener and dials, the bootstrap handshake
// (hello exchange, QP transitions), channel teardown and reconnect back-off. The per-message path (send, flush,
// completions, delivery, credit, waiting) is in rdma_transport_datapath.cc.
#include "ukeeper/dataplane/rdma/rdma_transport.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cinttypes>
#include <cstring>
#include <limits>
#include <optional>
#include <random>

#include "ukeeper/common/log.h"

namespace uk {
namespace {

constexpr char kMagic[4] = {'U', 'K', 'R', 'D'};
constexpr char kReadyByte = 'R';
constexpr uint64_t kListenerTag = 0;
constexpr uint64_t kCompletionChannelTag = 1;
constexpr size_t kMaxHandshakesInProgress = 64;
constexpr int kMaxAcceptsPerPoll = 64;

void put_be(char* out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
}

uint64_t get_be(const char* in, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | static_cast<unsigned char>(in[i]);
  return value;
}

// Hello field offsets (layout in rdma_transport.h).
enum HelloOffset : int {
  kOffVersion = 4,
  kOffFlags = 6,
  kOffId = 8,
  kOffToken = 16,
  kOffQpn = 24,
  kOffPsn = 28,
  kOffGid = 32,
  kOffLid = 48,
  kOffMtu = 50,
  kOffRingBytes = 52,
  kOffRingAddr = 56,
  kOffRkey = 64,
};

std::string host_port(const std::string& host, int port) {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string server(PeerId id) { return "server id " + std::to_string(id); }

uint32_t random_psn() {
  static std::random_device rd;  // setup only: one PSN per queue pair
  return rd() & 0xffffff;
}

}  // namespace

std::unique_ptr<RdmaTransport> RdmaTransport::open(RdmaTransportOptions options, std::string& error) {
  if (!rdma::valid_ring_bytes(options.ring_bytes)) {
    error = "rdma transport: ring_bytes must be a multiple of 16 between " + std::to_string(rdma::kMinRingBytes) +
            " and " + std::to_string(rdma::kMaxRingBytes);
    return nullptr;
  }
  if (options.max_message_bytes == 0 || options.max_message_bytes > std::numeric_limits<uint32_t>::max()) {
    error = "rdma transport: max_message_bytes must be between 1 and 2^32-1";
    return nullptr;
  }
  if (options.send_queue_depth < 8 || options.recv_queue_depth < 8) {
    error = "rdma transport: send_queue_depth and recv_queue_depth must be at least 8";
    return nullptr;
  }
  if (options.reconnect_initial_ms <= 0 || options.reconnect_max_ms < options.reconnect_initial_ms ||
      options.handshake_timeout_ms <= 0) {
    error = "rdma transport: reconnect_initial_ms and handshake_timeout_ms must be positive and "
            "reconnect_max_ms at least reconnect_initial_ms";
    return nullptr;
  }
  if (options.listen_port < 0 || options.listen_port > 65535) {
    error = "rdma transport: listen port " + std::to_string(options.listen_port) + " out of range";
    return nullptr;
  }
  std::unique_ptr<verbs::Device> device = verbs::Device::open(options.device, error);
  if (!device) {
    error = "rdma transport: " + error;
    return nullptr;
  }
  uint32_t max_wr = device->port().max_qp_wr;
  if (options.send_queue_depth > max_wr || options.recv_queue_depth > max_wr) {
    error = "rdma transport: queue depths above the device's max_qp_wr " + std::to_string(max_wr);
    return nullptr;
  }
  Fd listener = tcp_listen(options.listen_address, options.listen_port, error);
  if (!listener.valid()) {
    error = "rdma transport control listener on " + host_port(options.listen_address, options.listen_port) + ": " +
            error;
    return nullptr;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    error = std::string("rdma transport: getsockname: ") + std::strerror(errno);
    return nullptr;
  }
  int port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  std::unique_ptr<RdmaTransport> t(new RdmaTransport(std::move(options), std::move(device), std::move(listener), port));
  t->comp_channel_ = verbs::CompletionChannel::create(*t->device_, error);
  if (!t->comp_channel_) {
    error = "rdma transport: " + error;
    return nullptr;
  }
  if (!t->epoll_fd_.valid()) {
    error = std::string("rdma transport: epoll_create1: ") + std::strerror(errno);
    return nullptr;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenerTag;
  bool ok = epoll_ctl(t->epoll_fd_.get(), EPOLL_CTL_ADD, t->listener_.get(), &ev) == 0;
  ev.data.u64 = kCompletionChannelTag;
  ok = ok && epoll_ctl(t->epoll_fd_.get(), EPOLL_CTL_ADD, t->comp_channel_.fd(), &ev) == 0;
  if (!ok) {
    error = std::string("rdma transport: epoll_ctl: ") + std::strerror(errno);
    return nullptr;
  }
  for (const auto& [id, address] : t->options_.peers) {
    if (!t->set_peer_address(id, address.first, address.second)) {
      error = "rdma transport: cannot register the rings for peer " + std::to_string(id) + " (see the log)";
      return nullptr;
    }
  }
  UK_INFO("peer transport rdma: server %lld on %s; control on %s; rings of %u KiB per peer and direction",
          static_cast<long long>(t->options_.my_id), t->device_->port().describe().c_str(),
          host_port(t->options_.listen_address, port).c_str(), t->options_.ring_bytes / 1024);
  return t;
}

RdmaTransport::RdmaTransport(RdmaTransportOptions options, std::unique_ptr<verbs::Device> device, Fd listener,
                             int port)
    : options_(std::move(options)),
      device_(std::move(device)),
      listener_(std::move(listener)),
      listen_port_(port),
      epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)),
      recv_wrs_(options_.recv_queue_depth) {}

// Members tear down in order: channels (QPs, then CQs), then the completion channel, rings, device.
RdmaTransport::~RdmaTransport() = default;

bool RdmaTransport::set_peer_address(PeerId peer, std::string host, int port) {
  if (peer == options_.my_id) return true;
  auto [it, inserted] = peers_.try_emplace(peer);
  Peer& p = it->second;
  p.host = std::move(host);
  p.port = port;
  if (inserted) {
    const uint32_t ring = options_.ring_bytes;
    p.inbox_mem = std::make_unique<char[]>(ring);
    p.staging_mem = std::make_unique<char[]>(ring);
    std::string error;
    p.inbox_mr = verbs::MemoryRegion::register_memory(*device_, p.inbox_mem.get(), ring,
                                                      IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE, error);
    if (p.inbox_mr) p.staging_mr = verbs::MemoryRegion::register_memory(*device_, p.staging_mem.get(), ring, 0, error);
    if (!p.inbox_mr || !p.staging_mr) {
      UK_ERROR("rdma transport: peer %lld: %s", static_cast<long long>(peer), error.c_str());
      peers_.erase(it);
      return false;
    }
    p.writer = std::make_unique<rdma::RingWriter>(p.staging_mem.get(), ring);
    p.reader = std::make_unique<rdma::RingReader>(p.inbox_mem.get(), ring, options_.max_message_bytes);
  }
  if (inserted || p.channel == 0) {
    p.redial.restart(now_ms_, options_.reconnect_initial_ms);
  }
  return true;
}

int RdmaTransport::wait_fd() const { return epoll_fd_.get(); }

bool RdmaTransport::connected(PeerId peer) const {
  const Peer* p = find_peer(peer);
  if (p == nullptr || p->channel == 0) return false;
  auto it = chans_.find(p->channel);
  return it != chans_.end() && it->second->state == ChanState::kUp;
}

PeerCounters RdmaTransport::counters(PeerId peer) const {
  const Peer* p = find_peer(peer);
  return p != nullptr ? p->counters : PeerCounters{};
}

RdmaPeerStats RdmaTransport::peer_stats(PeerId peer) const {
  const Peer* p = find_peer(peer);
  if (p == nullptr) return {};
  RdmaPeerStats s = p->stats;
  s.ring_wraps = p->writer->stats().wraps;
  s.fragments = p->writer->stats().fragments;
  return s;
}

void RdmaTransport::disconnect(PeerId peer) {
  Peer* p = find_peer(peer);
  Channel* c = p != nullptr ? find_chan(p->channel) : nullptr;
  if (c != nullptr && c->state == ChanState::kUp) close_chan(*c, "disconnected locally");
}

int64_t RdmaTransport::next_timer_ms() const {
  if (has_queued_work()) return now_ms_;
  std::optional<int64_t> due;
  auto consider = [&due](int64_t t) { due = due ? std::min(*due, t) : t; };
  for (const auto& [id, p] : peers_) {
    if (should_dial(p, id)) consider(p.redial.next_dial_ms);
  }
  for (const auto& [tag, c] : chans_) {
    if (c->state != ChanState::kUp) consider(c->deadline_ms);
  }
  return due.value_or(-1);
}

// ---------------------------------------------------------------------------------------------------------------
// Channel table and epoll registration

RdmaTransport::Peer* RdmaTransport::find_peer(PeerId id) {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : &it->second;
}

const RdmaTransport::Peer* RdmaTransport::find_peer(PeerId id) const {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : &it->second;
}

RdmaTransport::Channel* RdmaTransport::find_chan(uint64_t tag) {
  auto it = chans_.find(tag);
  return it == chans_.end() ? nullptr : it->second.get();
}

RdmaTransport::Channel* RdmaTransport::add_chan(Fd fd, std::string remote, ChanState state, PeerId peer,
                                                uint32_t interest) {
  uint64_t tag = next_tag_++;
  epoll_event ev{};
  ev.events = interest;
  ev.data.u64 = tag;
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd.get(), &ev) != 0) {
    UK_ERROR("rdma transport: epoll_ctl add for %s: %s", remote.c_str(), std::strerror(errno));
    return nullptr;
  }
  auto c = std::make_unique<Channel>();
  c->tag = tag;
  c->fd = std::move(fd);
  c->state = state;
  c->peer = peer;
  c->remote = std::move(remote);
  c->deadline_ms = now_ms_ + options_.handshake_timeout_ms;
  Channel* raw = c.get();
  chans_.emplace(tag, std::move(c));
  return raw;
}

void RdmaTransport::set_interest(Channel& c, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = c.tag;
  epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
}

// ---------------------------------------------------------------------------------------------------------------
// Accepting and dialing

void RdmaTransport::accept_pending() {
  for (int i = 0; i < kMaxAcceptsPerPoll; ++i) {
    std::string ip;
    int port = 0;
    Fd fd = tcp_accept(listener_.get(), ip, port);
    if (!fd.valid()) return;
    std::string remote = host_port(ip, port);
    size_t pending = static_cast<size_t>(std::count_if(chans_.begin(), chans_.end(), [](const auto& kv) {
      return kv.second->state == ChanState::kAwaitHello;
    }));
    if (pending >= kMaxHandshakesInProgress) {
      ++stats_.handshakes_rejected;
      UK_WARN("rdma transport: refused control connection from %s: too many handshakes in progress", remote.c_str());
      continue;
    }
    add_chan(std::move(fd), std::move(remote), ChanState::kAwaitHello, -1, EPOLLIN | EPOLLRDHUP);
  }
}

bool RdmaTransport::should_dial(const Peer& p, PeerId id) const {
  return dials(id) && p.port > 0 && p.channel == 0;
}

void RdmaTransport::start_due_dials() {
  for (auto& [id, p] : peers_) {
    if (should_dial(p, id) && p.redial.due(now_ms_)) start_dial(id, p);
  }
}

void RdmaTransport::start_dial(PeerId id, Peer& p) {
  ++stats_.dials_started;
  std::string remote = host_port(p.host, p.port);
  std::string error;
  Fd fd = tcp_connect_start(p.host, p.port, error);
  if (!fd.valid()) {
    note_dial_failure(id, p, remote, error);
    return;
  }
  Channel* c = add_chan(std::move(fd), remote, ChanState::kConnecting, id, EPOLLOUT);
  if (c == nullptr) {
    schedule_redial(p);
    return;
  }
  p.channel = c->tag;
  if (!create_qp(*c, p, error)) close_chan(*c, error);
}

void RdmaTransport::note_dial_failure(PeerId id, Peer& p, const std::string& remote, const std::string& reason) {
  ++stats_.dials_failed;
  p.redial.failed("rdma dial", id, remote, reason, now_ms_, options_.reconnect_max_ms);
}

void RdmaTransport::schedule_redial(Peer& p) { p.redial.schedule(now_ms_, options_.reconnect_max_ms); }

void RdmaTransport::finish_connect(Channel& c) {
  int err = tcp_connect_result(c.fd.get());
  if (err != 0) {
    close_chan(c, std::string("connect: ") + std::strerror(err));
    return;
  }
  c.state = ChanState::kAwaitReply;
  set_interest(c, EPOLLIN | EPOLLRDHUP);
  c.out.resize(kHelloBytes);
  encode_hello(c, *find_peer(c.peer), c.out.data());
  flush_control(c);
}

// ---------------------------------------------------------------------------------------------------------------
// Queue pairs and the hello

// A channel's QP lives exactly as long as the channel; the peer's rings start over with it.
bool RdmaTransport::create_qp(Channel& c, Peer& p, std::string& error) {
  int entries = static_cast<int>(options_.send_queue_depth + options_.recv_queue_depth);
  c.cq = verbs::CompletionQueue::create(*device_, entries, &comp_channel_, &c, error);
  if (!c.cq) return false;
  verbs::QpCaps caps{options_.send_queue_depth, options_.recv_queue_depth, options_.max_inline_bytes};
  c.qp = verbs::QueuePair::create_rc(*device_, c.cq, c.cq, caps, error);
  if (!c.qp) return false;
  if (!c.qp.to_init(device_->port(), IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE, error)) return false;
  c.local_psn = random_psn();
  p.writer->reset();
  p.reader->reset();
  p.backlog.clear();
  p.backlog_offset = p.backlog_bytes = 0;
  c.recv_to_repost = options_.recv_queue_depth;  // the whole receive queue, posted in INIT
  if (!repost_receives(c)) {
    error = "ibv_post_recv failed on a new queue pair";
    return false;
  }
  return true;
}

void RdmaTransport::encode_hello(const Channel& c, const Peer& p, char* out) const {
  const verbs::PortInfo& port = device_->port();
  std::memset(out, 0, kHelloBytes);
  std::memcpy(out, kMagic, sizeof kMagic);
  put_be(out + kOffVersion, kProtocolVersion, 2);
  put_be(out + kOffFlags, 0, 2);
  put_be(out + kOffId, static_cast<uint64_t>(options_.my_id), 8);
  put_be(out + kOffToken, options_.cluster_token, 8);
  put_be(out + kOffQpn, c.qp.qpn(), 4);
  put_be(out + kOffPsn, c.local_psn, 4);
  std::memcpy(out + kOffGid, port.gid.raw, 16);
  put_be(out + kOffLid, port.lid, 2);
  out[kOffMtu] = static_cast<char>(port.active_mtu);
  put_be(out + kOffRingBytes, options_.ring_bytes, 4);
  put_be(out + kOffRingAddr, reinterpret_cast<uintptr_t>(p.inbox_mr.addr()), 8);
  put_be(out + kOffRkey, p.inbox_mr.rkey(), 4);
}

// What both sides check; the id rules differ by side and are checked by the caller.
std::string RdmaTransport::check_hello(const char* hello, PeerId& id) const {
  if (std::memcmp(hello, kMagic, sizeof kMagic) != 0) return "bad magic (not a ukeeper rdma peer)";
  auto version = static_cast<uint32_t>(get_be(hello + kOffVersion, 2));
  if (version != kProtocolVersion) return "unsupported rdma protocol version " + std::to_string(version);
  uint64_t token = get_be(hello + kOffToken, 8);
  if (token != options_.cluster_token) {
    char why[128];
    std::snprintf(why, sizeof why, "config token mismatch (theirs %016" PRIx64 ", ours %016" PRIx64 ")", token,
                  options_.cluster_token);
    return why;
  }
  id = static_cast<PeerId>(get_be(hello + kOffId, 8));
  auto ring = static_cast<uint32_t>(get_be(hello + kOffRingBytes, 4));
  if (ring != options_.ring_bytes) {
    return "ring size mismatch (theirs " + std::to_string(ring) + ", ours " + std::to_string(options_.ring_bytes) +
           "): set the same rdma ring size on every server";
  }
  auto qpn = get_be(hello + kOffQpn, 4);
  auto psn = get_be(hello + kOffPsn, 4);
  auto mtu = static_cast<unsigned char>(hello[kOffMtu]);
  if (qpn == 0 || qpn > 0xffffff || psn > 0xffffff || mtu < IBV_MTU_256 || mtu > IBV_MTU_4096) {
    return "malformed queue pair parameters";
  }
  return {};
}

// The remote side's QP parameters and ring, from its hello; brings our QP to RTR and RTS.
bool RdmaTransport::connect_qp(Channel& c, const char* hello, std::string& error) {
  verbs::RemoteQp remote;
  remote.qpn = static_cast<uint32_t>(get_be(hello + kOffQpn, 4));
  remote.psn = static_cast<uint32_t>(get_be(hello + kOffPsn, 4));
  std::memcpy(remote.gid.raw, hello + kOffGid, 16);
  remote.lid = static_cast<uint16_t>(get_be(hello + kOffLid, 2));
  remote.mtu = static_cast<ibv_mtu>(static_cast<unsigned char>(hello[kOffMtu]));
  c.remote_ring_addr = get_be(hello + kOffRingAddr, 8);
  c.remote_rkey = static_cast<uint32_t>(get_be(hello + kOffRkey, 4));
  return c.qp.to_rtr(device_->port(), remote, options_.timers, error) &&
         c.qp.to_rts(c.local_psn, options_.timers, error);
}

// ---------------------------------------------------------------------------------------------------------------
// The control connection

bool RdmaTransport::flush_control(Channel& c) {
  while (!c.out.empty()) {
    ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      set_interest(c, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
      return true;
    }
    if (n < 0) {
      close_chan(c, std::string("control send: ") + std::strerror(errno));
      return false;
    }
    c.out.erase(0, static_cast<size_t>(n));
  }
  set_interest(c, EPOLLIN | EPOLLRDHUP);
  return true;
}

void RdmaTransport::on_control(Channel& c, uint32_t events) {
  if (c.state == ChanState::kConnecting) {
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) finish_connect(c);
    return;
  }
  if ((events & EPOLLOUT) != 0 && !c.out.empty() && !flush_control(c)) return;
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0) return;
  char byte = 0;
  char* into = &byte;
  size_t want = 1;
  if (c.state == ChanState::kAwaitHello || c.state == ChanState::kAwaitReply) {
    into = c.in + c.in_bytes;
    want = kHelloBytes - c.in_bytes;
  }
  ssize_t n = ::recv(c.fd.get(), into, want, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    close_chan(c, n == 0 ? "control connection closed by the peer"
                         : std::string("control connection: ") + std::strerror(errno));
    return;
  }
  switch (c.state) {
    case ChanState::kAwaitHello:
    case ChanState::kAwaitReply:
      c.in_bytes += static_cast<size_t>(n);
      if (c.in_bytes == kHelloBytes) on_hello(c);
      return;
    case ChanState::kAwaitReady:
      if (byte == kReadyByte) {
        Peer* p = find_peer(c.peer);
        establish(c, *p);
      } else {
        close_chan(c, "bad ready byte on the control connection");
      }
      return;
    case ChanState::kUp:
      close_chan(c, "unexpected bytes on the control connection");
      return;
    case ChanState::kConnecting:
      return;
  }
}

void RdmaTransport::on_hello(Channel& c) {
  PeerId id = -1;
  std::string problem = check_hello(c.in, id);
  if (!problem.empty()) {
    close_chan(c, problem);
    return;
  }
  if (c.state == ChanState::kAwaitHello) {
    accept_hello(c, id);
  } else {
    finish_dial(c, id);
  }
}

void RdmaTransport::accept_hello(Channel& c, PeerId id) {
  Peer* p = find_peer(id);
  if (id == options_.my_id) {
    close_chan(c, server(id) + " is this server's own id");
    return;
  }
  if (p == nullptr) {
    close_chan(c, "unknown " + server(id));
    return;
  }
  if (id < options_.my_id) {
    close_chan(c, server(id) + " dialed " + server(options_.my_id) + ", but only the higher id dials");
    return;
  }
  if (Channel* old = find_chan(p->channel)) close_chan(*old, "replaced by a new connection from the same server");
  c.peer = id;
  p->channel = c.tag;
  std::string error;
  if (!create_qp(c, *p, error) || !connect_qp(c, c.in, error)) {
    close_chan(c, error);
    return;
  }
  c.state = ChanState::kAwaitReady;
  c.out.resize(kHelloBytes);
  encode_hello(c, *p, c.out.data());
  flush_control(c);
}

void RdmaTransport::finish_dial(Channel& c, PeerId id) {
  if (id != c.peer) {
    close_chan(c, "answered as " + server(id) + ", expected " + server(c.peer) + " (wrong address in the config?)");
    return;
  }
  Peer* p = find_peer(id);
  std::string error;
  if (!connect_qp(c, c.in, error)) {
    close_chan(c, error);
    return;
  }
  c.out.assign(1, kReadyByte);
  if (!flush_control(c)) return;
  p->redial.succeeded(options_.reconnect_initial_ms);
  establish(c, *p);
}

void RdmaTransport::establish(Channel& c, Peer& p) {
  c.state = ChanState::kUp;
  ++p.counters.connects;
  ++stats_.handshakes_completed;
  events_.push_back(PeerEvent{PeerEvent::Kind::kConnected, c.peer, {}});
  UK_INFO("peer %lld connected over rdma (%s %s; QPN %u, path MTU %d, inline %u bytes)",
          static_cast<long long>(c.peer), dials(c.peer) ? "dialed" : "accepted from", c.remote.c_str(), c.qp.qpn(),
          verbs::mtu_bytes(device_->port().active_mtu), c.qp.caps().max_inline_data);
}

// Every way a channel ends. What was in flight is lost (the contract); the peer's rings start over with the next
// channel. `c` is destroyed here.
void RdmaTransport::close_chan(Channel& c, const std::string& reason) {
  Peer* p = c.peer >= 0 ? find_peer(c.peer) : nullptr;
  bool owner = p != nullptr && p->channel == c.tag;
  if (owner) {
    p->channel = 0;
    p->backlog.clear();
    p->backlog_offset = p->backlog_bytes = 0;
  }
  if (owner && c.state == ChanState::kUp) {
    ++p->counters.disconnects;
    events_.push_back(PeerEvent{PeerEvent::Kind::kDisconnected, c.peer, {}});
    UK_INFO("peer %lld disconnected from rdma (%s): %s", static_cast<long long>(c.peer), c.remote.c_str(),
            reason.c_str());
    if (dials(c.peer)) schedule_redial(*p);
  } else if (owner && dials(c.peer)) {
    note_dial_failure(c.peer, *p, c.remote, reason);
  } else {
    ++stats_.handshakes_rejected;
    UK_WARN("rdma transport: refused control connection from %s: %s", c.remote.c_str(), reason.c_str());
  }
  epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
  chans_.erase(c.tag);  // destroys the QP, then the CQ, then closes the socket
}

void RdmaTransport::expire_handshakes() {
  std::vector<uint64_t> expired;
  for (const auto& [tag, c] : chans_) {
    if (c->state != ChanState::kUp && c->deadline_ms <= now_ms_) expired.push_back(tag);
  }
  if (expired.empty()) return;  // the common case, every poll: no string built
  std::string why = "no handshake within " + std::to_string(options_.handshake_timeout_ms) + " ms";
  for (uint64_t tag : expired) {
    if (Channel* c = find_chan(tag)) close_chan(*c, why);
  }
}

}  // namespace uk
