#include "ukeeper/client/connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>

#include "ukeeper/common/jute.h"

namespace uk::client {
namespace {

constexpr int32_t kXidWatchEvent = -1;
constexpr int32_t kXidPing = -2;
constexpr size_t kReadChunkBytes = 64 * 1024;
// Largest frame accepted: jute.maxbuffer's default (1 MiB) plus headers.
constexpr int32_t kMaxFrameBytes = (1 << 20) + 1024;

int32_t read_be32(const char* p) {
  return static_cast<int32_t>((static_cast<uint32_t>(static_cast<uint8_t>(p[0])) << 24) |
                              (static_cast<uint32_t>(static_cast<uint8_t>(p[1])) << 16) |
                              (static_cast<uint32_t>(static_cast<uint8_t>(p[2])) << 8) |
                              static_cast<uint32_t>(static_cast<uint8_t>(p[3])));
}

int connect_tcp(const std::string& host, int port, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port_str = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), port_str.c_str(), &hints, &res); rc != 0) {
    *error = "resolve " + host + ": " + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    *error = "connect " + host + ":" + port_str + ": " + std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

}  // namespace

Connection::Connection(int fd, size_t max_in_flight)
    : fd_(fd), fifo_(max_in_flight), in_(kReadChunkBytes), last_send_(Clock::now()) {}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

std::unique_ptr<Connection> Connection::open(const Options& options, std::string* error) {
  assert(options.max_in_flight > 0);
  int fd = connect_tcp(options.host, options.port, error);
  if (fd < 0) return nullptr;
  std::unique_ptr<Connection> c(new Connection(fd, options.max_in_flight));
  if (!c->handshake(options, error)) return nullptr;
  return c;
}

bool Connection::wait_fd(short events, int timeout_ms) {
  pollfd p{fd_, events, 0};
  int rc = ::poll(&p, 1, timeout_ms);
  return rc > 0;
}

