// Cutting the log back for ZAB synchronization: truncate_after (TRUNC: drop a divergent tail) and reset (SNAP: a
// snapshot replaced the state). Blocking system calls, once per synchronization with a new leader.
//
// Why a cut rewrites the segment instead of zeroing the removed records in place: the recovery scan calls zeros
// followed by a valid record corruption (a lost write in the middle of the log), and the writes of one zeroing
// reach the disk in any order, so a crash in the middle of it could leave "kept records, zeros, a removed record":
// a log the node refuses to open. Instead, in this order:
// 1. Segments whose first zxid is above the cut are unlinked newest first, the directory fsynced after each: a
//    crash leaves a prefix of the log (records not yet removed, never a gap).
// 2. The segment holding the first removed record is copied up to that record into "<name>.tmp" (header block
//    included; zeros after it, preallocated and zero-filled like a new segment), fdatasynced, renamed over the
//    segment, and the directory fsynced: a crash leaves the old segment or the cut one, never a mix.
// Cost: about one segment roll (segment_bytes written, two syncs) plus reading the kept part of that segment.
//
// O_DIRECT: the copy is written through an O_DIRECT fd from wbuf_ (4096-aligned, every chunk a whole number of
// blocks, the last one zero-padded); afterwards open_segment_for_append() reads the new partial tail block back
// into wbuf_, exactly as at start-up. Reads of the old segment go through the page cache, which O_DIRECT writes
// keep coherent (they invalidate the cached pages).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "segment_reader.h"
#include "ukeeper/common/log.h"
#include "wal_impl.h"

namespace uk::wal {
namespace {

std::string errno_text(const char* op, const std::string& path, uint64_t offset, int err) {
  return std::string("wal: ") + op + " " + path + " offset " + std::to_string(offset) + ": " + std::strerror(err);
}

bool pread_full(int fd, uint8_t* buf, uint64_t n, uint64_t offset, const std::string& path, std::string& error) {
  for (uint64_t done = 0; done < n;) {
    const ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      error = r < 0 ? errno_text("read", path, offset + done, errno)
                    : "wal: read " + path + " offset " + std::to_string(offset + done) + ": unexpected end of file";
      return false;
    }
    done += static_cast<uint64_t>(r);
  }
  return true;
}

bool pwrite_full(int fd, const uint8_t* buf, uint64_t n, uint64_t offset, const std::string& path,
                 std::string& error) {
  for (uint64_t done = 0; done < n;) {
    const ssize_t w = ::pwrite(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      error = errno_text("write", path, offset + done, w < 0 ? errno : EIO);
      return false;
    }
    done += static_cast<uint64_t>(w);
  }
  return true;
}

// Where one segment is cut for truncate_after(zxid).
struct SegmentCut {
  uint64_t file_bytes = 0;
  uint64_t offset = 0;      // where the first record above the zxid starts, else the end of the segment's data
  bool removes = false;     // a record above the zxid starts at `offset`
  uint64_t kept_records = 0;
  Zxid last_kept = 0;
};

std::string damaged(const std::string& path, uint64_t offset, std::string_view what) {
  return "wal corrupt: " + path + " offset " + std::to_string(offset) + ": " + std::string(what) +
         " (found while truncating)";
}

// Walks the records of the open segment `fd` up to the first one above `zxid`. The walked records were written
// by this Wal or passed the recovery scan, so any that fails its checks is damage, reported with its offset.
bool walk_to_cut(int fd, const std::string& path, Zxid zxid, SegmentCut& cut, std::string& error) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    error = errno_text("fstat", path, 0, errno);
    return false;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  cut.file_bytes = size;
  if (size < kSegmentHeaderBlockBytes) {
    error = damaged(path, 0, "segment shorter than its header block");
    return false;
  }
  // Windows of 1 MiB (a bigger record gets one of its own): a few dozen reads per segment, never the whole file.
  SegmentReader reader(fd, path, size, kDefaultScanChunkBytes);
  const uint8_t* p = nullptr;
  if (!reader.view(0, kSegmentHeaderBlockBytes, p, error)) return false;
  SegmentHeader header;
  std::string why;
  if (!decode_segment_header(p, kSegmentHeaderBlockBytes, header, why)) {
    error = damaged(path, 0, why);
    return false;
  }
  uint64_t off = kSegmentHeaderBlockBytes;
  while (off < size) {
    const uint64_t head = std::min(kRecordHeaderBytes, size - off);
    if (!reader.view(off, head, p, error)) return false;
    RecordView r;
    const RecordCheck head_check = check_record_header(p, size - off, r);
    if (head_check == RecordCheck::kZero) break;  // the end of the segment's data
    if (head_check != RecordCheck::kOk) {
      error = damaged(path, off, record_check_name(head_check));
      return false;
    }
    const uint64_t bytes = record_bytes(r.payload_bytes);
    if (!reader.view(off, bytes, p, error)) return false;
    const RecordCheck c = check_record(p, bytes, r);
    if (c != RecordCheck::kOk) {
      error = damaged(path, off, record_check_name(c));
      return false;
    }
    if (!r.pad && r.zxid > zxid) {
      cut.removes = true;
      break;
    }
    if (!r.pad) {  // (a pad before the first removed record stays: it only fills a block)
      cut.kept_records += 1;
      cut.last_kept = r.zxid;
    }
    off += bytes;
  }
  cut.offset = std::min(off, size);
  return true;
}

