// Uring setup and teardown (the per-I/O calls are in uring_datapath.cc).
#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>

#include "ukeeper/drivers/uring.h"

namespace uk {

Uring::Uring() : ring_(std::make_unique<io_uring>()) {}

Uring::~Uring() {
  if (ring_ready_) io_uring_queue_exit(ring_.get());  // also unregisters the eventfd
  if (event_fd_ >= 0) ::close(event_fd_);
}

std::unique_ptr<Uring> Uring::create(unsigned entries, std::string& error) {
  std::unique_ptr<Uring> u(new Uring());
  std::memset(u->ring_.get(), 0, sizeof(io_uring));
  int rc = io_uring_queue_init(entries, u->ring_.get(), 0);
  if (rc < 0) {
    error = std::string("io_uring_queue_init: ") + std::strerror(-rc);
    return nullptr;
  }
  u->ring_ready_ = true;
  u->event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (u->event_fd_ < 0) {
    error = std::string("eventfd: ") + std::strerror(errno);
    return nullptr;
  }
  rc = io_uring_register_eventfd(u->ring_.get(), u->event_fd_);
  if (rc < 0) {
    error = std::string("io_uring_register_eventfd: ") + std::strerror(-rc);
    return nullptr;
  }
  return u;
}

}  // namespace uk
