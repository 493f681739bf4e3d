// Uring per-I/O calls: prep, submit, reap. No allocation, no logging.
#include <liburing.h>
#include <unistd.h>

#include <cerrno>

#include "ukeeper/drivers/uring.h"

namespace uk {

namespace {

// Takes a submission slot, lets `fill` prepare it, tags it and links it to the next one when asked. False when
// the submission queue is full.
template <typename Fill>
bool prep(io_uring* ring, uint64_t user_data, bool link_next, Fill fill) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  if (sqe == nullptr) return false;
  fill(sqe);
  io_uring_sqe_set_data64(sqe, user_data);
  if (link_next) sqe->flags |= IOSQE_IO_LINK;
  return true;
}

}  // namespace

bool Uring::prep_write(int fd, const void* buf, uint32_t len, uint64_t offset, uint64_t user_data,
                       bool link_next) {
  return prep(ring_.get(), user_data, link_next,
              [&](io_uring_sqe* sqe) { io_uring_prep_write(sqe, fd, buf, len, offset); });
}

bool Uring::prep_write_dsync(int fd, const void* buf, uint32_t len, uint64_t offset, uint64_t user_data,
                             bool link_next) {
  return prep(ring_.get(), user_data, link_next, [&](io_uring_sqe* sqe) {
    io_uring_prep_write(sqe, fd, buf, len, offset);
    sqe->rw_flags = RWF_DSYNC;
  });
}

bool Uring::prep_fdatasync(int fd, uint64_t user_data, bool link_next) {
  return prep(ring_.get(), user_data, link_next,
              [&](io_uring_sqe* sqe) { io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC); });
}

bool Uring::prep_fsync(int fd, uint64_t user_data, bool link_next) {
  return prep(ring_.get(), user_data, link_next, [&](io_uring_sqe* sqe) { io_uring_prep_fsync(sqe, fd, 0); });
}

bool Uring::prep_fallocate(int fd, int mode, uint64_t offset, uint64_t len, uint64_t user_data, bool link_next) {
  return prep(ring_.get(), user_data, link_next, [&](io_uring_sqe* sqe) {
    io_uring_prep_fallocate(sqe, fd, mode, static_cast<off_t>(offset), static_cast<off_t>(len));
  });
}

bool Uring::prep_renameat(int old_dir_fd, const char* old_path, int new_dir_fd, const char* new_path, unsigned flags,
                          uint64_t user_data, bool link_next) {
  return prep(ring_.get(), user_data, link_next, [&](io_uring_sqe* sqe) {
    io_uring_prep_renameat(sqe, old_dir_fd, old_path, new_dir_fd, new_path, flags);
  });
}

int Uring::submit() {
  for (;;) {
    int rc = io_uring_submit(ring_.get());
    if (rc != -EINTR) return rc;
  }
}

bool Uring::peek(UringCompletion& out) {
  io_uring_cqe* cqe = nullptr;
  if (io_uring_peek_cqe(ring_.get(), &cqe) != 0 || cqe == nullptr) return false;
  out.user_data = io_uring_cqe_get_data64(cqe);
  out.res = cqe->res;
  io_uring_cqe_seen(ring_.get(), cqe);
  return true;
}

int Uring::wait(UringCompletion& out) {
  io_uring_cqe* cqe = nullptr;
  int rc;
  do {
    rc = io_uring_wait_cqe(ring_.get(), &cqe);
  } while (rc == -EINTR);
  if (rc < 0) return rc;
  out.user_data = io_uring_cqe_get_data64(cqe);
  out.res = cqe->res;
  io_uring_cqe_seen(ring_.get(), cqe);
  return 0;
}

void Uring::clear_event_fd() {
  uint64_t count = 0;
  // Non-blocking: EAGAIN just means nothing was signalled.
  [[maybe_unused]] ssize_t n = ::read(event_fd_, &count, sizeof count);
}

}  // namespace uk
