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
  if (out.version < kOldestFormatVersion || out.version > kFormatVersion ||
      out.header_bytes != kSegmentHeaderBytes) {
    why = "unsupported segment format version " + std::to_string(out.version);
    return false;
  }
  return true;
}

uint32_t record_header_crc(const uint8_t* header) {
  const uint32_t crc = crc32c(header + 4, 12);
  return load<uint32_t>(header) == kRecordMagicV1 ? crc : crc32c_extend(crc, header + 20, 4);
}

namespace {

void encode_header(uint32_t magic, uint32_t length, Zxid zxid, uint32_t back, uint8_t* out) {
  store<uint32_t>(out, magic);
  store<uint32_t>(out + 4, length);
  store<uint64_t>(out + 8, static_cast<uint64_t>(zxid));
  store<uint32_t>(out + 20, back);
}

}  // namespace

void encode_record_unsealed(Zxid zxid, std::string_view payload, uint8_t* out) {
  encode_header(kRecordMagic, static_cast<uint32_t>(payload.size()), zxid, 0, out);
  store<uint32_t>(out + 16, 0);
  if (!payload.empty()) std::memcpy(out + kRecordHeaderBytes, payload.data(), payload.size());
}

void seal_record(uint8_t* rec, uint32_t back) {
  store<uint32_t>(rec + 20, back);
  const uint32_t n = load<uint32_t>(rec + 4);
  store<uint32_t>(rec + 16, crc32c_extend(record_header_crc(rec), rec + kRecordHeaderBytes, n));
}

void encode_record(Zxid zxid, std::string_view payload, uint8_t* out, uint32_t back) {
  encode_record_unsealed(zxid, payload, out);
  seal_record(out, back);
}

void encode_pad(uint64_t bytes, uint8_t* out, uint32_t back) {
  const uint64_t n = bytes - kRecordHeaderBytes;
  encode_header(kPadMagic, static_cast<uint32_t>(n), 0, back, out);
  std::memset(out + kRecordHeaderBytes, 0, n);
  store<uint32_t>(out + 16, crc32c_extend(record_header_crc(out), out + kRecordHeaderBytes, n));
}

RecordCheck check_record_header(const uint8_t* data, uint64_t avail, RecordView& out) {
  out = RecordView{};
  const size_t magic_bytes = avail < 4 ? static_cast<size_t>(avail) : 4;
  bool zero_magic = true;
  for (size_t i = 0; i < magic_bytes; ++i) zero_magic = zero_magic && data[i] == 0;
  if (zero_magic) return RecordCheck::kZero;  // (fewer than 4 bytes left, all zero: also the end)
  if (avail < kRecordHeaderBytes) return RecordCheck::kTruncated;
  const uint32_t magic = load<uint32_t>(data);
  if (magic != kRecordMagic && magic != kPadMagic && magic != kRecordMagicV1) return RecordCheck::kBadMagic;
  out.pad = magic == kPadMagic;
  out.back = magic == kRecordMagicV1 ? 0 : load<uint32_t>(data + 20);
  out.payload_bytes = load<uint32_t>(data + 4);
  out.zxid = static_cast<Zxid>(load<uint64_t>(data + 8));
  out.stored_crc = load<uint32_t>(data + 16);
  if (out.pad && out.zxid != 0) return RecordCheck::kBadMagic;  // a pad carries no zxid: this is not one
  if (out.payload_bytes > kMaxRecordPayloadBytes || out.payload_bytes > avail - kRecordHeaderBytes) {
    return RecordCheck::kBadLength;
  }
  return RecordCheck::kOk;
}

RecordCheck check_record(const uint8_t* data, size_t avail, RecordView& out) {
  if (const RecordCheck head = check_record_header(data, avail, out); head != RecordCheck::kOk) return head;
  out.payload = std::string_view(reinterpret_cast<const char*>(data + kRecordHeaderBytes), out.payload_bytes);
  const bool v1 = load<uint32_t>(data) == kRecordMagicV1;
  if (v1 && load<uint32_t>(data + 20) != 0) return RecordCheck::kBadReserved;
  const uint32_t crc = crc32c_extend(record_header_crc(data), out.payload.data(), out.payload.size());
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
