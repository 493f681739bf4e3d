#include "ukeeper/storage/wal/scan.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>

#include "segment_reader.h"
#include "ukeeper/common/crc32c.h"
#include "ukeeper/storage/wal/format.h"

namespace uk::wal {
namespace {

std::string hex(Zxid z) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%" PRIx64, static_cast<uint64_t>(z));
  return b;
}

std::string errno_text(const char* op, const std::string& path, int err) {
  return std::string("wal: ") + op + " " + path + ": " + std::strerror(err);
}

// The helpers below walk a segment through a SegmentReader window of `chunk` bytes; each returns false with
// `error` set only when a read fails.

// memcmp against a zero block: libc's vectorised compare keeps a 64 MiB segment's empty space cheap to check.
const uint8_t kZeros[4096] = {};

bool all_zero(const uint8_t* p, uint64_t n) {
  while (n > 0) {
    const uint64_t k = std::min<uint64_t>(n, sizeof kZeros);
    if (std::memcmp(p, kZeros, k) != 0) return false;
    p += k;
    n -= k;
  }
  return true;
}

// Window size for walking a range: the reader's chunk, or everything at once over plain memory.
uint64_t step_of(const SegmentReader& bytes, uint64_t remaining) {
  return bytes.chunk() == 0 ? remaining : std::min(bytes.chunk(), remaining);
}

// Whether bytes [from, size) are all zero.
bool all_zero_from(SegmentReader& bytes, uint64_t from, bool& zero, std::string& error) {
  zero = true;
  for (uint64_t at = from; zero && at < bytes.size();) {
    const uint64_t n = step_of(bytes, bytes.size() - at);
    const uint8_t* p = nullptr;
    if (!bytes.view(at, n, p, error)) return false;
    zero = all_zero(p, n);
    at += n;
  }
  return true;
}

// Offset just past the last non-zero byte in [from, size), or `from` when all are zero.
bool end_of_nonzero(SegmentReader& bytes, uint64_t from, uint64_t& end, std::string& error) {
  end = from;
  for (uint64_t at = from; at < bytes.size();) {
    const uint64_t n = step_of(bytes, bytes.size() - at);
    const uint8_t* p = nullptr;
    if (!bytes.view(at, n, p, error)) return false;
    if (!all_zero(p, n)) {
      uint64_t k = n;
      while (k > 0 && p[k - 1] == 0) --k;
      end = at + k;
    }
    at += n;
  }
  return true;
}

// Checks the record at `off`. A record bigger than the reader's window has its crc computed piece by piece
// first, so a damaged length field (up to kMaxRecordPayloadBytes) never makes the window grow: only a record that
// passes its crc is viewed whole, and only when `whole` (the caller replays it). r.payload is set only then.
bool check_at(SegmentReader& bytes, uint64_t off, bool whole, RecordCheck& c, RecordView& r, std::string& error) {
  const uint64_t avail = bytes.size() - off;
  const uint8_t* p = nullptr;
  if (!bytes.view(off, std::min(kRecordHeaderBytes, avail), p, error)) return false;
  c = check_record_header(p, avail, r);
  if (c != RecordCheck::kOk) return true;
  const uint64_t total = record_bytes(r.payload_bytes);
  if (bytes.chunk() == 0 || total <= bytes.chunk()) {
    if (!bytes.view(off, total, p, error)) return false;
    c = check_record(p, total, r);
    return true;
  }
  uint32_t magic = 0, reserved = 0;
  std::memcpy(&magic, p, sizeof magic);
  std::memcpy(&reserved, p + 20, sizeof reserved);
  if (magic == kRecordMagicV1 && reserved != 0) {
    c = RecordCheck::kBadReserved;
    return true;
  }
  uint32_t crc = record_header_crc(p);
  for (uint64_t at = off + kRecordHeaderBytes; at < off + total;) {
    const uint64_t n = std::min(bytes.chunk(), off + total - at);
    if (!bytes.view(at, n, p, error)) return false;
    crc = crc32c_extend(crc, p, n);
    at += n;
  }
  if (crc != r.stored_crc) {
    c = RecordCheck::kBadCrc;
    return true;
  }
  if (!whole) return true;  // kOk
  if (!bytes.view(off, total, p, error)) return false;
  c = check_record(p, total, r);
  return true;
}

// The first offset >= from holding a complete, crc-valid record (not a pad) with a zxid above `above`, else
// UINT64_MAX; `found_view` describes it. Byte by byte: records are packed back to back, so a record after a
// damaged one can sit at any offset. Every record magic ends in the same three bytes, which are searched for;
// windows overlap so a magic split across two of them is still found.
bool find_valid_record(SegmentReader& bytes, uint64_t from, Zxid above, uint64_t& found, RecordView& found_view,
                       std::string& error) {
  uint8_t magic[4];
  std::memcpy(magic, &kRecordMagic, 4);
  const uint8_t* tail = magic + 1;  // the shared bytes
  constexpr size_t kTail = 3;
  found = UINT64_MAX;
  const uint64_t size = bytes.size();
  uint64_t at = from;
  while (at + kRecordHeaderBytes <= size) {
    const uint64_t n = step_of(bytes, size - at);
    const uint8_t* p = nullptr;
    if (!bytes.view(at, n, p, error)) return false;
    // The tail of a magic at `at` itself starts at p + 1.
    const void* hit = n > 1 ? ::memmem(p + 1, n - 1, tail, kTail) : nullptr;
    if (hit == nullptr) {
      if (at + n >= size) break;
      at += n - kTail;
      continue;
    }
    const uint64_t cand = at + static_cast<uint64_t>(static_cast<const uint8_t*>(hit) - p) - 1;
    RecordCheck c;
    RecordView r;
    if (!check_at(bytes, cand, false, c, r, error)) return false;
    if (c == RecordCheck::kOk && !r.pad && r.zxid > above) {
      found = cand;
      found_view = r;
      return true;
    }
    at = cand + 1;
  }
  return true;
}

// After damage (or the end of data) at `off` in a segment: whether any valid record with a zxid above `above`
// follows (`first` its offset, else UINT64_MAX), and whether every one that does was written while `off` was not
// yet durable (each record's `back` says where the durable data ended when its write was submitted). Only then
// may they be unacknowledged writes that overtook a lost one (wal.h); a record written after `off` was durable
// means the damage hit acknowledged data.
bool valid_records_after(SegmentReader& bytes, uint64_t off, Zxid above, uint64_t& first, bool& all_overtook,
                         std::string& error) {
  first = UINT64_MAX;
  all_overtook = true;
  for (uint64_t from = off;;) {
    uint64_t at = UINT64_MAX;
    RecordView r;
    if (!find_valid_record(bytes, from, above, at, r, error)) return false;
    if (at == UINT64_MAX) return true;
    if (first == UINT64_MAX) first = at;
    const uint64_t durable_end_then = at - std::min<uint64_t>(r.back, at);
    if (durable_end_then > off) {
      all_overtook = false;
      return true;
    }
    from = at + record_bytes(r.payload_bytes);
  }
}

std::string corrupt(const std::string& path, uint64_t offset, const std::string& what) {
  return "wal corrupt: " + path + " offset " + std::to_string(offset) + ": " + what;
}

std::string describe(RecordCheck c, const RecordView& r) {
  std::string s(record_check_name(c));
  if (c == RecordCheck::kBadCrc || c == RecordCheck::kBadReserved || c == RecordCheck::kBadLength) {
    s += " (record zxid " + hex(r.zxid) + ", length " + std::to_string(r.payload_bytes) + ")";
  }
  return s;
}

bool fail(ScanResult& result, ScanStatus status, std::string error) {
  result.status = status;
  result.error = std::move(error);
  return false;
}

bool read_failed(ScanResult& result, std::string error) { return fail(result, ScanStatus::kError, std::move(error)); }

// The scan of one segment (the decisions in scan.h), through a window of its bytes.
bool scan_bytes(const std::string& path, SegmentReader& bytes, bool is_last, const ScanReplayFn* replay,
                ScanResult& result) {
  const uint64_t size = bytes.size();
  std::string error;
  const uint8_t* p = nullptr;
  const uint64_t head = std::min<uint64_t>(size, kSegmentHeaderBlockBytes);
  if (!bytes.view(0, head, p, error)) return read_failed(result, error);
  SegmentHeader header;
  std::string why;
  if (!decode_segment_header(p, head, header, why)) {
    bool zero = false;
    if (is_last && !all_zero_from(bytes, head, zero, error)) return read_failed(result, error);
    if (is_last && zero) {
      result.status = ScanStatus::kTornTail;
      result.incomplete_segment = path;
      result.incomplete_reason = why;
      return true;
    }
    return fail(result, ScanStatus::kCorrupt, corrupt(path, 0, why));
  }
  std::optional<Zxid> named = parse_segment_file_name(path.substr(path.rfind('/') + 1));
  if (!named || *named != header.first_zxid) {
    return fail(result, ScanStatus::kCorrupt,
                corrupt(path, 0, "segment header first zxid " + hex(header.first_zxid) + " does not match the file name"));
  }

  ScanSegment seg;
  seg.path = path;
  seg.first_zxid = header.first_zxid;
  seg.file_bytes = size;
  uint64_t off = kSegmentHeaderBlockBytes;
  for (;;) {
    RecordView r;
    RecordCheck c = RecordCheck::kZero;
    if (off < size && !check_at(bytes, off, true, c, r, error)) return read_failed(result, error);
    if (c == RecordCheck::kOk && r.pad) {  // padding up to a block boundary: nothing to replay
      seg.pad_bytes += record_bytes(r.payload_bytes);
      off += record_bytes(r.payload_bytes);
      continue;
    }
    if (c == RecordCheck::kOk && (r.zxid <= result.last_zxid || r.zxid < seg.first_zxid)) {
      return fail(result, ScanStatus::kCorrupt,
                  corrupt(path, off,
                          "record zxid " + hex(r.zxid) + " not above the previous zxid " + hex(result.last_zxid) +
                              " (segment first zxid " + hex(seg.first_zxid) + ")"));
    }
    if (c != RecordCheck::kOk) {
      // The end of data (zeros) or damage. Valid records after it are a lost write in the middle of the log,
      // unless this is the last segment and they were all submitted before `off` was durable: writes in flight
      // together that completed out of order and were never acknowledged, like a torn record.
      const bool end = c == RecordCheck::kZero;
      const std::string what_bad = end ? std::string("end of data") : describe(c, r);  // (the search moves the window)
      uint64_t next = UINT64_MAX;
      bool overtook = false;
      if (!valid_records_after(bytes, end ? off : off + 1, result.last_zxid, next, overtook, error)) {
        return read_failed(result, error);
      }
      if (end && next == UINT64_MAX) break;  // a clean end
      if (!is_last || (next != UINT64_MAX && !overtook)) {
        std::string what = end ? "zeroed bytes before a valid record at offset " + std::to_string(next) : what_bad;
        if (!end && next != UINT64_MAX) what += "; a valid record follows at offset " + std::to_string(next);
        return fail(result, ScanStatus::kCorrupt, corrupt(path, off, what));
      }
      uint64_t torn_end = off;
      if (!end_of_nonzero(bytes, off, torn_end, error)) return read_failed(result, error);
      result.status = ScanStatus::kTornTail;
      result.torn_file = path;
      result.torn_offset = off;
      result.torn_end = torn_end;
      result.torn_reason = what_bad;
      if (next != UINT64_MAX) {
        result.torn_reason += "; unacknowledged records written while it was in flight follow from offset " +
                              std::to_string(next);
      }
      break;
    }
    if (replay != nullptr && *replay) (*replay)(r.zxid, r.payload);
    seg.records += 1;
    seg.last_zxid = r.zxid;
    result.records += 1;
    result.last_zxid = r.zxid;
    off += record_bytes(r.payload_bytes);
  }
  seg.data_end = off;
  result.segments.push_back(std::move(seg));
  return true;
}

}  // namespace

