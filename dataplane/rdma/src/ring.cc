// The ring's record format, writer and reader (format and policy in ring.h). No verbs, no I/O: the transport
// moves the bytes and feeds immediates in.
#include "ukeeper/dataplane/rdma/ring.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "ukeeper/common/crc32c.h"

namespace uk::rdma {
namespace {

// A peer announcing a huge message makes us reserve at most this much before its bytes arrive.
constexpr size_t kMaxReserveBytes = 64 * 1024 * 1024;

void put_le32(char* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
}

uint32_t get_le32(const char* in) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

uint16_t header_check(const char* header) { return static_cast<uint16_t>(crc32c(header, 14)); }

bool known_kind(uint8_t kind) { return kind >= 1 && kind <= 5; }

}  // namespace

void encode_record_header(const RecordHeader& h, char* out) {
  put_le32(out, h.seq);
  put_le32(out + 4, h.payload_bytes);
  put_le32(out + 8, h.message_bytes);
  out[12] = static_cast<char>(h.kind);
  out[13] = static_cast<char>(h.flags);
  uint16_t check = header_check(out);
  out[14] = static_cast<char>(check);
  out[15] = static_cast<char>(check >> 8);
}

bool decode_record_header(const char* in, RecordHeader& out) {
  out.seq = get_le32(in);
  out.payload_bytes = get_le32(in + 4);
  out.message_bytes = get_le32(in + 8);
  out.kind = static_cast<RecordKind>(static_cast<uint8_t>(in[12]));
  out.flags = static_cast<uint8_t>(in[13]);
  uint16_t check = static_cast<uint16_t>(static_cast<unsigned char>(in[14]) |
                                         (static_cast<unsigned char>(in[15]) << 8));
  return check == header_check(in);
}

bool valid_ring_bytes(uint64_t ring_bytes) {
  return ring_bytes >= kMinRingBytes && ring_bytes <= kMaxRingBytes && ring_bytes % kRecordAlignBytes == 0;
}

bool consumed_from_credit_imm(uint32_t imm, uint64_t known, uint64_t posted, uint64_t& consumed) {
  if ((imm & kImmCreditBit) == 0) return false;
  constexpr uint64_t kMask = kImmCreditBit - 1;
  uint64_t units = (static_cast<uint64_t>(imm) - known / kRecordAlignBytes) & kMask;
  uint64_t value = known + units * kRecordAlignBytes;
  if (known % kRecordAlignBytes != 0 || value > posted) return false;
  consumed = value;
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// RingWriter

RingWriter::RingWriter(char* staging, uint32_t ring_bytes)
    : staging_(staging), ring_bytes_(ring_bytes), max_payload_(max_record_payload(ring_bytes)) {
  assert(valid_ring_bytes(ring_bytes));
}

void RingWriter::reset() {
  head_ = posted_ = consumed_ = last_record_ = 0;
  seq_ = 1;
}

void RingWriter::put_record(const RecordHeader& h, const char* payload) {
  uint32_t at = static_cast<uint32_t>(head_ % ring_bytes_);
  uint32_t record = align_record(kRecordHeaderBytes + uint64_t{h.payload_bytes});
  assert(record <= ring_bytes_ - at);  // records never cross the ring end
  encode_record_header(h, staging_ + at);
  if (h.kind != RecordKind::kPad) {
    std::memcpy(staging_ + at + kRecordHeaderBytes, payload, h.payload_bytes);
    // Zero the alignment tail: the peer never reads it, but stale bytes should not leave this host.
    std::memset(staging_ + at + kRecordHeaderBytes + h.payload_bytes, 0,
                record - kRecordHeaderBytes - h.payload_bytes);
  }
  last_record_ = head_;
  head_ += record;
  ++seq_;
  ++stats_.records;
  stats_.bytes += record;
}

bool RingWriter::append(std::string_view message, size_t& offset) {
  assert(message.size() <= UINT32_MAX);
  assert(offset < message.size() || (offset == 0 && message.empty()));
  const auto total = static_cast<uint32_t>(message.size());
  do {
    auto done = static_cast<uint32_t>(offset);
    uint32_t chunk = std::min(total - done, max_payload_);
    bool first = done == 0;
    bool last = done + chunk == total;
    RecordKind kind = first && last ? RecordKind::kWhole
                      : first       ? RecordKind::kFirst
                      : last        ? RecordKind::kLast
                                    : RecordKind::kMiddle;
    uint32_t record = align_record(kRecordHeaderBytes + uint64_t{chunk});
    uint32_t to_end = ring_bytes_ - static_cast<uint32_t>(head_ % ring_bytes_);
    uint32_t pad = to_end < record ? to_end : 0;
    if (free_bytes() < uint64_t{pad} + record) return false;
    if (pad > 0) {
      put_record(RecordHeader{seq_, pad - kRecordHeaderBytes, 0, RecordKind::kPad, 0}, nullptr);
      ++stats_.wraps;
    }
    put_record(RecordHeader{seq_, chunk, total, kind, 0}, message.data() + done);
    if (kind != RecordKind::kWhole) ++stats_.fragments;
    offset = done + chunk;
  } while (offset < total);
  return true;
}

FlushPlan RingWriter::plan_flush(bool more_waiting) {
  FlushPlan plan;
  if (posted_ == head_) return plan;
  if (more_waiting || free_bytes() < ring_bytes_ / 2) {
    char* header = staging_ + last_record_ % ring_bytes_;
    RecordHeader h;
    bool ok = decode_record_header(header, h);
    assert(ok);
    (void)ok;
    h.flags |= kFlagCreditRequest;
    encode_record_header(h, header);
  }
  uint64_t bytes = head_ - posted_;
  assert(bytes <= ring_bytes_);
  auto at = static_cast<uint32_t>(posted_ % ring_bytes_);
  auto first = static_cast<uint32_t>(std::min<uint64_t>(bytes, ring_bytes_ - at));
  plan.spans[plan.count++] = WriteSpan{at, first};
  if (first < bytes) plan.spans[plan.count++] = WriteSpan{0, static_cast<uint32_t>(bytes - first)};
  plan.total_bytes = static_cast<uint32_t>(bytes);
  return plan;
}

void RingWriter::mark_posted(const FlushPlan& plan) {
  posted_ += plan.total_bytes;
  assert(posted_ <= head_);
}

bool RingWriter::on_credit(uint64_t consumed) {
  if (consumed < consumed_ || consumed > posted_) return false;
  consumed_ = consumed;
  ++stats_.credit_updates;
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// RingReader

RingReader::RingReader(const char* ring, uint32_t ring_bytes, uint64_t max_message_bytes)
    : ring_(ring),
      ring_bytes_(ring_bytes),
      max_payload_(max_record_payload(ring_bytes)),
      max_message_bytes_(max_message_bytes) {
  assert(valid_ring_bytes(ring_bytes));
}

void RingReader::reset() {
  tail_ = consumed_ = returned_ = 0;
  expected_seq_ = 1;
  credit_requested_ = corrupt_ = assembling_ = false;
  assembly_bytes_ = 0;
  partial_.clear();
  partial_.shrink_to_fit();  // a huge half-received message from the old channel is not kept
  error_.clear();
}

bool RingReader::on_write(uint32_t bytes) {
  if (bytes == 0 || bytes % kRecordAlignBytes != 0 || bytes > ring_bytes_ - (tail_ - consumed_)) return false;
  tail_ += bytes;
  return true;
}

RingReader::Result RingReader::corrupt(std::string why) {
  corrupt_ = true;
  error_ = "ring offset " + std::to_string(consumed_ % ring_bytes_) + ", record seq " +
           std::to_string(expected_seq_) + ": " + why;
  return Result::kCorrupt;
}

RingReader::Result RingReader::next(std::string& out) {
  if (corrupt_) return Result::kCorrupt;
  while (consumed_ < tail_) {
    uint64_t available = tail_ - consumed_;
    auto at = static_cast<uint32_t>(consumed_ % ring_bytes_);
    uint32_t to_end = ring_bytes_ - at;
    if (available < kRecordHeaderBytes) return corrupt("a write ended inside a record header");
    RecordHeader h;
    const char* header = ring_ + at;
    if (!decode_record_header(header, h)) return corrupt("bad header checksum");
    if (h.seq != expected_seq_) return corrupt("bad sequence number " + std::to_string(h.seq));
    if (!known_kind(static_cast<uint8_t>(h.kind))) {
      return corrupt("unknown record kind " + std::to_string(static_cast<int>(h.kind)));
    }
    if ((h.flags & ~kFlagCreditRequest) != 0) return corrupt("unknown flags " + std::to_string(h.flags));
    uint64_t record = align_record(kRecordHeaderBytes + uint64_t{h.payload_bytes});
    if (h.kind == RecordKind::kPad) {
      if (record != to_end || h.message_bytes != 0) return corrupt("bad pad record length");
    } else if (h.payload_bytes > max_payload_) {
      return corrupt("bad record length " + std::to_string(h.payload_bytes));
    }
    if (record > to_end) return corrupt("record crosses the ring end");
    if (record > available) return corrupt("record extends past the written bytes");

    const char* payload = header + kRecordHeaderBytes;
    bool done = false;
    switch (h.kind) {
      case RecordKind::kPad:
        break;
      case RecordKind::kWhole:
        if (assembling_) return corrupt("whole message inside a fragmented one");
        if (h.message_bytes != h.payload_bytes) return corrupt("whole message length mismatch");
        out.assign(payload, h.payload_bytes);
        done = true;
        break;
      case RecordKind::kFirst:
        if (assembling_) return corrupt("first fragment inside a fragmented message");
        if (h.message_bytes <= h.payload_bytes || h.message_bytes > max_message_bytes_) {
          return corrupt("bad message length " + std::to_string(h.message_bytes));
        }
        assembling_ = true;
        assembly_bytes_ = h.message_bytes;
        partial_.clear();
        partial_.reserve(std::min<size_t>(h.message_bytes, kMaxReserveBytes));
        partial_.append(payload, h.payload_bytes);
        break;
      case RecordKind::kMiddle:
      case RecordKind::kLast: {
        if (!assembling_ || h.message_bytes != assembly_bytes_) return corrupt("fragment out of place");
        uint64_t have = partial_.size() + uint64_t{h.payload_bytes};
        bool is_last = h.kind == RecordKind::kLast;
        if (is_last ? have != assembly_bytes_ : have >= assembly_bytes_) return corrupt("fragment lengths disagree");
        partial_.append(payload, h.payload_bytes);
        if (is_last) {
          out.swap(partial_);
          partial_.clear();
          assembling_ = false;
          done = true;
        }
        break;
      }
    }
    if ((h.flags & kFlagCreditRequest) != 0) credit_requested_ = true;
    consumed_ += record;
    ++expected_seq_;
    ++stats_.records;
    stats_.bytes += record;
    if (done) {
      ++stats_.messages;
      return Result::kMessage;
    }
  }
  return Result::kEmpty;
}

bool RingReader::credit_due() const {
  return consumed_ > returned_ && (credit_requested_ || consumed_ - returned_ >= ring_bytes_ / 4);
}

uint64_t RingReader::take_credit() {
  returned_ = consumed_;
  credit_requested_ = false;
  ++stats_.credit_returns;
  return consumed_;
}

}  // namespace uk::rdma
