// The receive ring of the RDMA transport, without verbs: record format, the sender's side (RingWriter: batching,
// fragmentation, wrap-around, credit) and the receiver's side (RingReader: validation, reassembly, credit return).
// RdmaTransport moves the bytes; everything here is plain memory and arithmetic, so tests drive it directly.
//
// Memory. Each receiver registers one ring per sender (ring_bytes, a multiple of 16). The sender keeps a staging
// ring of the same size in its own registered memory and mirrors offsets: the record it appends at byte offset
// `o` of the staging ring is written by one-sided RDMA WRITE to offset `o` of the peer's ring, so a batch of
// records is one contiguous write (two when it crosses the ring end).
//
// Positions are u64 byte counters that only grow: `head` (appended by the sender), `posted` (handed to the NIC),
// `tail` (known written at the receiver), `consumed` (parsed by the receiver). A position's ring offset is
// position % ring_bytes. The sender may append while head + record <= consumed_known + ring_bytes ("credit");
// staging memory is reused only after the receiver consumed what was there, which implies the NIC read it.
//
// Records, 16-byte aligned, each a 16-byte header then the payload and zero padding to the alignment:
//   u32 seq            1, 2, 3, ... per channel and direction; a gap or repeat is corruption
//   u32 payload_bytes  bytes of payload in this record (<= max_record_payload(ring_bytes))
//   u32 message_bytes  length of the whole message this record carries (part of)
//   u8  kind           1 whole message, 2 first fragment, 3 middle, 4 last, 5 pad (skip to the ring's end)
//   u8  flags          bit 0: credit request (return credit once this record is consumed); others must be 0
//   u16 check          low 16 bits of crc32c over the 14 bytes before it
// all little-endian. A record never crosses the ring end: when one would, a pad record fills the rest of the ring
// and the record starts at offset 0. Messages above max_record_payload travel as fragments (first, middles,
// last) of at most that size, so one big message never needs more than a quarter of the ring at a time.
// Payload integrity is the RC transport's (ICRC per packet); `check` catches a peer writing garbage or at the
// wrong offset, `seq` a lost or repeated batch, and lengths are checked against the ring before any use.
//
// Immediates. A data write carries imm = bytes written (bit 31 clear); the write that crosses the ring end is two
// work requests and only the second carries the immediate, covering both (RC places the first before it).
// A credit return is a zero-length RDMA WRITE with imm = bit 31 | (consumed / 16) mod 2^31; the sender rebuilds
// the full counter from what it posted (consumed lags posted by at most ring_bytes, far below 2^35).
//
// Credit return policy (no deadlock, few writes). The sender sets the credit-request flag on the last record of a
// flush when, after it, less than half the ring is free or messages wait for space. The receiver returns credit
// after consuming a flagged record, or once a quarter of the ring has been consumed since its last return. A
// stalled sender always has a flagged record in flight: it stalls only with less than half the ring free (a
// record plus its pad never needs more), and every flush in that state is flagged.
//
// Thread-safety: none; each object belongs to the transport's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace uk::rdma {

inline constexpr uint32_t kRecordHeaderBytes = 16;
inline constexpr uint32_t kRecordAlignBytes = 16;
inline constexpr uint32_t kMinRingBytes = 4096;
inline constexpr uint32_t kMaxRingBytes = 1u << 30;  // byte counts in immediates need bit 31 free

enum class RecordKind : uint8_t { kWhole = 1, kFirst = 2, kMiddle = 3, kLast = 4, kPad = 5 };
inline constexpr uint8_t kFlagCreditRequest = 1;

struct RecordHeader {
  uint32_t seq = 0;
  uint32_t payload_bytes = 0;
  uint32_t message_bytes = 0;
  RecordKind kind = RecordKind::kWhole;
  uint8_t flags = 0;
};

void encode_record_header(const RecordHeader& h, char* out);
// False when the check bits do not match (fields are filled anyway, for the log).
bool decode_record_header(const char* in, RecordHeader& out);

constexpr uint32_t align_record(uint64_t bytes) {
  return static_cast<uint32_t>((bytes + kRecordAlignBytes - 1) & ~uint64_t{kRecordAlignBytes - 1});
}
// A record is at most a quarter of the ring (rounded down to the alignment), so a record plus the pad before it
// never needs half the ring.
constexpr uint32_t max_record_payload(uint32_t ring_bytes) {
  return ring_bytes / 4 / kRecordAlignBytes * kRecordAlignBytes - kRecordHeaderBytes;
}
// True for a usable ring size (a multiple of 16 in [kMinRingBytes, kMaxRingBytes]).
bool valid_ring_bytes(uint64_t ring_bytes);

