// ukctl: inspect ukeeper's storage.
//   ukctl wal dump FILE    the segment header and one line per record (offset, zxid, length, crc ok/bad)
//   ukctl wal verify DIR   the recovery scan, read-only: exit 0 clean, 1 a torn tail open() would truncate,
//                          2 corrupt (or unreadable)
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "ukeeper/storage/wal/format.h"
#include "ukeeper/storage/wal/scan.h"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: ukctl wal dump FILE     print a WAL segment's header and records\n"
               "       ukctl wal verify DIR    check a WAL directory as recovery would (read-only);\n"
               "                               exit 0 clean, 1 torn tail (would be truncated), 2 corrupt\n");
  return 64;
}

bool read_all(const char* path, std::vector<uint8_t>& out) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "ukctl: open %s: %s\n", path, std::strerror(errno));
    return false;
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    std::fprintf(stderr, "ukctl: fstat %s: %s\n", path, std::strerror(errno));
    ::close(fd);
    return false;
  }
  out.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::fprintf(stderr, "ukctl: read %s: %s\n", path, n < 0 ? std::strerror(errno) : "unexpected end");
      ::close(fd);
      return false;
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return true;
}

int wal_dump(const char* path) {
  using namespace uk::wal;
  std::vector<uint8_t> f;
  if (!read_all(path, f)) return 2;
  SegmentHeader h;
  std::string why;
  if (!decode_segment_header(f.data(), f.size(), h, why)) {
    std::printf("segment %s: %zu bytes, header bad: %s\n", path, f.size(), why.c_str());
    return 2;
  }
  std::printf("segment %s: version %u, first zxid 0x%" PRIx64 ", segment bytes %" PRIu64 ", file bytes %zu\n",
              path, h.version, static_cast<uint64_t>(h.first_zxid), h.segment_bytes, f.size());
  std::printf("%12s  %18s  %10s  %s\n", "offset", "zxid", "length", "crc");
  uint64_t off = kSegmentHeaderBlockBytes, records = 0, bad = 0;
  while (off < f.size()) {
    RecordView r;
    RecordCheck c = check_record(f.data() + off, f.size() - off, r);
    if (c == RecordCheck::kZero) break;
    if (c == RecordCheck::kOk || c == RecordCheck::kBadCrc || c == RecordCheck::kBadReserved) {
      std::printf("%12" PRIu64 "  0x%016" PRIx64 "  %10u  %s\n", off, static_cast<uint64_t>(r.zxid),
                  r.payload_bytes, c == RecordCheck::kOk ? "ok" : std::string(record_check_name(c)).c_str());
      records += 1;
      bad += c == RecordCheck::kOk ? 0 : 1;
      off += record_bytes(r.payload_bytes);  // the length is within bounds: the next record follows
      continue;
    }
    std::printf("%12" PRIu64 "  %s: cannot continue past this offset\n", off,
                std::string(record_check_name(c)).c_str());
    bad += 1;
    break;
  }
  std::printf("%" PRIu64 " records, %" PRIu64 " bad, data ends at offset %" PRIu64 "\n", records, bad, off);
  return bad == 0 ? 0 : 2;
}

int wal_verify(const char* dir) {
  using namespace uk::wal;
  ScanResult r = scan_dir(dir, nullptr);
  if (r.status == ScanStatus::kCorrupt || r.status == ScanStatus::kError) {
    std::printf("%s\n", r.error.c_str());
    std::printf("%" PRIu64 " valid records before it, last zxid 0x%" PRIx64 "\n", r.records,
                static_cast<uint64_t>(r.last_zxid));
    return 2;
  }
  std::printf("%zu segments, %" PRIu64 " records, last zxid 0x%" PRIx64 "\n", r.segments.size(), r.records,
              static_cast<uint64_t>(r.last_zxid));
  for (const ScanSegment& s : r.segments) {
    std::printf("  %s: %" PRIu64 " records, data ends at %" PRIu64 " of %" PRIu64 " bytes\n", s.path.c_str(),
                s.records, s.data_end, s.file_bytes);
  }
  if (!r.incomplete_segment.empty()) {
    std::printf("incomplete last segment (would be removed): %s: %s\n", r.incomplete_segment.c_str(),
                r.incomplete_reason.c_str());
  }
  if (!r.torn_file.empty()) {
    std::printf("torn tail (would be truncated): %s offset %" PRIu64 ": %s (%" PRIu64 " bytes to zero)\n",
                r.torn_file.c_str(), r.torn_offset, r.torn_reason.c_str(), r.torn_end - r.torn_offset);
  }
  if (r.status == ScanStatus::kTornTail) return 1;
  std::printf("clean\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "wal") == 0 && std::strcmp(argv[2], "dump") == 0) return wal_dump(argv[3]);
  if (argc == 4 && std::strcmp(argv[1], "wal") == 0 && std::strcmp(argv[2], "verify") == 0) {
    return wal_verify(argv[3]);
  }
  return usage();
}
