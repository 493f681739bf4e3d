// Wal::open: scan, repair, position appends. Runs once at start-up; may block.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "ukeeper/common/log.h"
#include "wal_impl.h"

namespace uk {
namespace wal {
namespace {

std::string errno_text(const char* op, const std::string& path, int err) {
  return std::string("wal: ") + op + " " + path + ": " + std::strerror(err);
}

// Tries an aligned 4 KiB O_DIRECT write in `dir`. Empty on success, else why O_DIRECT cannot be used.
std::string probe_direct_io(const std::string& dir) {
  const std::string path = dir + "/.wal-direct-probe";
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_DIRECT | O_CLOEXEC, 0644);
  if (fd < 0) return errno_text("open O_DIRECT", path, errno);
  AlignedBuffer buf;
  std::string why;
  if (!buf.reserve(kBlockBytes, 0)) {
    why = "out of memory";
  } else {
    std::memset(buf.data(), 0, kBlockBytes);
    ssize_t n = ::pwrite(fd, buf.data(), kBlockBytes, 0);
    if (n != static_cast<ssize_t>(kBlockBytes)) {
      why = n < 0 ? errno_text("O_DIRECT write", path, errno) : "wal: short O_DIRECT write to " + path;
    }
  }
  ::close(fd);
  ::unlink(path.c_str());
  return why;
}

void note(WalRecovery& recovery, bool warn, const std::string& line) {
  if (warn) {
    UK_WARN("%s", line.c_str());
  } else {
    UK_INFO("%s", line.c_str());
  }
  recovery.messages.push_back(line);
}

}  // namespace

[[noreturn]] void invariant_failed(const char* what, long long a, long long b) {
  std::fprintf(stderr, "ukeeper: wal invariant broken: %s (%lld, %lld)\n", what, a, b);
  std::abort();
}

bool fsync_dir(const std::string& dir, std::string& error) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    error = errno_text("open directory", dir, errno);
    return false;
  }
  bool ok = ::fsync(fd) == 0;
  if (!ok) error = errno_text("fsync directory", dir, errno);
  ::close(fd);
  return ok;
}

bool AlignedBuffer::reserve(uint64_t bytes, uint64_t keep) {
  if (bytes <= capacity_) return true;
  uint64_t want = round_up_block(std::max(bytes, capacity_ * 2));
  void* p = nullptr;
  if (::posix_memalign(&p, kBlockBytes, want) != 0) return false;
  if (keep > 0) std::memcpy(p, data_, keep);
  std::free(data_);
  data_ = static_cast<uint8_t*>(p);
  capacity_ = want;
  return true;
}

WalImpl::WalImpl(const WalOptions& options)
    : options_(options),
      max_in_flight_(std::clamp(options.max_batches_in_flight, 1, static_cast<int>(kMaxBatchesInFlight))) {}

WalImpl::~WalImpl() {
  // The kernel may still read wbuf_ or zeros_: wait for every request in flight before the buffers are freed.
  // A spare in preparation is abandoned at its next completion (stopping_), a ready one deleted: open() could not
  // tell a ready spare from one holding a crashed roll's batch, so it never reuses one.
  stopping_ = true;
  while (ring_ && (io_in_flight() || spare_busy())) {
    UringCompletion c;
    if (ring_->wait(c) < 0) break;
    handle(c);
  }
  if (!spare_busy()) remove_spare();
  if (retired_fd_ >= 0) ::close(retired_fd_);
  if (dir_fd_ >= 0) ::close(dir_fd_);
  close_segment();
}

bool WalImpl::remove_segment(const std::string& path, std::string& error) {
  if (::unlink(path.c_str()) != 0) {
    error = errno_text("unlink", path, errno);
    return false;
  }
  return fsync_dir(options_.dir, error);
}

