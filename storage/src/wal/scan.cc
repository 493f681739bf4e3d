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

// One whole segment file in memory. Recovery reads each segment once; segments are bounded by
// options.segment_bytes (64 MiB by default), and only one is held at a time.
struct FileBytes {
  std::unique_ptr<uint8_t[]> data;
  uint64_t size = 0;
};

bool read_file(const std::string& path, FileBytes& out, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = errno_text("open", path, errno);
    return false;
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    error = errno_text("fstat", path, errno);
    ::close(fd);
    return false;
  }
  out.size = static_cast<uint64_t>(st.st_size);
  out.data.reset(new uint8_t[out.size == 0 ? 1 : out.size]);
  uint64_t done = 0;
  while (done < out.size) {
    ssize_t n = ::pread(fd, out.data.get() + done, out.size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n < 0 ? errno_text("read", path, errno) : "wal: read " + path + ": file shrank while reading";
      ::close(fd);
      return false;
    }
    done += static_cast<uint64_t>(n);
  }
  ::close(fd);
  return true;
}

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

// Offset just past the last non-zero byte in [from, size), or `from` when all are zero.
uint64_t end_of_nonzero(const uint8_t* data, uint64_t size, uint64_t from) {
  uint64_t end = size;
  while (end > from) {
    const uint64_t k = std::min<uint64_t>(end - from, sizeof kZeros);
    if (!all_zero(data + end - k, k)) break;
    end -= k;
  }
  while (end > from && data[end - 1] == 0) --end;
  return end;
}

// The first offset >= from holding a complete, crc-valid record with a zxid above `above`, or UINT64_MAX.
// Byte by byte: records are packed back to back, so a record after a damaged one can sit at any offset.
uint64_t find_valid_record(const uint8_t* data, uint64_t size, uint64_t from, Zxid above) {
  uint8_t magic[4];
  std::memcpy(magic, &kRecordMagic, 4);
  uint64_t at = from;
  while (at + kRecordHeaderBytes <= size) {
    const void* hit = ::memmem(data + at, size - at, magic, sizeof magic);
    if (hit == nullptr) break;
    at = static_cast<uint64_t>(static_cast<const uint8_t*>(hit) - data);
    RecordView r;
    if (check_record(data + at, size - at, r) == RecordCheck::kOk && r.zxid > above) return at;
    ++at;
  }
  return UINT64_MAX;
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

}  // namespace

bool scan_segment(const std::string& path, const uint8_t* data, uint64_t size, bool is_last,
                  const ScanReplayFn* replay, ScanResult& result) {
  SegmentHeader header;
  std::string why;
  if (!decode_segment_header(data, size, header, why)) {
    const uint64_t after = std::min<uint64_t>(size, kSegmentHeaderBlockBytes);
    if (is_last && all_zero(data + after, size - after)) {
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
    RecordCheck c = off < size ? check_record(data + off, size - off, r) : RecordCheck::kZero;
    if (c == RecordCheck::kZero) {
      // End of data. Nothing valid may follow: that would be a lost write in the middle of the log.
      uint64_t next = find_valid_record(data, size, off, result.last_zxid);
      if (next != UINT64_MAX) {
        return fail(result, ScanStatus::kCorrupt,
                    corrupt(path, off, "zeroed bytes before a valid record at offset " + std::to_string(next)));
      }
      break;
    }
    if (c == RecordCheck::kOk && (r.zxid <= result.last_zxid || r.zxid < seg.first_zxid)) {
      return fail(result, ScanStatus::kCorrupt,
                  corrupt(path, off,
                          "record zxid " + hex(r.zxid) + " not above the previous zxid " + hex(result.last_zxid) +
                              " (segment first zxid " + hex(seg.first_zxid) + ")"));
    }
    if (c != RecordCheck::kOk) {
      uint64_t next = find_valid_record(data, size, off + 1, result.last_zxid);
      if (!is_last || next != UINT64_MAX) {
        std::string what = describe(c, r);
        if (next != UINT64_MAX) what += "; a valid record follows at offset " + std::to_string(next);
        return fail(result, ScanStatus::kCorrupt, corrupt(path, off, what));
      }
      result.status = ScanStatus::kTornTail;
      result.torn_file = path;
      result.torn_offset = off;
      result.torn_end = end_of_nonzero(data, size, off);
      result.torn_reason = describe(c, r);
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

ScanResult scan_dir(const std::string& dir, const ScanReplayFn* replay) {
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
    FileBytes f;
    std::string error;
    if (!read_file(path, f, error)) {
      fail(result, ScanStatus::kError, error);
      break;
    }
    if (!scan_segment(path, f.data.get(), f.size, i + 1 == names.size(), replay, result)) break;
  }
  return result;
}

}  // namespace uk::wal
