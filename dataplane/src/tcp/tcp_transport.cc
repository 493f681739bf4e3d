// TcpTransport setup: listener, dials, the hello handshake, reconnect back-off, the fault hook and channel
// bookkeeping. The per-message path (send, flush, read, framing) is in tcp_transport_datapath.cc.
#include "ukeeper/dataplane/tcp/tcp_transport.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>

#include "ukeeper/common/log.h"

namespace uk {
namespace {

constexpr int64_t kFaultFileRereadMs = 20;
// Connections not yet identified by a hello. Peers need one each at a time (plus one for a restart racing the
// old channel's close); the cap keeps a flood of stray connections from growing conns_ without bound.
constexpr size_t kMaxHandshakesInProgress = 64;
constexpr int kMaxAcceptsPerPoll = 64;
constexpr char kMagic[4] = {'U', 'K', 'P', 'R'};

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

struct Hello {
  bool magic_ok = false;
  uint32_t version = 0;
  uint32_t capabilities = 0;
  PeerId id = 0;
  uint64_t token = 0;
};

void encode_hello(char* out, PeerId id, uint64_t token, uint32_t capabilities) {
  std::memcpy(out, kMagic, 4);
  put_be(out + 4, TcpTransport::kProtocolVersion, 2);
  put_be(out + 6, capabilities | kCapabilityTcp, 4);
  put_be(out + 10, static_cast<uint64_t>(id), 8);
  put_be(out + 18, token, 8);
}

Hello decode_hello(const char* in) {
  Hello h;
  h.magic_ok = std::memcmp(in, kMagic, 4) == 0;
  h.version = static_cast<uint32_t>(get_be(in + 4, 2));
  h.capabilities = static_cast<uint32_t>(get_be(in + 6, 4));
  h.id = static_cast<PeerId>(get_be(in + 10, 8));
  h.token = get_be(in + 18, 8);
  return h;
}

// What both sides check; the id rules differ by side and are checked by the caller.
std::string hello_problem(const Hello& h, uint64_t my_token) {
  char why[160];
  if (!h.magic_ok) return "bad magic (not a ukeeper peer)";
  if (h.version != TcpTransport::kProtocolVersion) {
    std::snprintf(why, sizeof why, "unsupported protocol version %" PRIu32, h.version);
    return why;
  }
  if (h.token != my_token) {
    std::snprintf(why, sizeof why, "config token mismatch (theirs %016" PRIx64 ", ours %016" PRIx64 ")", h.token,
                  my_token);
    return why;
  }
  if ((h.capabilities & kCapabilityTcp) == 0) return "no transport in common (tcp bit missing)";
  return {};
}

std::string host_port(const std::string& host, int port) {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string server(PeerId id) { return "server id " + std::to_string(id); }

}  // namespace

std::unique_ptr<TcpTransport> TcpTransport::open(TcpTransportOptions options, std::string& error) {
  if (options.max_message_bytes == 0 || options.max_message_bytes > std::numeric_limits<uint32_t>::max()) {
    error = "peer transport: max_message_bytes must be between 1 and 2^32-1 (the length prefix is a u32)";
    return nullptr;
  }
  if (options.reconnect_initial_ms <= 0 || options.reconnect_max_ms < options.reconnect_initial_ms ||
      options.handshake_timeout_ms <= 0) {
    error = "peer transport: reconnect_initial_ms and handshake_timeout_ms must be positive and "
            "reconnect_max_ms at least reconnect_initial_ms";
    return nullptr;
  }
  if (options.listen_port < 0 || options.listen_port > 65535) {
    error = "peer transport: listen port " + std::to_string(options.listen_port) + " out of range";
    return nullptr;
  }
  Fd listener = tcp_listen(options.listen_address, options.listen_port, error);
  if (!listener.valid()) {
    error = "peer transport on " + host_port(options.listen_address, options.listen_port) + ": " + error;
    return nullptr;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    error = std::string("peer transport: getsockname: ") + std::strerror(errno);
    return nullptr;
  }
  int port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  std::unique_ptr<TcpTransport> t(new TcpTransport(std::move(options), std::move(listener), port));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;
  if (!t->epoll_fd_.valid() || epoll_ctl(t->epoll_fd_.get(), EPOLL_CTL_ADD, t->listener_.get(), &ev) != 0) {
    error = std::string("peer transport: epoll: ") + std::strerror(errno);
    return nullptr;
  }
  UK_INFO("peer transport tcp: server %lld listening on %s", static_cast<long long>(t->options_.my_id),
          host_port(t->options_.listen_address, port).c_str());
  return t;
}

TcpTransport::TcpTransport(TcpTransportOptions options, Fd listener, int listen_port)
    : options_(std::move(options)),
      listener_(std::move(listener)),
      listen_port_(listen_port),
      epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)) {
  for (const auto& [id, address] : options_.peers) set_peer_address(id, address.first, address.second);
}