bool scan_segment(const std::string& path, const uint8_t* data, uint64_t size, bool is_last,
                  const ScanReplayFn* replay, ScanResult& result, uint64_t chunk_bytes) {
  SegmentReader bytes(data, size, chunk_bytes);
  const bool go_on = scan_bytes(path, bytes, is_last, replay, result);
  result.peak_buffer_bytes = std::max(result.peak_buffer_bytes, bytes.peak_buffer_bytes());
  return go_on;
}

namespace {

// One segment file, streamed through a window of chunk_bytes: memory stays at max(chunk, largest record).
bool scan_file(const std::string& path, bool is_last, const ScanReplayFn* replay, uint64_t chunk_bytes,
               ScanResult& result) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return read_failed(result, errno_text("open", path, errno));
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return read_failed(result, errno_text("fstat", path, err));
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);  // a hint only: larger read-ahead
  SegmentReader bytes(fd, path, static_cast<uint64_t>(st.st_size), chunk_bytes);
  const bool go_on = scan_bytes(path, bytes, is_last, replay, result);
  result.peak_buffer_bytes = std::max(result.peak_buffer_bytes, bytes.peak_buffer_bytes());
  ::close(fd);
  return go_on;
}

}  // namespace

ScanResult scan_dir(const std::string& dir, const ScanReplayFn* replay, uint64_t chunk_bytes) {
  ScanResult result;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    result.status = ScanStatus::kError;
    result.error = errno_text("opendir", dir, errno);
    return result;
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    if (parse_segment_file_name(e->d_name)) names.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());  // fixed-width hex: name order is zxid order

  for (size_t i = 0; i < names.size(); ++i) {
    const std::string path = dir + "/" + names[i];
    if (!scan_file(path, i + 1 == names.size(), replay, chunk_bytes, result)) break;
  }
  return result;
}

}  // namespace uk::wal
