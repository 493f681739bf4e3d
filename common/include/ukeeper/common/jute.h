// Jute, ZooKeeper's wire encoding (zookeeper-protocol.md §1): big-endian, no tags, no padding.
// ints are 4 bytes, longs 8, booleans and bytes 1; buffers and strings are an int length then bytes with
// -1 meaning null; vectors are an int count then elements with -1 meaning null.
//
// JuteReader never throws and never reads out of bounds: the first failed read latches ok() == false and every
// later read returns a zero value, so a decoder reads a whole record and checks ok() once at the end.
// Thread-safety: none; a reader or writer belongs to one thread.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace uk {

class JuteWriter {
 public:
  explicit JuteWriter(std::string& out) : out_(out) {}

  void put_int(int32_t v) { put_be(static_cast<uint32_t>(v), 4); }
  void put_long(int64_t v) { put_be(static_cast<uint64_t>(v), 8); }
  void put_bool(bool v) { out_.push_back(v ? '\1' : '\0'); }
  void put_byte(int8_t v) { out_.push_back(static_cast<char>(v)); }
  void put_buffer(std::string_view bytes) {
    put_int(static_cast<int32_t>(bytes.size()));
    out_.append(bytes);
  }
  void put_buffer(const std::optional<std::string>& bytes) {
    if (!bytes) {
      put_int(-1);
    } else {
      put_buffer(std::string_view(*bytes));
    }
  }
  void put_string(std::string_view s) { put_buffer(s); }
  void put_null() { put_int(-1); }

  // Reserves a 4-byte length prefix; end_frame() fills it with the number of bytes written since.
  size_t begin_frame() {
    size_t at = out_.size();
    put_int(0);
    return at;
  }
  void end_frame(size_t at) {
    uint32_t len = static_cast<uint32_t>(out_.size() - at - 4);
    for (int i = 0; i < 4; i++) out_[at + i] = static_cast<char>((len >> (24 - 8 * i)) & 0xff);
  }

  std::string& bytes() { return out_; }

 private:
  // One append per value (a push_back per byte was 6% of an I/O thread's time serving getData).
  void put_be(uint64_t v, int n) {
    char b[8];
    for (int i = 0; i < n; i++) b[i] = static_cast<char>((v >> (8 * (n - 1 - i))) & 0xff);
    out_.append(b, static_cast<size_t>(n));
  }
  std::string& out_;
};

class JuteReader {
 public:
  explicit JuteReader(std::string_view in) : in_(in) {}

  int32_t get_int() { return static_cast<int32_t>(get_be(4)); }
  int64_t get_long() { return static_cast<int64_t>(get_be(8)); }
  bool get_bool() { return get_be(1) != 0; }
  int8_t get_byte() { return static_cast<int8_t>(get_be(1)); }

  // A buffer with length -1 decodes to nullopt; any other negative length, or one past the end, fails.
  std::optional<std::string> get_buffer() {
    int32_t len = get_int();
    if (!ok_ || len == -1) return std::nullopt;
    if (len < 0 || static_cast<size_t>(len) > remaining()) {
      ok_ = false;
      return std::nullopt;
    }
    std::string s(in_.substr(pos_, static_cast<size_t>(len)));
    pos_ += static_cast<size_t>(len);
    return s;
  }
  // A null string decodes to "" (ZooKeeper treats a null path like an empty, invalid one).
  std::string get_string() {
    auto b = get_buffer();
    return b ? std::move(*b) : std::string();
  }
  // Vector count: -1 (null) reads as 0. A count that could not fit in the remaining bytes, given each
  // element takes at least min_element_bytes, fails instead of letting a caller reserve a huge vector.
  int32_t get_count(size_t min_element_bytes) {
    int32_t n = get_int();
    if (!ok_) return 0;
    if (n == -1) return 0;
    if (n < 0 || static_cast<size_t>(n) * (min_element_bytes ? min_element_bytes : 1) > remaining()) {
      ok_ = false;
      return 0;
    }
    return n;
  }

  bool ok() const { return ok_; }
  void fail() { ok_ = false; }
  size_t remaining() const { return in_.size() - pos_; }
  size_t position() const { return pos_; }
  bool at_end() const { return pos_ == in_.size(); }
  // The bytes not read yet.
  std::string_view rest() const { return in_.substr(pos_); }

 private:
  uint64_t get_be(int n) {
    if (!ok_ || remaining() < static_cast<size_t>(n)) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | static_cast<uint8_t>(in_[pos_ + i]);
    pos_ += n;
    return v;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace uk
