// libFuzzer target: the WAL record and segment checks (storage/include/ukeeper/storage/wal/{format,scan}.h) that
// recovery runs over whatever a crash or a bad disk left behind. They must survive any bytes and keep their
// promises: an accepted record re-encodes to the same bytes; a scan replays only valid records in increasing
// zxid order, reports offsets inside the segment, calls damage a torn tail only in the last segment, and a
// segment rebuilt from what it replayed scans clean with the same records.
//
// Input: byte 0 picks the mode.
//   0  check_record() on the rest
//   1  a segment with a valid header: the next 8 bytes are its first zxid (little-endian), the next byte holds
//      flags (bit 0: it is the last segment; bit 1: an earlier segment ended at first zxid + 7), and the rest
//      follows the 4096-byte header block as the records area
//   2  the rest is a whole segment file, header block included (mostly exercises the header checks)
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "ukeeper/storage/wal/format.h"
#include "ukeeper/storage/wal/scan.h"

namespace {

using namespace uk::wal;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_wal: %s\n", what);
  __builtin_trap();
}

void record_mode(const uint8_t* data, size_t size) {
  RecordView r;
  const RecordCheck c = check_record(data, size, r);
  if (record_check_name(c) == "?") fail("unnamed RecordCheck");
  if (c != RecordCheck::kOk) return;
  const uint64_t bytes = record_bytes(r.payload_bytes);
  if (bytes > size || r.payload.size() != r.payload_bytes) fail("an accepted record runs past its buffer");
  uint32_t magic = 0;
  std::memcpy(&magic, data, sizeof magic);
  if (magic == kRecordMagicV1) return;  // (written by older versions only; this build encodes version 2)
  std::vector<uint8_t> again(bytes);
  if (r.pad) {
    encode_pad(bytes, again.data(), r.back);
    if (r.payload.find_first_not_of('\0') != std::string_view::npos) return;  // a pad's payload need not be zero
  } else {
    encode_record(r.zxid, r.payload, again.data(), r.back);
  }
  if (std::memcmp(again.data(), data, bytes) != 0) fail("an accepted record does not re-encode to its bytes");
}

using Records = std::vector<std::pair<uk::Zxid, std::string>>;

// Scans one in-memory segment and checks the result's promises. Returns the replayed records.
Records scan_and_check(const std::string& path, const std::vector<uint8_t>& seg, bool is_last, uk::Zxid before,
                       ScanResult& res) {
  Records seen;
  ScanReplayFn fn = [&](uk::Zxid z, std::string_view p) { seen.emplace_back(z, std::string(p)); };
  res = ScanResult{};
  res.last_zxid = before;
  const bool go_on = scan_segment(path, seg.data(), seg.size(), is_last, &fn, res);
  if (go_on == (res.status == ScanStatus::kCorrupt)) fail("return value and status disagree");
  if (res.status == ScanStatus::kError) fail("a scan of memory reported an I/O error");
  if (!go_on) {
    if (res.error.empty()) fail("corrupt without a message");
    return seen;
  }
  if (!is_last && res.status != ScanStatus::kClean) fail("damage in a segment that is not the last is not corruption");
  uk::Zxid prev = before;
  for (const auto& [z, p] : seen) {
    if (z <= prev) fail("replayed zxids do not increase");
    prev = z;
  }
  if (!res.incomplete_segment.empty()) {
    if (!seen.empty() || !res.segments.empty()) fail("an incomplete segment replayed records");
    return seen;
  }
  if (res.segments.size() != 1) fail("one segment scanned, not one listed");
  const ScanSegment& s = res.segments[0];
  if (s.records != seen.size() || res.records != seen.size()) fail("record count differs from the replay");
  if (s.data_end < kSegmentHeaderBlockBytes || s.data_end > seg.size()) fail("data end outside the segment");
  if (!seen.empty() && (s.last_zxid != seen.back().first || seen.front().first < s.first_zxid)) {
    fail("segment zxids disagree with the replay");
  }
  if (!res.torn_file.empty()) {
    if (res.torn_offset != s.data_end || res.torn_end <= res.torn_offset || res.torn_end > seg.size()) {
      fail("torn range is not after the last valid record and inside the segment");
    }
  }
  return seen;
}

std::vector<uint8_t> segment_of(uk::Zxid first, const uint8_t* records, size_t n) {
  std::vector<uint8_t> seg(kSegmentHeaderBlockBytes + n, 0);
  SegmentHeader h;
  h.first_zxid = first;
  h.segment_bytes = seg.size();
  encode_segment_header(h, seg.data());
  if (n > 0) std::memcpy(seg.data() + kSegmentHeaderBlockBytes, records, n);
  return seg;
}

void segment_mode(const uint8_t* data, size_t size) {
  if (size < 9) return;
  uint64_t first_raw;
  std::memcpy(&first_raw, data, 8);
  const auto first = static_cast<uk::Zxid>(first_raw);
  const bool is_last = (data[8] & 1) != 0;
  const uk::Zxid before = (data[8] & 2) && first < INT64_MAX - 7 ? first + 7 : 0;
  const std::string path = "mem/" + segment_file_name(first);
  const std::vector<uint8_t> seg = segment_of(first, data + 9, size - 9);
  ScanResult res;
  const Records seen = scan_and_check(path, seg, is_last, before, res);
  if (res.status == ScanStatus::kCorrupt) return;

  // What was replayed, written again into a fresh segment of the same size, is a clean segment of the same records.
  std::vector<uint8_t> area(size - 9, 0);
  uint64_t off = 0;
  for (const auto& [z, p] : seen) {
    encode_record(z, p, area.data() + off);
    off += record_bytes(p.size());
  }
  const ScanSegment& s = res.segments[0];
  if (off != s.data_end - kSegmentHeaderBlockBytes - s.pad_bytes) fail("replayed records and pads do not fill the data");
  ScanResult again;
  const Records seen2 = scan_and_check(path, segment_of(first, area.data(), area.size()), is_last, before, again);
  if (again.status != ScanStatus::kClean || seen2 != seen) fail("a rebuilt segment does not scan clean and equal");
}

void file_mode(const uint8_t* data, size_t size) {
  std::vector<uint8_t> seg(data, data + size);
  SegmentHeader h;
  std::string why;
  const bool header_ok = decode_segment_header(seg.data(), seg.size(), h, why);
  if (!header_ok && why.empty()) fail("header rejected without a reason");
  const std::string path = "mem/" + segment_file_name(header_ok ? h.first_zxid : 1);
  ScanResult res;
  scan_and_check(path, seg, true, 0, res);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  switch (data[0] % 3) {
    case 0: record_mode(data + 1, size - 1); break;
    case 1: segment_mode(data + 1, size - 1); break;
    default: file_mode(data + 1, size - 1); break;
  }
  return 0;
}
