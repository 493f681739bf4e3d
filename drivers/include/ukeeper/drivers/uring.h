// Thin RAII over one liburing ring whose completions also signal an eventfd, so an epoll loop can wait for
// them. Setup (create, destroy) lives in uring.cc; the per-I/O calls in uring_datapath.cc. liburing's types stay
// out of this header.
//
// Thread-safety: one thread owns a Uring (it preps, submits and reaps). Buffers handed to prep_write must stay
// valid and unchanged until the matching completion has been reaped.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

struct io_uring;  // liburing

namespace uk {

struct UringCompletion {
  uint64_t user_data = 0;
  int32_t res = 0;  // bytes written for a write, 0 for fdatasync, -errno on failure (-ECANCELED: broken link)
};

class Uring {
 public:
  // A ring of `entries` submission slots with a non-blocking eventfd registered for completions. Returns null
  // and sets `error` (naming the call and strerror) when the kernel refuses.
  static std::unique_ptr<Uring> create(unsigned entries, std::string& error);
  ~Uring();
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;

  // Readable whenever completions were posted since the last clear_event_fd().
  int event_fd() const { return event_fd_; }

  // Queue a pwrite / fdatasync(IORING_FSYNC_DATASYNC). link_next sets IOSQE_IO_LINK: the next prepared request
  // starts only after this one succeeds in full, and is cancelled (-ECANCELED) otherwise. Returns false when
  // the submission queue is full (call submit() first).
  bool prep_write(int fd, const void* buf, uint32_t len, uint64_t offset, uint64_t user_data, bool link_next);
  // A pwritev2 with RWF_DSYNC: completes once the data is durable, as a write followed by fdatasync would (a
  // failed flush is the write's error). On an O_DIRECT file the kernel needs no worker thread for it, where a
  // separate fdatasync always goes to one.
  bool prep_write_dsync(int fd, const void* buf, uint32_t len, uint64_t offset, uint64_t user_data, bool link_next);
  bool prep_fdatasync(int fd, uint64_t user_data, bool link_next);
  // fsync(2) in full (metadata too): what a directory needs after a rename.
  bool prep_fsync(int fd, uint64_t user_data, bool link_next);
  // fallocate(fd, mode, offset, len); the result is 0 or -errno (-EOPNOTSUPP where the filesystem has none).
  bool prep_fallocate(int fd, int mode, uint64_t offset, uint64_t len, uint64_t user_data, bool link_next);
  // renameat2(old_dir_fd, old_path, new_dir_fd, new_path, flags). Both paths must stay valid until submit().
  bool prep_renameat(int old_dir_fd, const char* old_path, int new_dir_fd, const char* new_path, unsigned flags,
                     uint64_t user_data, bool link_next);
  // Hands everything prepared to the kernel. Returns the number submitted or -errno.
  int submit();
  // Takes one completion if there is one; never blocks.
  bool peek(UringCompletion& out);
  // Blocks until a completion is available and takes it. Returns 0 or -errno.
  int wait(UringCompletion& out);
  // Resets the eventfd counter (call before peeking, so a completion posted meanwhile signals again).
  void clear_event_fd();

 private:
  Uring();

  std::unique_ptr<io_uring> ring_;
  bool ring_ready_ = false;
  int event_fd_ = -1;
};

}  // namespace uk