bool find_cut(const std::string& path, Zxid zxid, SegmentCut& cut, std::string& error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = errno_text("open", path, 0, errno);
    return false;
  }
  const bool ok = walk_to_cut(fd, path, zxid, cut, error);
  ::close(fd);
  return ok;
}

}  // namespace

bool WalImpl::drain_in_flight() {
  // Every request in flight is reaped even after a failure: the kernel may still be reading wbuf_.
  while (io_in_flight() && wait_one()) {
  }
  return failure_.empty();
}

void WalImpl::drop_pending_after(Zxid zxid) {
  size_t keep = 0;
  while (keep < pending_records_.size() && pending_records_[keep].zxid <= zxid) ++keep;
  pending_.resize(keep == 0 ? 0 : pending_records_[keep - 1].end);
  pending_records_.resize(keep);
}

bool WalImpl::truncate_after(Zxid zxid, std::string& error) {
  UK_WAL_ASSERT(zxid >= 0, "truncate_after: negative zxid", zxid, appended_zxid_);
  if (!failure_.empty()) {
    error = failure_;
    return false;
  }
  if (zxid >= appended_zxid_) return true;  // nothing above it, queued or written: no I/O
  if (!drain_in_flight()) {
    error = failure_;
    return false;
  }
  drop_pending_after(zxid);
  // Lowered before any file changes: if the cut fails half way, the log no longer promises records above zxid.
  appended_zxid_ = zxid;
  persisted_zxid_ = std::min(persisted_zxid_, zxid);
  // written_zxid_ bounds every zxid in the files (the last record written, the scan's last record at open, or
  // the zxid of an earlier cut or reset).
  const bool cut_files = written_zxid_ > zxid;
  written_zxid_ = std::min(written_zxid_, zxid);
  if (!cut_files) return true;  // only queued records were above zxid, and they are gone
  UK_WAL_ASSERT(pending_records_.empty(), "a queued record at or below a written one", zxid,
                pending_records_.size());
  if (!cut_segments_after(zxid, error)) {
    fail_text(error);
    return false;
  }
  return true;
}

bool WalImpl::cut_segments_after(Zxid zxid, std::string& error) {
  const std::string was_current = seg_path_;
  const bool had_unsynced = unsynced_writes_;
  close_segment();  // reopened below at the new end of the log
  std::vector<std::pair<Zxid, std::string>> segments;
  if (!list_segments(options_.dir, segments, error)) return false;
  bool rewritten = false;
  while (!segments.empty()) {
    const std::string path = options_.dir + "/" + segments.back().second;
    const Zxid first = segments.back().first;
    SegmentCut cut;
    if (first <= zxid && !find_cut(path, zxid, cut, error)) return false;
    // A segment starting above zxid holds only records above it (records are >= their segment's first zxid).
    // A segment left without records goes too: the next append then starts a segment named after its own zxid.
    if (first > zxid || cut.kept_records == 0) {
      if (!remove_segment(path, error)) return false;
      segments.pop_back();
      continue;
    }
    if (cut.removes) {
      if (!rewrite_prefix(path, cut.file_bytes, cut.offset, error)) return false;
      rewritten = true;
    }
    if (options_.durability != Durability::kNone) {
      ScanSegment seg;
      seg.path = path;
      seg.first_zxid = first;
      seg.file_bytes = cut.file_bytes;
      seg.data_end = cut.offset;
      seg.records = cut.kept_records;
      seg.last_zxid = cut.last_kept;
      if (!open_segment_for_append(seg, error)) return false;
    }
    break;
  }
  // The segment appends continue in is durable unless it is the one kAsync wrote to without a sync yet: a cut one
  // was fdatasynced by the rewrite, an earlier one by the roll that ended it.
  unsynced_writes_ = had_unsynced && seg_fd_ >= 0 && seg_path_ == was_current && !rewritten;
  return true;
}