// Immediate values.
inline constexpr uint32_t kImmCreditBit = 1u << 31;
inline constexpr uint32_t data_imm(uint32_t bytes) { return bytes; }
inline constexpr uint32_t credit_imm(uint64_t consumed) {
  return kImmCreditBit | static_cast<uint32_t>((consumed / kRecordAlignBytes) & (kImmCreditBit - 1));
}
// Rebuilds the consumed counter a credit immediate carries, given the last known one and what was posted. False
// when no value in [known, posted] matches (a confused or hostile peer).
bool consumed_from_credit_imm(uint32_t imm, uint64_t known, uint64_t posted, uint64_t& consumed);

// One RDMA WRITE of ring bytes [offset, offset + bytes).
struct WriteSpan {
  uint32_t offset = 0;
  uint32_t bytes = 0;
};

// What the next flush posts: one span, or two when the unposted bytes cross the ring end.
struct FlushPlan {
  WriteSpan spans[2];
  int count = 0;
  uint32_t total_bytes = 0;
};

struct RingWriterStats {
  uint64_t records = 0;      // records appended, pads included
  uint64_t fragments = 0;    // records that carry part of a message
  uint64_t wraps = 0;        // pad records (the ring end was reached)
  uint64_t bytes = 0;        // ring bytes appended (headers, payload, alignment, pads)
  uint64_t credit_updates = 0;
};

// The sender's side of one ring. `staging` is ring_bytes of (registered) memory owned by the caller.
class RingWriter {
 public:
  RingWriter(char* staging, uint32_t ring_bytes);
  // Forgets everything: a new channel starts at position 0, seq 1, a full ring of credit.
  void reset();

  // Appends records for message[offset...] while credit lasts and advances `offset`. True when the whole message
  // is in the ring; false when credit ran out first (call again with the same offset once credit returns). An
  // empty message is one empty record. Requires message.size() < 2^32.
  bool append(std::string_view message, size_t& offset);

  bool has_unposted() const { return posted_ < head_; }
  // The spans to write next: everything appended and not posted. Sets the credit-request flag on the last record
  // when `more_waiting` (messages wait for credit) or less than half the ring stays free; patching a header in
  // staging is safe because that record has not been posted yet.
  FlushPlan plan_flush(bool more_waiting);
  // The plan was posted.
  void mark_posted(const FlushPlan& plan);

  // The receiver consumed everything before `consumed`. False (and no change) for a value before the last one or
  // beyond what was posted.
  bool on_credit(uint64_t consumed);

  uint32_t ring_bytes() const { return ring_bytes_; }
  uint64_t head() const { return head_; }
  uint64_t posted() const { return posted_; }
  uint64_t consumed_known() const { return consumed_; }
  uint64_t free_bytes() const { return consumed_ + ring_bytes_ - head_; }
  const RingWriterStats& stats() const { return stats_; }

 private:
  void put_record(const RecordHeader& h, const char* payload);

  char* staging_;
  uint32_t ring_bytes_;
  uint32_t max_payload_;
  uint64_t head_ = 0;
  uint64_t posted_ = 0;
  uint64_t consumed_ = 0;
  uint64_t last_record_ = 0;  // position of the newest record's header (valid when head_ > 0)
  uint32_t seq_ = 1;
  RingWriterStats stats_;
};

struct RingReaderStats {
  uint64_t records = 0;
  uint64_t messages = 0;
  uint64_t bytes = 0;  // ring bytes consumed
  uint64_t credit_returns = 0;
};

// The receiver's side of one ring. `ring` is ring_bytes of registered memory the peer writes into.
class RingReader {
 public:
  enum class Result { kEmpty, kMessage, kCorrupt };

  RingReader(const char* ring, uint32_t ring_bytes, uint64_t max_message_bytes);
  void reset();

  // A data write of `bytes` landed (its immediate said so). False when that is more than the ring could hold,
  // or not a whole number of records: the peer broke the protocol.
  bool on_write(uint32_t bytes);

  // Parses records up to the next complete message. kMessage: `out` holds it. kEmpty: nothing more is written
  // yet (a message may be partly assembled). kCorrupt: error() says why; the reader stays corrupt until reset().
  Result next(std::string& out);

  // Credit is due per the policy above.
  bool credit_due() const;
  // The consumed counter to send now; marks it returned.
  uint64_t take_credit();

  uint64_t tail() const { return tail_; }
  uint64_t consumed() const { return consumed_; }
  const std::string& error() const { return error_; }
  const RingReaderStats& stats() const { return stats_; }

 private:
  Result corrupt(std::string why);

  const char* ring_;
  uint32_t ring_bytes_;
  uint32_t max_payload_;
  uint64_t max_message_bytes_;
  uint64_t tail_ = 0;
  uint64_t consumed_ = 0;
  uint64_t returned_ = 0;
  uint32_t expected_seq_ = 1;
  bool credit_requested_ = false;
  bool corrupt_ = false;
  bool assembling_ = false;
  uint32_t assembly_bytes_ = 0;  // the message_bytes of the fragments being assembled
  std::string partial_;
  std::string error_;
  RingReaderStats stats_;
};

}  // namespace uk::rdma