// Members close every socket; no events are emitted for a transport that is going away.
TcpTransport::~TcpTransport() = default;

void TcpTransport::set_peer_address(PeerId peer, std::string host, int port) {
  if (peer == options_.my_id) return;
  auto [it, inserted] = peers_.try_emplace(peer);
  Peer& p = it->second;
  p.host = std::move(host);
  p.port = port;
  if (inserted || (p.channel == 0 && p.dialing == 0)) {
    p.redial.restart(now_ms_, options_.reconnect_initial_ms);
  }
}

int TcpTransport::wait_fd() const { return epoll_fd_.get(); }

bool TcpTransport::connected(PeerId peer) const {
  const Peer* p = find_peer(peer);
  return p != nullptr && p->channel != 0;
}

PeerCounters TcpTransport::counters(PeerId peer) const {
  const Peer* p = find_peer(peer);
  return p != nullptr ? p->counters : PeerCounters{};
}

uint32_t TcpTransport::peer_capabilities(PeerId peer) const {
  const Peer* p = find_peer(peer);
  return p != nullptr ? p->capabilities : 0;
}

void TcpTransport::disconnect(PeerId peer) {
  Peer* p = find_peer(peer);
  Conn* c = p != nullptr ? find_conn(p->channel) : nullptr;
  if (c != nullptr) close_conn(*c, "disconnected locally");
}

int64_t TcpTransport::next_timer_ms() const {
  if (!events_.empty() || !dirty_.empty()) return now_ms_;
  std::optional<int64_t> due;
  auto consider = [&due](int64_t t) { due = due ? std::min(*due, t) : t; };
  if (!options_.fault_file.empty()) consider(std::max(next_fault_read_ms_, now_ms_));
  for (const auto& [id, p] : peers_) {
    if (should_dial(p, id)) consider(p.redial.next_dial_ms);
  }
  for (const auto& [tag, c] : conns_) {
    if (c.state != ConnState::kUp) consider(c.deadline_ms);
  }
  return due.value_or(-1);
}

// ---------------------------------------------------------------------------------------------------------------
// Connection table and epoll registration

TcpTransport::Conn* TcpTransport::add_conn(Fd fd, std::string remote, ConnState state, PeerId peer,
                                          uint32_t interest) {
  uint64_t tag = next_tag_++;
  epoll_event ev{};
  ev.events = interest;
  ev.data.u64 = tag;
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd.get(), &ev) != 0) {
    UK_ERROR("peer transport: epoll_ctl add for %s: %s", remote.c_str(), std::strerror(errno));
    return nullptr;
  }
  Conn& c = conns_[tag];
  c.fd = std::move(fd);
  c.tag = tag;
  c.state = state;
  c.peer = peer;
  c.remote = std::move(remote);
  c.interest = interest;
  c.deadline_ms = now_ms_ + options_.handshake_timeout_ms;
  return &c;
}

void TcpTransport::drop_conn(Conn& c) {
  epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
  conns_.erase(c.tag);  // closes the socket; `c` is gone
}

void TcpTransport::set_interest(Conn& c, uint32_t events) {
  if (c.interest == events) return;  // spare the system call in the common case
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = c.tag;
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) == 0) c.interest = events;
}

TcpTransport::Conn* TcpTransport::find_conn(uint64_t tag) {
  auto it = conns_.find(tag);
  return it == conns_.end() ? nullptr : &it->second;
}

TcpTransport::Peer* TcpTransport::find_peer(PeerId id) {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : &it->second;
}

const TcpTransport::Peer* TcpTransport::find_peer(PeerId id) const {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : &it->second;
}

// ---------------------------------------------------------------------------------------------------------------
// Accepting

void TcpTransport::accept_pending() {
  for (int i = 0; i < kMaxAcceptsPerPoll; ++i) {
    std::string ip;
    int port = 0;
    Fd fd = tcp_accept(listener_.get(), ip, port);
    if (!fd.valid()) return;
    ++stats_.connections_accepted;
    std::string remote = host_port(ip, port);
    if (handshakes_in_progress() >= kMaxHandshakesInProgress) {
      ++stats_.handshakes_rejected;
      UK_WARN("refused peer connection from %s: too many handshakes in progress", remote.c_str());
      continue;
    }
    add_conn(std::move(fd), std::move(remote), ConnState::kAwaitHello, -1, EPOLLIN);
  }
}