bool WalImpl::rewrite_prefix(const std::string& path, uint64_t file_bytes, uint64_t cut, std::string& error) {
  if (file_bytes % kBlockBytes != 0 || cut > file_bytes) {
    error = "wal: cut " + path + " offset " + std::to_string(cut) + ": segment size " + std::to_string(file_bytes) +
            " is not a whole number of " + std::to_string(kBlockBytes) + "-byte blocks";
    return false;
  }
  const std::string tmp = path + std::string(kCutSuffix);
  const int src = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) {
    error = errno_text("open", path, 0, errno);
    return false;
  }
  // O_TRUNC: a copy left by an earlier crash is stale.
  const int dst = ::open(tmp.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC | (direct_io_ ? O_DIRECT : 0), 0644);
  if (dst < 0) {
    error = errno_text("create", tmp, 0, errno);
    ::close(src);
    return false;
  }
  auto give_up = [&] {
    ::close(src);
    ::close(dst);
    ::unlink(tmp.c_str());
    return false;
  };
  const uint64_t kept_end = round_up_block(cut);
  const char* op = "";
  if (int err = preallocate_zeroed(dst, file_bytes, kept_end, options_.dir, op)) {
    error = errno_text(op, tmp, 0, err);
    return give_up();
  }
  // Nothing is in flight (the caller drained it), so wbuf_ is free. Its capacity is a whole number of blocks, so
  // every chunk but the last starts and ends on a block boundary; the last is zero-padded to one.
  for (uint64_t at = 0; at < cut;) {
    const uint64_t n = std::min(wbuf_.capacity(), cut - at);
    if (!pread_full(src, wbuf_.data(), n, at, path, error)) return give_up();
    const uint64_t padded = round_up_block(n);
    std::memset(wbuf_.data() + n, 0, padded - n);
    if (!pwrite_full(dst, wbuf_.data(), padded, at, tmp, error)) return give_up();
    at += n;
  }
  if (::fdatasync(dst) != 0) {
    error = errno_text("fdatasync", tmp, 0, errno);
    return give_up();
  }
  ::close(src);
  ::close(dst);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "wal: rename " + tmp + " over " + path + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  if (!fsync_dir(options_.dir, error)) return false;
  UK_INFO("wal: cut %s at offset %llu", path.c_str(), static_cast<unsigned long long>(cut));
  return true;
}

bool WalImpl::reset(Zxid after, std::string& error) {
  UK_WAL_ASSERT(after >= 0, "reset: negative zxid", after, appended_zxid_);
  if (!failure_.empty()) {
    error = failure_;
    return false;
  }
  if (!drain_in_flight()) {
    error = failure_;
    return false;
  }
  pending_.clear();
  pending_records_.clear();
  close_segment();
  appended_zxid_ = persisted_zxid_ = written_zxid_ = after;
  unsynced_writes_ = false;
  std::vector<std::pair<Zxid, std::string>> segments;
  bool ok = list_segments(options_.dir, segments, error);
  // Newest first, each removal durable before the next: a crash leaves a prefix of the old log, never a gap.
  for (auto it = segments.rbegin(); ok && it != segments.rend(); ++it) {
    ok = remove_segment(options_.dir + "/" + it->second, error);
  }
  if (!ok) fail_text(error);
  return ok;
}

}  // namespace uk::wal