bool Connection::handshake(const Options& options, std::string* error) {
  JuteWriter w(out_);
  size_t frame = w.begin_frame();
  w.put_int(0);   // protocol version
  w.put_long(0);  // last zxid seen
  w.put_int(options.session_timeout_ms);
  w.put_long(0);  // session id: new session
  w.put_buffer(std::string_view("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16));
  w.put_bool(false);  // read-only
  w.end_frame(frame);
  auto deadline = Clock::now() + std::chrono::milliseconds(options.connect_timeout_ms);
  auto left_ms = [&] {
    return static_cast<int>(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count()));
  };
  while (wants_write()) {
    if (!flush() || (wants_write() && !wait_fd(POLLOUT, left_ms()))) {
      *error = "handshake: send failed";
      return false;
    }
  }
  // The connect response: protocol version, timeout, session id, password, (read-only byte).
  while (in_end_ - in_begin_ < 4 || in_end_ - in_begin_ < 4 + static_cast<size_t>(read_be32(&in_[in_begin_]))) {
    if (!wait_fd(POLLIN, left_ms())) {
      *error = "handshake: no response";
      return false;
    }
    ssize_t n = ::read(fd_, in_.data() + in_end_, in_.size() - in_end_);
    if (n <= 0) {
      *error = "handshake: connection closed by server";
      return false;
    }
    in_end_ += static_cast<size_t>(n);
  }
  int32_t len = read_be32(&in_[in_begin_]);
  JuteReader r(std::string_view(&in_[in_begin_ + 4], static_cast<size_t>(len)));
  r.get_int();
  timeout_ms_ = r.get_int();
  session_id_ = r.get_long();
  r.get_buffer();
  if (!r.ok() || timeout_ms_ <= 0) {
    *error = "handshake: session refused";
    return false;
  }
  in_begin_ += 4 + static_cast<size_t>(len);
  return true;
}

int32_t Connection::submit(int32_t type, std::string_view body, uint64_t cookie) {
  if (!ok_ || fifo_count_ == fifo_.size()) return -1;
  int32_t xid = next_xid_;
  next_xid_ = next_xid_ == INT32_MAX ? 1 : next_xid_ + 1;
  JuteWriter w(out_);
  size_t frame = w.begin_frame();
  w.put_int(xid);
  w.put_int(type);
  out_.append(body);
  w.end_frame(frame);
  fifo_[(fifo_head_ + fifo_count_) % fifo_.size()] = Pending{xid, type, cookie};
  fifo_count_++;
  return xid;
}

bool Connection::flush() {
  while (ok_ && out_sent_ < out_.size()) {
    ssize_t n = ::send(fd_, out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      fail();
      return false;
    }
    out_sent_ += static_cast<size_t>(n);
    last_send_ = Clock::now();
  }
  if (out_sent_ == out_.size()) {
    out_.clear();  // keeps capacity: no allocation in the steady state
    out_sent_ = 0;
  }
  return ok_;
}

bool Connection::on_readable() {
  while (ok_) {
    if (in_begin_ == in_end_) {
      in_begin_ = in_end_ = 0;
    } else if (in_.size() - in_end_ < kReadChunkBytes / 4) {
      // Compact: move the partial frame to the front.
      std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
      in_end_ -= in_begin_;
      in_begin_ = 0;
      if (in_.size() - in_end_ < kReadChunkBytes / 4) in_.resize(in_.size() * 2);
    }
    ssize_t n = ::read(fd_, in_.data() + in_end_, in_.size() - in_end_);
    if (n == 0) {
      fail();
      return false;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      fail();
      return false;
    }
    in_end_ += static_cast<size_t>(n);
    while (ok_ && in_end_ - in_begin_ >= 4) {
      int32_t len = read_be32(&in_[in_begin_]);
      if (len < 16 || len > kMaxFrameBytes) {
        fail();
        return false;
      }
      if (in_end_ - in_begin_ < 4 + static_cast<size_t>(len)) {
        if (in_.size() < 4 + static_cast<size_t>(len) + kReadChunkBytes) in_.resize(4 + len + kReadChunkBytes);
        break;
      }
      dispatch(std::string_view(&in_[in_begin_ + 4], static_cast<size_t>(len)));
      in_begin_ += 4 + static_cast<size_t>(len);
    }
  }
  return false;
}

void Connection::dispatch(std::string_view frame) {
  JuteReader r(frame);
  Reply reply;
  reply.xid = r.get_int();
  reply.zxid = r.get_long();
  reply.err = r.get_int();
  if (reply.xid == kXidPing) return;
  if (reply.xid == kXidWatchEvent) {
    WatchEvent ev;
    ev.type = r.get_int();
    ev.state = r.get_int();
    size_t at = r.position();
    std::string path = r.get_string();
    if (!r.ok()) return fail();
    ev.path = frame.substr(at + 4, path.size());
    if (on_watch_) on_watch_(ev);
    return;
  }
  if (fifo_count_ == 0 || fifo_[fifo_head_].xid != reply.xid) return fail();  // out-of-order reply
  const Pending& p = fifo_[fifo_head_];
  reply.op = p.type;
  reply.cookie = p.cookie;
  fifo_head_ = (fifo_head_ + 1) % fifo_.size();
  fifo_count_--;
  reply.body = frame.substr(16);
  if (reply.xid == call_xid_ && call_xid_ != 0) {
    call_done_ = true;
    call_err_ = reply.err;
    if (call_body_ != nullptr) call_body_->assign(reply.body);
    return;
  }
  if (on_reply_) on_reply_(reply);
}

void Connection::ping_if_idle(Clock::time_point now) {
  if (!ok_ || now - last_send_ < std::chrono::milliseconds(timeout_ms_ / 3)) return;
  JuteWriter w(out_);
  size_t frame = w.begin_frame();
  w.put_int(kXidPing);
  w.put_int(op::kPing);
  w.end_frame(frame);
  flush();
}

int32_t Connection::call(int32_t type, std::string_view body, std::string* reply_body, int timeout_ms) {
  int32_t xid = submit(type, body, 0);
  if (xid < 0) return err::kConnectionLoss;
  call_xid_ = xid;
  call_done_ = false;
  call_body_ = reply_body;
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (ok_ && !call_done_ && Clock::now() < deadline) {
    if (!flush()) break;
    if (wait_fd(wants_write() ? POLLIN | POLLOUT : POLLIN, 50)) on_readable();
  }
  call_xid_ = 0;
  call_body_ = nullptr;
  return call_done_ ? call_err_ : err::kConnectionLoss;
}

bool Connection::close_session(int timeout_ms) {
  int32_t rc = call(op::kCloseSession, std::string_view(), nullptr, timeout_ms);
  ::close(fd_);
  fd_ = -1;
  ok_ = false;
  return rc == err::kOk;
}

}  // namespace uk::client
