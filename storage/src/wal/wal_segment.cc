// Segment files the blocking way: create, preallocate, roll. The storage thread stalls while the new segment is
// zero-filled and synced (two fdatasyncs and a directory fsync), so this is only the path for the first segment
// of a log with no spare ready yet, for precreate_segments = false, and the fallback when preparing a spare
// failed (wal_spare.cc prepares the next segment in the background instead).
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "ukeeper/common/log.h"
#include "wal_impl.h"

namespace uk::wal {

int preallocate_zeroed(int fd, uint64_t bytes, uint64_t zero_from, const std::string& dir, const char*& op) {
  UK_WAL_ASSERT(zero_from % kBlockBytes == 0 && bytes % kBlockBytes == 0, "unaligned segment zero-fill", zero_from,
                bytes);
  const off_t size = static_cast<off_t>(bytes);
  if (::fallocate(fd, 0, 0, size) != 0) {
    op = "fallocate";
    if (errno != EOPNOTSUPP && errno != ENOSYS) return errno;
    static std::atomic<bool> logged{false};
    if (!logged.exchange(true)) {
      UK_WARN("wal: fallocate unsupported in %s: segments are sized with ftruncate (ENOSPC may then surface "
              "on a write instead of at segment creation)", dir.c_str());
    }
    op = "ftruncate";
    if (::ftruncate(fd, size) != 0) return errno;
  }
  constexpr size_t kZeroChunk = 1 << 20;
  void* zeros = nullptr;
  if (posix_memalign(&zeros, kBlockBytes, kZeroChunk) != 0) {
    op = "allocate zeros for";
    return ENOMEM;
  }
  std::memset(zeros, 0, kZeroChunk);
  int zero_errno = 0;
  for (off_t at = static_cast<off_t>(zero_from); at < size && zero_errno == 0;) {
    size_t len = static_cast<size_t>(std::min<off_t>(static_cast<off_t>(kZeroChunk), size - at));
    ssize_t w = ::pwrite(fd, zeros, len, at);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      zero_errno = w < 0 ? errno : EIO;
      break;
    }
    at += w;
  }
  std::free(zeros);
  op = "zero-fill";
  return zero_errno;
}

bool list_segments(const std::string& dir, std::vector<std::pair<Zxid, std::string>>& out, std::string& error) {
  out.clear();
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    error = "wal: opendir " + dir + ": " + std::strerror(errno);
    return false;
  }
  while (dirent* e = ::readdir(d)) {
    if (std::optional<Zxid> first = parse_segment_file_name(e->d_name)) out.emplace_back(*first, e->d_name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return true;
}

void WalImpl::close_segment() {
  if (seg_fd_ >= 0) ::close(seg_fd_);
  seg_fd_ = -1;
  seg_path_.clear();
  seg_limit_ = tail_bytes_ = 0;
  start_appends_at(0);
}

bool WalImpl::roll_segment(Zxid first_zxid) {
  UK_WAL_ASSERT(!io_in_flight(), "roll with I/O in flight", first_zxid, in_flight_count_);
  if (seg_fd_ >= 0) {
    // kAsync may have written records not yet synced. Make them durable before the next segment exists, so a
    // crash can only ever tear the last segment (the scan treats damage in earlier segments as corruption).
    if (unsynced_writes_ && ::fdatasync(seg_fd_) != 0) {
      fail("fdatasync", seg_path_, errno);
      return false;
    }
    unsynced_writes_ = false;
    close_segment();
  }
  std::string error;
  if (!create_segment_file(first_zxid, error)) {
    fail_text(error);
    return false;
  }
  return true;
}

// Creates <dir>/wal-<first_zxid>.seg, preallocated, with its header block durable and its name durable in the
// directory. On failure removes the file again and sets `error`.
bool WalImpl::create_segment_file(Zxid first_zxid, std::string& error) {
  const std::string path = options_.dir + "/" + segment_file_name(first_zxid);
  // O_EXCL: open() removes empty and incomplete last segments, so an existing file here is a bug to report.
  int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | (direct_io_ ? O_DIRECT : 0), 0644);
  if (fd < 0) {
    error = "wal: create " + path + ": " + std::strerror(errno);
    return false;
  }
  auto give_up = [&](const char* op, int err) {
    error = std::string("wal: ") + op + " " + path + ": " + std::strerror(err);
    ::close(fd);
    ::unlink(path.c_str());
    return false;
  };
  // Write zeros over the whole segment once. fallocate leaves "unwritten" extents, and the first write into one
  // makes the next fdatasync commit a metadata change as well as the data: measured here, fdatasync of a 4 KiB
  // append into a fallocated file took p50 420-500 us and p99 3-4.6 ms, into a zero-filled one 260-320 us and
  // 1.0-1.2 ms. Paid once per segment (a blocking pause of roughly segment_bytes / disk bandwidth).
  const char* op = "";
  if (int err = preallocate_zeroed(fd, options_.segment_bytes, kSegmentHeaderBlockBytes, options_.dir, op)) {
    return give_up(op, err);
  }
  // Nothing is in flight during a roll, and pump() copies the next batch into wbuf_ afterwards: borrow it.
  SegmentHeader header;
  header.first_zxid = first_zxid;
  header.segment_bytes = options_.segment_bytes;
  encode_segment_header(header, wbuf_.data());
  ssize_t n;
  do {
    n = ::pwrite(fd, wbuf_.data(), kSegmentHeaderBlockBytes, 0);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(kSegmentHeaderBlockBytes)) return give_up("write header of", n < 0 ? errno : EIO);
  if (::fdatasync(fd) != 0) return give_up("fdatasync", errno);
  if (!fsync_dir(options_.dir, error)) {
    ::close(fd);
    return false;  // the file stays: without a durable name it may or may not exist after a crash; both scan fine
  }
  seg_fd_ = fd;
  seg_path_ = path;
  seg_limit_ = options_.segment_bytes;
  start_appends_at(kSegmentHeaderBlockBytes);
  tail_bytes_ = 0;
  return true;
}

}  // namespace uk::wal

namespace uk::wal {

size_t WalImpl::purge_before(Zxid zxid) {
  std::vector<std::pair<Zxid, std::string>> segments;
  if (std::string error; !list_segments(options_.dir, segments, error)) {
    UK_WARN("%s (purge)", error.c_str());
    return 0;
  }
  size_t removed = 0;
  // Segment i holds zxids in [first_i, first_{i+1}), so all of them are <= zxid when first_{i+1} <= zxid + 1.
  auto covered = [zxid](Zxid next_first) {
    return next_first <= zxid || (zxid < INT64_MAX && next_first == zxid + 1);
  };
  for (size_t i = 0; i + 1 < segments.size() && covered(segments[i + 1].first); ++i) {
    const std::string path = options_.dir + "/" + segments[i].second;
    if (path == seg_path_) break;  // the segment being appended to (never reached: it is the newest)
    if (::unlink(path.c_str()) != 0) {
      UK_WARN("wal: purge: unlink %s: %s", path.c_str(), std::strerror(errno));
      break;  // keep the log a contiguous run of segments
    }
    removed++;
  }
  std::string error;
  if (removed > 0 && !fsync_dir(options_.dir, error)) UK_WARN("%s (after purging %zu segments)", error.c_str(), removed);
  return removed;
}

}  // namespace uk::wal