size_t TcpTransport::handshakes_in_progress() const {
  return static_cast<size_t>(std::count_if(conns_.begin(), conns_.end(), [](const auto& kv) {
    return kv.second.state == ConnState::kAwaitHello;
  }));
}

// ---------------------------------------------------------------------------------------------------------------
// Dialing

bool TcpTransport::should_dial(const Peer& p, PeerId id) const {
  return dials(id) && p.port > 0 && !p.cut && p.channel == 0 && p.dialing == 0;
}

void TcpTransport::start_due_dials() {
  for (auto& [id, p] : peers_) {
    if (should_dial(p, id) && p.redial.due(now_ms_)) start_dial(id, p);
  }
}

// A hostname costs a resolver lookup per dial, which may block; configs for latency use IP literals.
void TcpTransport::start_dial(PeerId id, Peer& p) {
  ++stats_.dials_started;
  std::string remote = host_port(p.host, p.port);
  std::string error;
  Fd fd = tcp_connect_start(p.host, p.port, error);
  if (!fd.valid()) {
    note_dial_failure(id, p, remote, error);
    return;
  }
  // Completion, good or bad, shows as writable; even an immediate success takes that one path.
  Conn* c = add_conn(std::move(fd), std::move(remote), ConnState::kConnecting, id, EPOLLOUT);
  if (c == nullptr) {
    schedule_redial(p);
    return;
  }
  p.dialing = c->tag;
}

// A peer that is down fails every dial for as long as it is down: one line per streak, the rest at debug level.
void TcpTransport::note_dial_failure(PeerId id, Peer& p, const std::string& remote, const std::string& reason) {
  ++stats_.dials_failed;
  p.redial.failed("dial", id, remote, reason, now_ms_, options_.reconnect_max_ms);
}

void TcpTransport::finish_connect(Conn& c) {
  int err = tcp_connect_result(c.fd.get());
  if (err != 0) {
    close_conn(c, std::string("connect: ") + std::strerror(err));
    return;
  }
  c.state = ConnState::kAwaitReply;
  send_hello(c);
}

void TcpTransport::schedule_redial(Peer& p) { p.redial.schedule(now_ms_, options_.reconnect_max_ms); }

// ---------------------------------------------------------------------------------------------------------------
// Handshake

bool TcpTransport::send_hello(Conn& c) {
  char hello[kHelloBytes];
  encode_hello(hello, options_.my_id, options_.cluster_token, options_.capabilities);
  c.out.append(hello, sizeof hello);
  return flush(c);
}

bool TcpTransport::on_hello(Conn& c) {
  if (c.in.size() >= sizeof kMagic && std::memcmp(c.in.data(), kMagic, sizeof kMagic) != 0) {
    refuse(c, "bad magic (not a ukeeper peer)", true);  // no need to wait for garbage to fill a hello
    return false;
  }
  if (c.in.size() < kHelloBytes) return true;
  Hello h = decode_hello(c.in.data());
  std::string problem = hello_problem(h, options_.cluster_token);
  if (!problem.empty()) {
    refuse(c, problem, true);
    return false;
  }
  c.in.consume(kHelloBytes);
  c.peer_capabilities = h.capabilities;
  return c.state == ConnState::kAwaitHello ? accept_hello(c, h.id) : finish_dial(c, h.id);
}

bool TcpTransport::accept_hello(Conn& c, PeerId id) {
  Peer* p = find_peer(id);
  if (id == options_.my_id) {
    refuse(c, server(id) + " is this server's own id", true);
  } else if (p == nullptr) {
    refuse(c, "unknown " + server(id), true);
  } else if (id < options_.my_id) {
    refuse(c, server(id) + " dialed " + server(options_.my_id) + ", but only the higher id dials", true);
  } else if (p->cut) {
    refuse(c, server(id) + " is cut by the fault file", false);
  } else {
    c.peer = id;
    if (!send_hello(c)) return false;
    Conn* old = find_conn(p->channel);
    if (old != nullptr) close_conn(*old, "replaced by a new connection from the same server");
    establish(c, *p);
    return true;
  }
  return false;
}

