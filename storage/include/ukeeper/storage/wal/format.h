// The WAL's on-disk format (version 2, described in wal.h; version 1 segments are still read): constants, segment file names, and encoders and
// checkers for the segment header block and for records. Pure functions over byte buffers, shared by the Wal,
// the recovery scan (scan.h), ukctl and the tests.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ukeeper/common/types.h"

namespace uk::wal {

static_assert(std::endian::native == std::endian::little, "the WAL format is little-endian; add byte swaps");

inline constexpr uint32_t kFormatVersion = 2;
// The oldest segment format this build reads (its records: kRecordMagicV1 only).
inline constexpr uint32_t kOldestFormatVersion = 1;
// The segment header occupies the whole first block so records start block-aligned for O_DIRECT.
inline constexpr uint64_t kBlockBytes = 4096;
inline constexpr uint64_t kSegmentHeaderBlockBytes = kBlockBytes;
inline constexpr char kSegmentMagic[8] = {'U', 'K', 'W', 'A', 'L', 'S', 'E', 'G'};
// magic(8) version(4) header size(4) first zxid(8) segment bytes(8) crc(4)
inline constexpr uint32_t kSegmentHeaderBytes = 36;
// Record magics share their last three bytes ("LWU") so a search for a record after damage looks for one string.
inline constexpr uint32_t kRecordMagicV1 = 0x55574C52;  // "RLWU" in little-endian bytes: version 1 records
inline constexpr uint32_t kRecordMagic = 0x55574C53;    // "SLWU": version 2 records
inline constexpr uint32_t kPadMagic = 0x55574C50;       // "PLWU": version 2 padding up to a block boundary
// magic(4) length(4) zxid(8) crc(4) back(4) (version 1: reserved, zero)
inline constexpr uint64_t kRecordHeaderBytes = 24;
// A larger length field is damage, not a record: ZooKeeper's jute.maxbuffer is far below this.
inline constexpr uint64_t kMaxRecordPayloadBytes = 64ull << 20;
// Smallest segment that holds the header block and one block of records.
inline constexpr uint64_t kMinSegmentBytes = 2 * kBlockBytes;

inline constexpr uint64_t record_bytes(size_t payload_bytes) { return kRecordHeaderBytes + payload_bytes; }

// "wal-<first zxid as 16 lowercase hex digits>.seg"
std::string segment_file_name(Zxid first_zxid);
// The first zxid when `name` is a segment file name, else nullopt.
std::optional<Zxid> parse_segment_file_name(std::string_view name);

struct SegmentHeader {
  uint32_t version = kFormatVersion;
  uint32_t header_bytes = kSegmentHeaderBytes;
  Zxid first_zxid = 0;
  uint64_t segment_bytes = 0;
};

// Writes the full header block (kSegmentHeaderBlockBytes; the tail is zeroed) into `out`.
void encode_segment_header(const SegmentHeader& header, uint8_t* out);
// Checks magic, crc and version of a header block of `n` bytes. On failure returns false and sets `why`.
bool decode_segment_header(const uint8_t* data, size_t n, SegmentHeader& out, std::string& why);

// Writes a version 2 record (header + payload, record_bytes(payload.size()) bytes) into `out`. `back`: how many
// bytes before this record's offset the segment's durable data ended when its write was submitted (see wal.h).
void encode_record(Zxid zxid, std::string_view payload, uint8_t* out, uint32_t back = 0);
// encode_record() in two steps: the record without its `back` and crc (no checksum work), then sealed once its
// `back` is known. seal_record() reads the length from the header at `rec`.
void encode_record_unsealed(Zxid zxid, std::string_view payload, uint8_t* out);
void seal_record(uint8_t* rec, uint32_t back);
// Writes a padding record of exactly `bytes` bytes (>= kRecordHeaderBytes; the payload is zeros) into `out`.
void encode_pad(uint64_t bytes, uint8_t* out, uint32_t back);

enum class RecordCheck {
  kOk,
  kZero,         // the magic is zero: the end of the segment's data
  kTruncated,    // fewer than kRecordHeaderBytes remain
  kBadMagic,
  kBadLength,    // length beyond the segment's end or above kMaxRecordPayloadBytes
  kBadReserved,  // a version 1 record's reserved field (not covered by its crc) is not zero
  kBadCrc,
};

struct RecordView {
  bool pad = false;   // a padding record: no zxid, nothing to replay
  uint32_t back = 0;  // version 2: bytes back to the durable end when written (0 for version 1 records)
  Zxid zxid = 0;
  uint32_t payload_bytes = 0;
  uint32_t stored_crc = 0;
  std::string_view payload;  // points into the checked buffer; valid when kOk or kBadCrc
};

// Checks the record at `data` with `avail` bytes up to the end of the segment. Fills `out` as far as the
// header could be read (zxid and length are set for kBadCrc and kBadReserved, for messages).
RecordCheck check_record(const uint8_t* data, size_t avail, RecordView& out);

// The checks of check_record() that need only the record's header: `head` holds min(kRecordHeaderBytes, avail)
// bytes of a record with `avail` bytes up to the end of the segment. Returns kZero, kTruncated, kBadMagic or
// kBadLength as check_record() would, else kOk: the header is plausible (record_bytes(out.payload_bytes) <= avail)
// and the whole record still needs check_record() (or the reserved field and crc checked piecewise). Sets zxid,
// payload_bytes and stored_crc as far as the header could be read; never the payload. For readers that hold a
// window of a segment, not all of it (scan.cc, wal_truncate.cc).
RecordCheck check_record_header(const uint8_t* head, uint64_t avail, RecordView& out);

// The crc of the header fields a record's crc covers (by its magic: version 1 length and zxid; version 2 also
// back), to be extended over the payload. For readers that check a big record piece by piece.
uint32_t record_header_crc(const uint8_t* header);

std::string_view record_check_name(RecordCheck c);

}  // namespace uk::wal
