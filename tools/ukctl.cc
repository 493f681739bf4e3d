// ukctl: inspect ukeeper's storage.
//   ukctl wal dump FILE    the segment header and one line per record (offset, zxid, length, crc ok/bad)
//   ukctl wal verify DIR   the recovery scan, read-only: exit 0 clean, 1 a torn tail open() would truncate,
//                          2 corrupt (or unreadable)
//   ukctl snapshot show FILE
//                          the snapshot's header (zxid, node and session counts) and a full decode (checksum and
//                          structure): exit 0 valid, 2 corrupt (or unreadable)
//   ukctl data verify DATADIR [DATALOGDIR]
//                          what recovery would do with DATADIR/snap and (DATALOGDIR or DATADIR)/wal, read-only:
//                          the newest valid snapshot, the WAL records replayed after it, checked as the server
//                          checks them (decodable, no zxid gap). Exit 0 clean, 1 recovery would repair or skip
//                          something (a torn tail, an incomplete segment, an invalid snapshot), 2 it would refuse
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ukeeper/storage/snapshot/snapshot.h"
#include "ukeeper/storage/tree/data_tree.h"
#include "ukeeper/storage/tree/txn.h"
#include "ukeeper/storage/wal/format.h"
#include "ukeeper/storage/wal/scan.h"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: ukctl wal dump FILE     print a WAL segment's header and records\n"
               "       ukctl wal verify DIR    check a WAL directory as recovery would (read-only);\n"
               "                               exit 0 clean, 1 torn tail (would be truncated), 2 corrupt\n"
               "       ukctl snapshot show FILE    print a snapshot's zxid and counts and verify it; exit 0 ok, 2 corrupt\n"
               "       ukctl data verify DATADIR [DATALOGDIR]\n"
               "                               what recovery would do (newest valid snapshot + WAL replay), read-only;\n"
               "                               exit 0 clean, 1 something would be repaired or skipped, 2 it would refuse\n");
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

std::string zxid_hex(uk::Zxid z) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%016" PRIx64, static_cast<uint64_t>(z));
  return b;
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
  std::printf("%12s  %18s  %10s  %10s  %s\n", "offset", "zxid", "length", "back", "crc");
  uint64_t off = kSegmentHeaderBlockBytes, records = 0, pads = 0, bad = 0;
  while (off < f.size()) {
    RecordView r;
    RecordCheck c = check_record(f.data() + off, f.size() - off, r);
    if (c == RecordCheck::kZero) break;
    if (c == RecordCheck::kOk || c == RecordCheck::kBadCrc || c == RecordCheck::kBadReserved) {
      const std::string zxid = r.pad ? std::string("pad") : zxid_hex(r.zxid);
      std::printf("%12" PRIu64 "  %18s  %10u  %10u  %s\n", off, zxid.c_str(), r.payload_bytes, r.back,
                  c == RecordCheck::kOk ? "ok" : std::string(record_check_name(c)).c_str());
      (r.pad ? pads : records) += 1;
      bad += c == RecordCheck::kOk ? 0 : 1;
      off += record_bytes(r.payload_bytes);  // the length is within bounds: the next record follows
      continue;
    }
    std::printf("%12" PRIu64 "  %s: cannot continue past this offset\n", off,
                std::string(record_check_name(c)).c_str());
    bad += 1;
    break;
  }
  std::printf("%" PRIu64 " records, %" PRIu64 " pads, %" PRIu64 " bad, data ends at offset %" PRIu64 "\n", records,
              pads, bad, off);
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
    std::printf("  %s: %" PRIu64 " records (+%" PRIu64 " bytes of padding), data ends at %" PRIu64 " of %" PRIu64
                " bytes\n",
                s.path.c_str(), s.records, s.pad_bytes, s.data_end, s.file_bytes);
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


int snapshot_show(const char* path) {
  std::vector<uint8_t> f;
  if (!read_all(path, f)) return 2;
  const std::string_view bytes(reinterpret_cast<const char*>(f.data()), f.size());
  uk::SnapshotHeader h;
  std::string error;
  if (!uk::decode_snapshot_header(bytes, h, error)) {
    std::printf("snapshot %s: %zu bytes, header bad: %s\n", path, f.size(), error.c_str());
    return 2;
  }
  std::printf("snapshot %s: format version %u, zxid 0x%" PRIx64 ", %" PRId64 " nodes, %" PRId64
              " sessions, %zu bytes\n",
              path, h.version, static_cast<uint64_t>(h.zxid), h.node_count, h.session_count, f.size());
  uk::DataTree tree;
  if (!uk::load_snapshot_file(path, tree, error)) {
    std::printf("corrupt: %s\n", error.c_str());
    return 2;
  }
  size_t ephemerals = 0;
  for (const auto& [session, paths] : tree.ephemerals()) ephemerals += paths.size();
  std::printf("valid: crc32c ok, tree consistent; %zu ephemerals, %zu containers, %zu TTL nodes, approximate data "
              "size %" PRId64 " bytes\n",
              ephemerals, tree.containers().size(), tree.ttl_nodes().size(), tree.approximate_data_size());
  return 0;
}