bool TcpTransport::finish_dial(Conn& c, PeerId id) {
  if (id != c.peer) {
    close_conn(c, "answered as " + server(id) + ", expected " + server(c.peer) + " (wrong address in the config?)");
    return false;
  }
  Peer* p = find_peer(id);
  if (p == nullptr) {  // cannot happen: peers are never removed, and the dial was made for this one
    close_conn(c, "peer vanished");
    return false;
  }
  p->dialing = 0;
  p->redial.succeeded(options_.reconnect_initial_ms);
  establish(c, *p);
  return true;
}

void TcpTransport::establish(Conn& c, Peer& p) {
  c.state = ConnState::kUp;
  p.channel = c.tag;
  p.capabilities = c.peer_capabilities;
  ++p.counters.connects;
  events_.push_back(PeerEvent{PeerEvent::Kind::kConnected, c.peer, {}});
  UK_INFO("peer %lld connected over tcp (%s %s)", static_cast<long long>(c.peer),
          dials(c.peer) ? "dialed" : "accepted from", c.remote.c_str());
}

// An acceptor's refusal is its own: count and log it here. A dialer's refusal is a failed dial.
void TcpTransport::refuse(Conn& c, const std::string& reason, bool loudly) {
  if (c.state != ConnState::kAwaitHello) {
    close_conn(c, reason);
    return;
  }
  ++stats_.handshakes_rejected;
  if (loudly) {
    UK_WARN("refused peer connection from %s: %s", c.remote.c_str(), reason.c_str());
  } else {
    UK_DEBUG("refused peer connection from %s: %s", c.remote.c_str(), reason.c_str());
  }
  drop_conn(c);
}

void TcpTransport::close_conn(Conn& c, const std::string& reason) {
  Peer* p = c.state == ConnState::kAwaitHello ? nullptr : find_peer(c.peer);
  if (p != nullptr && p->channel == c.tag) {
    p->channel = 0;
    ++p->counters.disconnects;
    events_.push_back(PeerEvent{PeerEvent::Kind::kDisconnected, c.peer, {}});
    UK_INFO("peer %lld disconnected (%s): %s", static_cast<long long>(c.peer), c.remote.c_str(), reason.c_str());
    if (dials(c.peer)) schedule_redial(*p);
  } else if (p != nullptr && p->dialing == c.tag) {
    p->dialing = 0;
    note_dial_failure(c.peer, *p, c.remote, reason);
  } else if (c.state == ConnState::kAwaitHello) {
    ++stats_.handshakes_rejected;
    UK_DEBUG("peer connection from %s closed before its hello: %s", c.remote.c_str(), reason.c_str());
  }
  drop_conn(c);
}

void TcpTransport::expire_handshakes() {
  std::vector<uint64_t> expired;
  for (const auto& [tag, c] : conns_) {
    if (c.state != ConnState::kUp && c.deadline_ms <= now_ms_) expired.push_back(tag);
  }
  if (expired.empty()) return;  // the common case, every poll: no string built
  std::string why = "no handshake within " + std::to_string(options_.handshake_timeout_ms) + " ms";
  for (uint64_t tag : expired) {
    if (Conn* c = find_conn(tag)) refuse(*c, why, true);  // each close touches only its own conn
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Fault hook

void TcpTransport::reread_fault_file_if_due() {
  if (options_.fault_file.empty() || now_ms_ < next_fault_read_ms_) return;
  next_fault_read_ms_ = now_ms_ + kFaultFileRereadMs;
  std::vector<PeerId> cut_ids;
  std::ifstream file(options_.fault_file);
  std::string word;
  while (file >> word) {
    char* end = nullptr;
    errno = 0;
    long long id = std::strtoll(word.c_str(), &end, 10);
    if (errno == 0 && end != word.c_str() && *end == '\0') cut_ids.push_back(id);
  }
  apply_cuts(cut_ids);
}

void TcpTransport::apply_cuts(const std::vector<PeerId>& cut_ids) {
  for (auto& [id, p] : peers_) {
    bool cut = std::find(cut_ids.begin(), cut_ids.end(), id) != cut_ids.end();
    if (cut == p.cut) continue;
    p.cut = cut;
    UK_WARN("fault file %s: peer %lld %s", options_.fault_file.c_str(), static_cast<long long>(id),
            cut ? "cut from this server" : "no longer cut");
    if (!cut) {
      p.redial.restart(now_ms_, options_.reconnect_initial_ms);
      continue;
    }
    if (Conn* dialing = find_conn(p.dialing)) {
      p.dialing = 0;
      drop_conn(*dialing);  // not a failure worth a log line: we gave it up
    }
    if (Conn* channel = find_conn(p.channel)) close_conn(*channel, "cut by the fault file");
  }
}

}  // namespace uk
