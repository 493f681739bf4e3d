#include "ukeeper/storage/wal/format.h"

#include <cstdio>
#include <cstring>

#include "ukeeper/common/crc32c.h"
#include "ukeeper/common/znode_codec.h"

namespace uk::wal {
namespace {

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename T>
void store(uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

constexpr size_t kHeaderCrcOffset = kSegmentHeaderBytes - 4;

}  // namespace

std::string segment_file_name(Zxid first_zxid) { return zxid_file_name("wal-", first_zxid, ".seg"); }

std::optional<Zxid> parse_segment_file_name(std::string_view name) {
  return parse_zxid_file_name(name, "wal-", ".seg");
}

void encode_segment_header(const SegmentHeader& header, uint8_t* out) {
  std::memset(out, 0, kSegmentHeaderBlockBytes);
  std::memcpy(out, kSegmentMagic, sizeof kSegmentMagic);
  store<uint32_t>(out + 8, header.version);
  store<uint32_t>(out + 12, header.header_bytes);
  store<uint64_t>(out + 16, static_cast<uint64_t>(header.first_zxid));
  store<uint64_t>(out + 24, header.segment_bytes);
  store<uint32_t>(out + kHeaderCrcOffset, crc32c(out, kHeaderCrcOffset));
}

bool decode_segment_header(const uint8_t* data, size_t n, SegmentHeader& out, std::string& why) {
  if (n < kSegmentHeaderBlockBytes) {
    why = "segment header block truncated (" + std::to_string(n) + " bytes)";
    return false;
  }
  if (std::memcmp(data, kSegmentMagic, sizeof kSegmentMagic) != 0) {
    why = "bad segment header magic";
    return false;
  }
  if (load<uint32_t>(data + kHeaderCrcOffset) != crc32c(data, kHeaderCrcOffset)) {
    why = "segment header crc mismatch";
    return false;
  }
  out.version = load<uint32_t>(data + 8);
  out.header_bytes = load<uint32_t>(data + 12);
  out.first_zxid = static_cast<Zxid>(load<uint64_t>(data + 16));
  out.segment_bytes = load<uint64_t>(data + 24);
  if (out.version != kFormatVersion || out.header_bytes != kSegmentHeaderBytes) {
    why = "unsupported segment format version " + std::to_string(out.version);
    return false;
  }
  return true;
}

void encode_record(Zxid zxid, std::string_view payload, uint8_t* out) {
  store<uint32_t>(out, kRecordMagic);
  store<uint32_t>(out + 4, static_cast<uint32_t>(payload.size()));
  store<uint64_t>(out + 8, static_cast<uint64_t>(zxid));
  if (!payload.empty()) std::memcpy(out + kRecordHeaderBytes, payload.data(), payload.size());
  uint32_t crc = crc32c_extend(crc32c(out + 4, 12), payload.data(), payload.size());
  store<uint32_t>(out + 16, crc);
  store<uint32_t>(out + 20, 0);
}

RecordCheck check_record_header(const uint8_t* data, uint64_t avail, RecordView& out) {
  out = RecordView{};
  const size_t magic_bytes = avail < 4 ? static_cast<size_t>(avail) : 4;
  bool zero_magic = true;
  for (size_t i = 0; i < magic_bytes; ++i) zero_magic = zero_magic && data[i] == 0;
  if (zero_magic) return RecordCheck::kZero;  // (fewer than 4 bytes left, all zero: also the end)
  if (avail < kRecordHeaderBytes) return RecordCheck::kTruncated;
  if (load<uint32_t>(data) != kRecordMagic) return RecordCheck::kBadMagic;
  out.payload_bytes = load<uint32_t>(data + 4);
  out.zxid = static_cast<Zxid>(load<uint64_t>(data + 8));
  out.stored_crc = load<uint32_t>(data + 16);
  if (out.payload_bytes > kMaxRecordPayloadBytes || out.payload_bytes > avail - kRecordHeaderBytes) {
    return RecordCheck::kBadLength;
  }
  return RecordCheck::kOk;
}

RecordCheck check_record(const uint8_t* data, size_t avail, RecordView& out) {
  if (const RecordCheck head = check_record_header(data, avail, out); head != RecordCheck::kOk) return head;
  out.payload = std::string_view(reinterpret_cast<const char*>(data + kRecordHeaderBytes), out.payload_bytes);
  if (load<uint32_t>(data + 20) != 0) return RecordCheck::kBadReserved;
  uint32_t crc = crc32c_extend(crc32c(data + 4, 12), out.payload.data(), out.payload.size());
  if (crc != out.stored_crc) return RecordCheck::kBadCrc;
  return RecordCheck::kOk;
}

std::string_view record_check_name(RecordCheck c) {
  switch (c) {
    case RecordCheck::kOk: return "ok";
    case RecordCheck::kZero: return "end of data";
    case RecordCheck::kTruncated: return "truncated record header";
    case RecordCheck::kBadMagic: return "bad record magic";
    case RecordCheck::kBadLength: return "bad record length";
    case RecordCheck::kBadReserved: return "reserved field not zero";
    case RecordCheck::kBadCrc: return "crc mismatch";
  }
  return "?";
}

}  // namespace uk::wal
