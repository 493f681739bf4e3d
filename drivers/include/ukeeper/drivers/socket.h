// Thin RAII over POSIX sockets and epoll for the client front end. Setup calls return an error string instead
// of throwing; the hot path (read/write on non-blocking fds) is left to the caller.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <string>
#include <utility>

namespace uk {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset();

 private:
  int fd_ = -1;
};

// A non-blocking TCP listener on address:port (IPv4 or IPv6 literal, or "0.0.0.0"). On failure returns an
// invalid Fd and sets `error`.
Fd tcp_listen(const std::string& address, int port, std::string& error);

// Accepts one pending connection as a non-blocking socket with TCP_NODELAY; `peer_ip` and `peer_port` receive
// its address. Returns an invalid Fd when none is pending (or on a transient error).
Fd tcp_accept(int listen_fd, std::string& peer_ip, int& peer_port);

// Starts a non-blocking connect to host:port (TCP_NODELAY set). The returned socket completes (or fails) later:
// it turns writable, and SO_ERROR tells which. On failure to even start, an invalid Fd and `error` (resolver or
// errno text). A hostname costs a resolver lookup, which may block; latency-minded configs use IP literals.
Fd tcp_connect_start(const std::string& host, int port, std::string& error);

// How a connect started by tcp_connect_start ended, once its socket turned writable: 0, or the errno.
int tcp_connect_result(int fd);

bool set_nonblocking(int fd);

class Epoll {
 public:
  Epoll();
  bool valid() const { return fd_.valid(); }
  // Readable whenever an event is ready: lets one Epoll be nested in another's set.
  int fd() const { return fd_.get(); }
  bool add(int fd, uint32_t events, uint64_t tag);
  bool modify(int fd, uint32_t events, uint64_t tag);
  void remove(int fd);
  // Waits up to timeout_us microseconds (epoll_pwait2; < 0 without limit); returns the number of events (0 on
  // timeout or EINTR).
  int wait_us(epoll_event* events, int max_events, int64_t timeout_us);

 private:
  Fd fd_;
};

// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit.
uint64_t raise_fd_limit();

// Wake-up eventfds: one thread signals, another thread's epoll loop sees the fd readable and drains it.
// make_wake_fd() is non-blocking and close-on-exec (invalid on failure); signal_wake_fd() never blocks (a wake-up
// already pending does the job, so errors are ignored); drain_wake_fd() resets it.
Fd make_wake_fd();
void signal_wake_fd(int fd);
void drain_wake_fd(int fd);

}  // namespace uk