// What Server::open_storage does, without changing anything: the newest snapshot that loads, then every WAL record
// above its zxid, each of which must decode and follow the previous zxid by one.
int data_verify(const std::string& data_dir, const std::string& log_dir) {
  using namespace uk::wal;
  if (!std::filesystem::is_directory(data_dir)) {
    std::printf("%s is not a directory\n", data_dir.c_str());
    return 2;
  }
  int rc = 0;
  const std::string snap_dir = data_dir + "/snap";
  const std::string wal_dir = log_dir + "/wal";

  uk::DataTree tree;
  std::vector<std::string> skipped;
  const uk::Zxid snap_zxid = uk::load_newest_snapshot(snap_dir, tree, skipped);
  const size_t snapshots = uk::list_snapshots(snap_dir).size();
  for (const std::string& s : skipped) std::printf("invalid snapshot (would be skipped): %s\n", s.c_str());
  if (!skipped.empty()) rc = 1;
  if (snapshots > skipped.size()) {
    std::printf("snapshot: would load zxid 0x%" PRIx64 " from %s: %zu nodes, %zu sessions (%zu snapshot files)\n",
                static_cast<uint64_t>(snap_zxid), snap_dir.c_str(), tree.node_count(), tree.sessions().size(),
                snapshots);
  } else {
    std::printf("snapshot: none valid in %s: recovery would start from an empty tree\n", snap_dir.c_str());
  }

  if (!std::filesystem::exists(wal_dir)) {
    std::printf("wal: %s does not exist: nothing to replay; recovered zxid 0x%" PRIx64 "\n", wal_dir.c_str(),
                static_cast<uint64_t>(snap_zxid));
    return rc;
  }
  uk::Zxid last = snap_zxid, first_replayed = 0;
  uint64_t replayed = 0, below = 0;
  std::string replay_error;
  ScanReplayFn replay = [&](uk::Zxid zxid, std::string_view payload) {
    if (!replay_error.empty()) return;
    if (zxid <= snap_zxid) {
      below++;
      return;
    }
    std::optional<uk::Txn> txn = uk::decode_txn(payload);
    char z[24];
    std::snprintf(z, sizeof z, "0x%" PRIx64, static_cast<uint64_t>(zxid));
    if (!txn || txn->zxid != zxid) {
      replay_error = std::string("wal record ") + z + " passed its checksum but does not decode";
    } else if (zxid != last + 1) {
      char l[24];
      std::snprintf(l, sizeof l, "0x%" PRIx64, static_cast<uint64_t>(last));
      replay_error = std::string("wal has a gap: record ") + z + " follows " + l;
    } else {
      if (replayed == 0) first_replayed = zxid;
      replayed++;
      last = zxid;
    }
  };
  ScanResult r = scan_dir(wal_dir, &replay);
  if (r.status == ScanStatus::kCorrupt || r.status == ScanStatus::kError) {
    std::printf("wal: %s\nrecovery would refuse to start\n", r.error.c_str());
    return 2;
  }
  std::printf("wal: %zu segments, %" PRIu64 " records in %s (%" PRIu64 " at or below the snapshot's zxid)\n",
              r.segments.size(), r.records, wal_dir.c_str(), below);
  if (!r.incomplete_segment.empty()) {
    std::printf("wal: incomplete last segment (would be removed): %s: %s\n", r.incomplete_segment.c_str(),
                r.incomplete_reason.c_str());
    rc = 1;
  }
  if (!r.torn_file.empty()) {
    std::printf("wal: torn tail (would be truncated): %s offset %" PRIu64 ": %s\n", r.torn_file.c_str(),
                r.torn_offset, r.torn_reason.c_str());
    rc = 1;
  }
  if (!replay_error.empty()) {
    std::printf("wal: %s\nrecovery would refuse to start\n", replay_error.c_str());
    return 2;
  }
  if (replayed > 0) {
    std::printf("replay: %" PRIu64 " transactions, zxid 0x%" PRIx64 " to 0x%" PRIx64 "\n", replayed,
                static_cast<uint64_t>(first_replayed), static_cast<uint64_t>(last));
  } else {
    std::printf("replay: nothing after the snapshot\n");
  }
  std::printf("recovered zxid would be 0x%" PRIx64 "%s\n", static_cast<uint64_t>(last),
              rc == 0 ? "; clean" : "; after the repairs above");
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "wal") == 0 && std::strcmp(argv[2], "dump") == 0) return wal_dump(argv[3]);
  if (argc == 4 && std::strcmp(argv[1], "wal") == 0 && std::strcmp(argv[2], "verify") == 0) {
    return wal_verify(argv[3]);
  }
  if (argc == 4 && std::strcmp(argv[1], "snapshot") == 0 && std::strcmp(argv[2], "show") == 0) {
    return snapshot_show(argv[3]);
  }
  if ((argc == 4 || argc == 5) && std::strcmp(argv[1], "data") == 0 && std::strcmp(argv[2], "verify") == 0) {
    return data_verify(argv[3], argc == 5 ? argv[4] : argv[3]);
  }
  return usage();
}
