// The WAL recovery scan: reads every segment in a directory, checks every record, replays the valid ones and
// decides what recovery must do. It never writes: Wal::open() acts on the result (zeroes a torn tail, removes a
// segment whose header never reached the disk), and `ukctl wal verify` only reports it.
//
// Decisions (format in wal.h):
// - Segments are read in file-name order (= first-zxid order). Each record must have the record magic, a length
//   within the segment and <= kMaxRecordPayloadBytes, a matching crc32c, a zero reserved field, and a zxid above
//   every zxid before it (and >= its segment's first zxid). A zero magic ends a segment's data.
// - Padding records are skipped.
// - A bad record in the LAST segment with no valid record anywhere after it (searched byte by byte for a record
//   with a magic, a matching crc and a higher zxid) is a torn tail: the write that carried it never completed,
//   so it was never acknowledged. So is a bad record, or the end-of-data zeros, followed only by valid records
//   that were all written while it was not yet durable (each record's `back`, wal.h): writes in flight together
//   that completed out of order, none of them acknowledged. Recovery zeroes all of it.
//   Anything else that is bad is corruption: a bad record in an earlier segment, a bad record or zeros followed
//   by a record written after that offset was durable (version 1 records always count as such), a zxid out of
//   order. (Damage to acknowledged records of the last writes in flight reads as a torn tail: the scan cannot
//   tell it from a torn write; a replicated node gets them back from the leader.)
// - A last segment whose header block is bad but whose bytes after the header block are all zero is a crash while
//   rolling: the segment is incomplete and holds nothing. A bad header anywhere else is corruption.
//
// Memory: a segment is streamed through a window of chunk_bytes (records may straddle windows; a record bigger
// than a window is crc-checked piece by piece and then read whole), so the scan holds at most
// max(chunk_bytes, largest valid record) of file bytes at once, whatever the segment size. Files that are not
// segment files (the spare "wal-spare.next", cut copies "*.seg.tmp") are never read.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ukeeper/common/types.h"

namespace uk::wal {

enum class ScanStatus {
  kClean,     // nothing to repair
  kTornTail,  // a torn tail and/or an incomplete last segment: open() repairs it, no acknowledged data is lost
  kCorrupt,   // damage before the tail: the node must not start (error says file and offset)
  kError,     // the directory or a file could not be read
};

struct ScanSegment {
  std::string path;
  Zxid first_zxid = 0;       // from the header (= the file name)
  uint64_t file_bytes = 0;   // the file's size: records must end within it
  uint64_t data_end = 0;     // offset just past the last valid record (kSegmentHeaderBlockBytes when empty)
  uint64_t records = 0;
  uint64_t pad_bytes = 0;    // bytes of padding records among the data
  Zxid last_zxid = 0;        // 0 when the segment holds no record
};

struct ScanResult {
  ScanStatus status = ScanStatus::kClean;
  std::vector<ScanSegment> segments;  // the usable segments in order (an incomplete last segment is not listed)
  uint64_t records = 0;
  Zxid last_zxid = 0;

  // kTornTail: bytes [torn_offset, torn_end) of torn_file (the last listed segment) hold the torn record and
  // whatever followed it; recovery zeroes them. torn_file is empty when only an incomplete segment was found.
  std::string torn_file;
  uint64_t torn_offset = 0;
  uint64_t torn_end = 0;
  std::string torn_reason;  // e.g. "crc mismatch (record zxid 0x12)"
  // kTornTail: a last segment with a bad header and nothing after it; recovery removes the file.
  std::string incomplete_segment;
  std::string incomplete_reason;

  std::string error;  // kCorrupt: "wal corrupt: <file> offset <n>: <what>"; kError: what failed

  uint64_t peak_buffer_bytes = 0;  // the most segment bytes the scan held in memory at once
};

inline constexpr uint64_t kDefaultScanChunkBytes = 1ull << 20;

using ScanReplayFn = std::function<void(Zxid zxid, std::string_view payload)>;

// The scan of one segment whose whole file is in memory (`size` bytes at `data`; `path` names it in messages and
// its file name must carry the header's first zxid), continuing `result` from the segments before it: records
// must exceed result.last_zxid, and counts, segments and the torn-tail fields are added to it. `is_last` says
// whether damage may be a torn tail. Returns false when the scan must stop (result.status kCorrupt, result.error
// set). Pure: the fuzz target calls it on arbitrary bytes. chunk_bytes 0 reads the bytes in place; otherwise they
// are copied window by window exactly as scan_dir reads a file (the same decisions, for tests).
bool scan_segment(const std::string& path, const uint8_t* data, uint64_t size, bool is_last,
                  const ScanReplayFn* replay, ScanResult& result, uint64_t chunk_bytes = 0);

// Scans `dir`. `replay` (may be null) receives every valid record in order, before the scan knows whether a
// later segment is corrupt: a caller that gets kCorrupt or kError must discard what it replayed.
ScanResult scan_dir(const std::string& dir, const ScanReplayFn* replay,
                    uint64_t chunk_bytes = kDefaultScanChunkBytes);

}  // namespace uk::wal