// Zeroes the torn record and everything written after it, then makes that durable, so a later scan cannot
// see the torn bytes again once new records are appended over them.
bool WalImpl::zero_torn_tail(const ScanResult& scan, std::string& error) {
  int fd = ::open(scan.torn_file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    error = errno_text("open", scan.torn_file, errno);
    return false;
  }
  static const std::vector<uint8_t> zeros(64 * 1024, 0);
  bool ok = true;
  for (uint64_t off = scan.torn_offset; ok && off < scan.torn_end;) {
    const uint64_t n = std::min<uint64_t>(zeros.size(), scan.torn_end - off);
    ssize_t w = ::pwrite(fd, zeros.data(), n, static_cast<off_t>(off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      error = errno_text("zero torn tail of", scan.torn_file, w < 0 ? errno : EIO);
      ok = false;
    } else {
      off += static_cast<uint64_t>(w);
    }
  }
  if (ok && ::fdatasync(fd) != 0) {
    error = errno_text("fdatasync", scan.torn_file, errno);
    ok = false;
  }
  ::close(fd);
  return ok;
}

// A truncation that crashed between writing "<segment>.tmp" and renaming it over the segment left the copy
// behind: the segment itself is whole (the old content) and the copy is only wasted space.
void WalImpl::remove_cut_leftovers(WalRecovery& recovery) {
  std::vector<std::string> leftovers;
  if (DIR* d = ::opendir(options_.dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string_view name = e->d_name;
      if (name.size() > kCutSuffix.size() && name.ends_with(kCutSuffix) &&
          parse_segment_file_name(name.substr(0, name.size() - kCutSuffix.size()))) {
        leftovers.emplace_back(options_.dir + "/" + std::string(name));
      }
    }
    ::closedir(d);
  }
  for (const std::string& path : leftovers) {
    if (::unlink(path.c_str()) == 0) {
      note(recovery, true, "wal: removed " + path + ": the copy of a segment being cut when the node stopped");
    } else {
      note(recovery, true, errno_text("unlink", path, errno) + " (the copy of a segment being cut; harmless)");
    }
  }
}

// A spare segment (wal_spare.cc) is never reused: it may hold the header and first batch of a roll that crashed
// before its rename, records that were never acknowledged and that must not resurface under a segment name.
void WalImpl::remove_spare_leftover(WalRecovery& recovery) {
  const std::string path = options_.dir + "/" + kSpareFileName;
  if (::unlink(path.c_str()) == 0) {
    note(recovery, false, "wal: removed " + path + ": the next segment prepared before the node stopped");
  } else if (errno != ENOENT) {
    note(recovery, true, errno_text("unlink", path, errno) + " (a prepared next segment; it is rewritten)");
  }
}

bool WalImpl::open_segment_for_append(const ScanSegment& seg, std::string& error) {
  int fd = ::open(seg.path.c_str(), O_RDWR | O_CLOEXEC | (direct_io_ ? O_DIRECT : 0));
  if (fd < 0) {
    error = errno_text("open", seg.path, errno);
    return false;
  }
  seg_fd_ = fd;
  seg_path_ = seg.path;
  // What the scan read may sit only in the page cache or the device's cache (a process crash loses neither, a
  // power cut both): appends count it as durable (their `back`), so make it so.
  if (::fdatasync(fd) != 0) {
    error = errno_text("fdatasync", seg.path, errno);
    return false;
  }
  seg_limit_ = seg.file_bytes;
  start_appends_at(seg.data_end);
  tail_bytes_ = 0;
  if (!direct_io_) return true;
  // O_DIRECT rewrites the partial last block: start from its bytes on disk.
  tail_bytes_ = seg_end_ % kBlockBytes;
  if (tail_bytes_ == 0) return true;
  const uint64_t block = round_down_block(seg_end_);
  ssize_t n;
  do {
    n = ::pread(fd, wbuf_.data(), kBlockBytes, static_cast<off_t>(block));
  } while (n < 0 && errno == EINTR);
  if (n < static_cast<ssize_t>(tail_bytes_)) {
    error = n < 0 ? errno_text("read tail block of", seg.path, errno) : "wal: short read of the tail block of " + seg.path;
    return false;
  }
  std::memset(wbuf_.data() + tail_bytes_, 0, kBlockBytes - tail_bytes_);
  return true;
}

bool WalImpl::recover(const ScanResult& scan, WalRecovery& recovery, std::string& error) {
  const bool writes = options_.durability != Durability::kNone;
  if (!wbuf_.reserve(1 << 20, 0)) {
    error = "wal: out of memory for the write buffer";
    return false;
  }
  pending_.reserve(1 << 20);
  pending_records_.reserve(4096);

  // At most 6 requests are in flight (wal_impl.h); 64 entries leave room. The ring exists in
  // every mode so completion_fd() is always a valid fd to register.
  ring_ = Uring::create(64, error);
  if (!ring_) {
    error = "wal: " + error;
    return false;
  }
  if (writes) {
    if (options_.try_direct_io) {
      std::string why = probe_direct_io(options_.dir);
      direct_io_ = why.empty();
      if (!direct_io_) {
        static std::atomic<bool> logged{false};
        std::string line = "wal: O_DIRECT unavailable in " + options_.dir + " (" + why +
                           "): using buffered writes + fdatasync";
        if (!logged.exchange(true)) UK_WARN("%s", line.c_str());
        recovery.messages.push_back(line);
      }
    }
  } else {
    note(recovery, true, "wal: durability none: appends are not written to " + options_.dir);
  }

  remove_cut_leftovers(recovery);
  remove_spare_leftover(recovery);
  if (writes) {
    dir_fd_ = ::open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd_ < 0) {
      error = errno_text("open directory", options_.dir, errno);
      return false;
    }
  }
  if (!scan.incomplete_segment.empty()) {
    if (!remove_segment(scan.incomplete_segment, error)) return false;
    note(recovery, true,
         "wal: removed incomplete segment " + scan.incomplete_segment + " (" + scan.incomplete_reason +
             "; a crash while rolling)");
  }
  if (!scan.torn_file.empty()) {
    if (!zero_torn_tail(scan, error)) return false;
    recovery.truncated_tail = true;
    recovery.truncated_file = scan.torn_file;
    recovery.truncated_offset = scan.torn_offset;
    note(recovery, true,
         "wal: torn tail truncated: " + scan.torn_file + " offset " + std::to_string(scan.torn_offset) + ": " +
             scan.torn_reason + "; zeroed " + std::to_string(scan.torn_end - scan.torn_offset) + " bytes");
  }

  std::vector<ScanSegment> segments = scan.segments;
  // A last segment without records is removed: the next append creates a segment named after its own zxid,
  // which keeps "a segment's records are >= its first zxid" true whatever zxid comes next.
  if (!segments.empty() && segments.back().records == 0) {
    if (!remove_segment(segments.back().path, error)) return false;
    note(recovery, false, "wal: removed segment " + segments.back().path + ": it holds no record");
    segments.pop_back();
  }
  if (writes && !segments.empty() && !open_segment_for_append(segments.back(), error)) return false;

  recovery.segments = segments.size();
  recovery.records = scan.records;
  recovery.last_zxid = scan.last_zxid;
  recovery.direct_io = direct_io_;
  appended_zxid_ = persisted_zxid_ = written_zxid_ = scan.last_zxid;
  last_sync_submit_ = std::chrono::steady_clock::now();  // kAsync: the first interval starts now
  maybe_start_spare();
  return true;
}

}  // namespace wal

std::unique_ptr<Wal> Wal::open(const WalOptions& options_in, const ReplayFn& replay, WalRecovery& recovery,
                               std::string& error) {
  recovery = WalRecovery{};
  WalOptions options = options_in;
  if (options.dir.empty()) {
    error = "wal: no directory given";
    return nullptr;
  }
  options.segment_bytes = wal::round_up_block(options.segment_bytes);
  if (options.segment_bytes < wal::kMinSegmentBytes) {
    error = "wal: segment size " + std::to_string(options_in.segment_bytes) + " below the minimum " +
            std::to_string(wal::kMinSegmentBytes);
    return nullptr;
  }
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) {
    error = "wal: create directory " + options.dir + ": " + ec.message();
    return nullptr;
  }
  wal::ScanResult scan = wal::scan_dir(options.dir, &replay, options.recovery_chunk_bytes);
  if (scan.status == wal::ScanStatus::kCorrupt || scan.status == wal::ScanStatus::kError) {
    error = scan.error;
    return nullptr;
  }
  auto w = std::make_unique<wal::WalImpl>(options);
  if (!w->recover(scan, recovery, error)) return nullptr;
  return w;
}

}  // namespace uk
