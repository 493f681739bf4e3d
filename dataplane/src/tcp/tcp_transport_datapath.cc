// TcpTransport data path: send, the poll loop, output flushing, reads and framing. Setup, handshake and
// reconnects are in tcp_transport.cc.
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <iterator>

#include "ukeeper/common/log.h"
#include "ukeeper/dataplane/tcp/tcp_transport.h"

namespace uk {
namespace {

constexpr size_t kFrameHeaderBytes = 4;
// Reads ask for at least this much room: a turn's worth of small frames arrives in one recv.
constexpr size_t kReadChunkBytes = 256 * 1024;
// Per channel per poll, so one peer streaming a snapshot cannot starve the others (epoll is level-triggered: the
// rest is read on the next poll).
constexpr size_t kReadBudgetBytes = 8 * 1024 * 1024;
// When a frame's length is known, room for it is made at once rather than by doubling, up to this much; the cap
// is what a peer can make us allocate ahead of its bytes arriving.
constexpr size_t kFrameReserveBytes = 64 * 1024 * 1024;
constexpr size_t kMinBufferBytes = 64 * 1024;
// A buffer grown beyond this by a big message is freed once empty; below it, kept to avoid churn.
constexpr size_t kIdleBufferKeepBytes = 4 * 1024 * 1024;
constexpr int kMaxEventsPerPoll = 256;

uint32_t get_be32(const char* in) {
  auto b = [in](int i) { return static_cast<uint32_t>(static_cast<unsigned char>(in[i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

void put_be32(char* out, uint32_t v) {
  out[0] = static_cast<char>(v >> 24);
  out[1] = static_cast<char>(v >> 16);
  out[2] = static_cast<char>(v >> 8);
  out[3] = static_cast<char>(v);
}

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// ByteQueue

void TcpTransport::ByteQueue::consume(size_t n) {
  head_ += n;
  if (head_ == tail_) head_ = tail_ = 0;  // the common case: everything went, nothing to move
}

char* TcpTransport::ByteQueue::prepare(size_t n) {
  if (capacity_ - tail_ >= n) return buf_.get() + tail_;
  size_t live = size();
  // Compacting moves `live` bytes to free `head_`: worth it only when it frees at least as much as it moves, which
  // keeps every byte's share of the copying constant however the queue is used.
  if (head_ >= live && capacity_ - live >= n) {
    std::memmove(buf_.get(), buf_.get() + head_, live);
  } else {
    size_t capacity = std::max({capacity_ * 2, live + n, kMinBufferBytes});
    auto grown = std::make_unique_for_overwrite<char[]>(capacity);
    if (live > 0) std::memcpy(grown.get(), buf_.get() + head_, live);
    buf_ = std::move(grown);
    capacity_ = capacity;
  }
  head_ = 0;
  tail_ = live;
  return buf_.get() + tail_;
}

void TcpTransport::ByteQueue::append(const void* bytes, size_t n) {
  if (n == 0) return;
  std::memcpy(prepare(n), bytes, n);
  commit(n);
}

void TcpTransport::ByteQueue::release_if_big_and_empty() {
  if (!empty() || capacity_ <= kIdleBufferKeepBytes) return;
  buf_.reset();
  capacity_ = head_ = tail_ = 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Sending

bool TcpTransport::send(PeerId peer, std::string_view message) {
  Peer* p = find_peer(peer);
  Conn* c = p != nullptr ? find_conn(p->channel) : nullptr;
  if (c == nullptr) {
    if (p != nullptr) ++p->counters.dropped;
    return false;
  }
  if (message.size() > options_.max_message_bytes) {
    ++p->counters.dropped;  // the receiver would close the channel over it; refuse it here instead
    UK_WARN("not sending a %zu-byte message to peer %lld: above max_message_bytes %zu", message.size(),
            static_cast<long long>(peer), options_.max_message_bytes);
    return false;
  }
  ++p->counters.messages_sent;
  p->counters.bytes_sent += message.size();
  char header[kFrameHeaderBytes];
  put_be32(header, static_cast<uint32_t>(message.size()));
  if (c->out.empty() && c->immediate_turn != turn_) {
    c->immediate_turn = turn_;
    send_now(*c, {header, sizeof header}, message);
    return true;  // even if the channel broke just now: the message was taken, and kDisconnected tells the rest
  }
  c->out.append(header, sizeof header);
  c->out.append(message.data(), message.size());
  if (!c->deferred && (c->interest & EPOLLOUT) == 0) {
    c->deferred = true;
    dirty_.push_back(c->tag);
  }
  return true;
}

// Sends straight from the caller's memory; only what the kernel does not take is copied into the output buffer.
bool TcpTransport::send_now(Conn& c, std::string_view header, std::string_view payload) {
  iovec iov[2] = {{const_cast<char*>(header.data()), header.size()},
                  {const_cast<char*>(payload.data()), payload.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = payload.empty() ? 1 : 2;
  ssize_t n;
  do {
    n = ::sendmsg(c.fd.get(), &msg, MSG_NOSIGNAL);
    ++stats_.write_calls;
  } while (n < 0 && errno == EINTR);
  if (n < 0 && !would_block(errno)) {
    close_conn(c, std::string("send: ") + std::strerror(errno));
    return false;
  }
  size_t sent = n < 0 ? 0 : static_cast<size_t>(n);
  size_t header_sent = std::min(sent, header.size());
  c.out.append(header.data() + header_sent, header.size() - header_sent);
  c.out.append(payload.data() + (sent - header_sent), payload.size() - (sent - header_sent));
  if (!c.out.empty()) set_interest(c, EPOLLIN | EPOLLOUT);
  return true;
}

// One send(2) for everything queued: the batching of a turn's small messages happens here.
bool TcpTransport::flush(Conn& c) {
  if (!c.out.empty()) {
    ssize_t n;
    do {
      n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
      ++stats_.write_calls;
    } while (n < 0 && errno == EINTR);
    if (n < 0 && !would_block(errno)) {
      close_conn(c, std::string("send: ") + std::strerror(errno));
      return false;
    }
    if (n > 0) c.out.consume(static_cast<size_t>(n));
  }
  if (c.out.empty()) c.out.release_if_big_and_empty();
  // A short send means the socket buffer is full: wait for EPOLLOUT rather than spin on EAGAIN.
  set_interest(c, c.out.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT);
  return true;
}

void TcpTransport::flush_deferred() {
  for (uint64_t tag : dirty_) {  // flush() never adds to dirty_
    Conn* c = find_conn(tag);
    if (c == nullptr) continue;  // closed since
    c->deferred = false;
    flush(*c);
  }
  dirty_.clear();
}

// ---------------------------------------------------------------------------------------------------------------
// The poll loop

void TcpTransport::poll(int64_t now_ms, std::vector<PeerEvent>& out) {
  now_ms_ = now_ms;
  ++turn_;
  flush_deferred();
  reread_fault_file_if_due();
  handle_ready_sockets();
  expire_handshakes();
  start_due_dials();
  if (out.empty()) {
    out.swap(events_);
  } else {
    out.insert(out.end(), std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
    events_.clear();
  }
}

void TcpTransport::handle_ready_sockets() {
  epoll_event ready[kMaxEventsPerPoll];
  int n = epoll_wait(epoll_fd_.get(), ready, kMaxEventsPerPoll, 0);
  for (int i = 0; i < n; ++i) {
    uint64_t tag = ready[i].data.u64;
    if (tag == 0) {
      accept_pending();
    } else if (Conn* c = find_conn(tag)) {
      on_ready(*c, ready[i].events);
    }
  }
}

void TcpTransport::on_ready(Conn& c, uint32_t events) {
  if (c.state == ConnState::kConnecting) {
    finish_connect(c);
    return;
  }
  if ((events & EPOLLOUT) != 0 && !flush(c)) return;
  if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) read_ready(c);
}

// ---------------------------------------------------------------------------------------------------------------
// Receiving

bool TcpTransport::read_ready(Conn& c) {
  size_t budget = kReadBudgetBytes;
  while (budget > 0) {
    char* room = c.in.prepare(kReadChunkBytes);
    size_t room_bytes = c.in.writable();
    ssize_t n = ::recv(c.fd.get(), room, room_bytes, 0);
    ++stats_.read_calls;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && would_block(errno)) break;
    if (n <= 0) {
      close_conn(c, n == 0 ? "closed by the other side" : std::string("recv: ") + std::strerror(errno));
      return false;
    }
    c.in.commit(static_cast<size_t>(n));
    if (!parse_input(c)) return false;
    if (static_cast<size_t>(n) < room_bytes) break;  // a short read drained the socket: skip the EAGAIN call
    budget -= std::min(budget, static_cast<size_t>(n));
  }
  c.in.release_if_big_and_empty();
  return true;
}

bool TcpTransport::parse_input(Conn& c) {
  if (c.state != ConnState::kUp) {
    if (!on_hello(c)) return false;
    if (c.state != ConnState::kUp) return true;  // the hello is still incomplete
  }
  return deliver_frames(c);
}

bool TcpTransport::deliver_frames(Conn& c) {
  Peer* peer = find_peer(c.peer);
  if (peer == nullptr) {  // cannot happen: a kUp conn is a known peer's channel, and peers are never removed
    close_conn(c, "peer vanished");
    return false;
  }
  Peer& p = *peer;
  while (c.in.size() >= kFrameHeaderBytes) {
    uint32_t length = get_be32(c.in.data());
    if (length > options_.max_message_bytes) {
      ++p.counters.dropped;
      UK_WARN("peer %lld (%s) sent a frame of %u bytes, above max_message_bytes %zu: protocol error",
              static_cast<long long>(c.peer), c.remote.c_str(), length, options_.max_message_bytes);
      close_conn(c, "protocol error: oversized frame");
      return false;
    }
    size_t frame_bytes = kFrameHeaderBytes + length;
    if (c.in.size() < frame_bytes) {
      c.in.prepare(std::min(frame_bytes - c.in.size(), kFrameReserveBytes));
      break;
    }
    std::string message(c.in.data() + kFrameHeaderBytes, length);
    events_.push_back(PeerEvent{PeerEvent::Kind::kMessage, c.peer, std::move(message)});
    c.in.consume(frame_bytes);
    ++p.counters.messages_received;
    p.counters.bytes_received += length;
  }
  return true;
}

}  // namespace uk
