// Jute codec (common/include/ukeeper/common/jute.h, zookeeper-protocol.md §1): round trips, the exact
// big-endian byte layout, the latching failure of JuteReader, and length-prefixed frames.
#include "ukeeper/common/jute.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

namespace uk {
namespace {

// Builds a byte string from literal byte values (std::string("\x00...") would stop at the first NUL).
std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int v : b) s.push_back(static_cast<char>(v));
  return s;
}

// Encodes with one writer call and returns the bytes.
template <typename F>
std::string encoded(F f) {
  std::string out;
  JuteWriter w(out);
  f(w);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Byte layout against literal bytes.

TEST(JuteLayout, IntIsFourBytesBigEndian) {
  EXPECT_EQ(encoded([](JuteWriter& w) { w.put_int(1); }), bytes({0, 0, 0, 1}));
  EXPECT_EQ(encoded([](JuteWriter& w) { w.put_int(0x01020304); }), bytes({1, 2, 3, 4}));
  EXPECT_EQ(encoded([](JuteWriter& w) { w.put_int(-1); }), bytes({0xff, 0xff, 0xff, 0xff}));
  EXPECT_EQ(encoded([](JuteWriter& w) { w.put_int(-2); }), bytes({0xff, 0xff, 0xff, 0xfe}));
  EXPECT_EQ(encoded([](JuteWriter& w) { w.put_int(std::numeric_limits<int32_t>::min()); }),
            bytes({0x80, 0, 0, 0}));
}

TEST(JuteLayout, LongIsEightBytesBigEndian) {
  EXPECT_EQ(encoded([](JuteWriter& w) { w.put_long(-2); }),
            bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}));
  EXPECT_EQ(encoded([](JuteWriter& w) { w.put_long(1); }), bytes({0, 0, 0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(encoded([](JuteWriter& w) { w.put_long(0x0102030405060708LL); }), bytes({1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(encoded([](JuteWriter& w) { w.put_long(std::numeric_limits<int64_t>::min()); }),
            bytes({0x80, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(JuteLayout, BoolAndByteAreOneByte) {
  EXPECT_EQ(encoded([](JuteWriter& w) { w.put_bool(true); }), bytes({1}));
  EXPECT_EQ(encoded([](JuteWriter& w) { w.put_bool(false); }), bytes({0}));
  EXPECT_EQ(encoded([](JuteWriter& w) { w.put_byte(-1); }), bytes({0xff}));
  EXPECT_EQ(encoded([](JuteWriter& w) { w.put_byte(0x7f); }), bytes({0x7f}));
}

TEST(JuteLayout, BufferIsLengthThenBytes) {
  EXPECT_EQ(encoded([](JuteWriter& w) { w.put_buffer(std::string_view("ab")); }), bytes({0, 0, 0, 2, 'a', 'b'}));
  EXPECT_EQ(encoded([](JuteWriter& w) { w.put_buffer(std::string_view()); }), bytes({0, 0, 0, 0}));
  EXPECT_EQ(encoded([](JuteWriter& w) { w.put_string("/zk"); }), bytes({0, 0, 0, 3, '/', 'z', 'k'}));
}

TEST(JuteLayout, NullBufferIsMinusOne) {
  EXPECT_EQ(encoded([](JuteWriter& w) { w.put_buffer(std::optional<std::string>()); }),
            bytes({0xff, 0xff, 0xff, 0xff}));
  EXPECT_EQ(encoded([](JuteWriter& w) { w.put_null(); }), bytes({0xff, 0xff, 0xff, 0xff}));
  // A present but empty optional is an empty buffer, not null.
  EXPECT_EQ(encoded([](JuteWriter& w) { w.put_buffer(std::optional<std::string>("")); }), bytes({0, 0, 0, 0}));
}

TEST(JuteLayout, NoPaddingBetweenFields) {
  std::string out = encoded([](JuteWriter& w) {
    w.put_bool(true);
    w.put_int(2);
    w.put_byte(3);
    w.put_long(4);
  });
  EXPECT_EQ(out, bytes({1, 0, 0, 0, 2, 3, 0, 0, 0, 0, 0, 0, 0, 4}));
}

TEST(JuteLayout, BinaryBufferKeepsEmbeddedNul) {
  std::string data = bytes({0, 0xff, 0});
  std::string out = encoded([&](JuteWriter& w) { w.put_buffer(std::string_view(data)); });
  EXPECT_EQ(out, bytes({0, 0, 0, 3, 0, 0xff, 0}));
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding literal bytes and round trips.

TEST(JuteRead, DecodesLiteralBytes) {
  std::string in = bytes({0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 7, 0x80});
  JuteReader r(in);
  EXPECT_EQ(r.get_int(), 1);
  EXPECT_EQ(r.get_long(), -2);
  EXPECT_TRUE(r.get_bool());
  EXPECT_EQ(r.get_byte(), -128);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.at_end());
}

TEST(JuteRead, AnyNonzeroBoolByteIsTrue) {
  std::string in = bytes({0, 1, 2, 0xff});
  JuteReader r(in);
  EXPECT_FALSE(r.get_bool());
  EXPECT_TRUE(r.get_bool());
  EXPECT_TRUE(r.get_bool());
  EXPECT_TRUE(r.get_bool());
  EXPECT_TRUE(r.ok());
}

TEST(JuteRoundTrip, Ints) {
  for (int32_t v : {0, 1, -1, 255, 256, -256, 0x7fffffff, std::numeric_limits<int32_t>::min(), 123456789}) {
    std::string out;
    JuteWriter(out).put_int(v);
    ASSERT_EQ(out.size(), 4u);
    JuteReader r(out);
    EXPECT_EQ(r.get_int(), v);
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(r.at_end());
  }
}

TEST(JuteRoundTrip, Longs) {
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{1} << 32, int64_t{0x7fffffffffffffff},
                    std::numeric_limits<int64_t>::min(), int64_t{-4294967296}, int64_t{0x0123456789abcdef}}) {
    std::string out;
    JuteWriter(out).put_long(v);
    ASSERT_EQ(out.size(), 8u);
    JuteReader r(out);
    EXPECT_EQ(r.get_long(), v);
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(r.at_end());
  }
}

TEST(JuteRoundTrip, BoolsAndBytes) {
  std::string out;
  JuteWriter w(out);
  w.put_bool(true);
  w.put_bool(false);
  for (int v = -128; v <= 127; v++) w.put_byte(static_cast<int8_t>(v));
  JuteReader r(out);
  EXPECT_TRUE(r.get_bool());
  EXPECT_FALSE(r.get_bool());
  for (int v = -128; v <= 127; v++) EXPECT_EQ(r.get_byte(), static_cast<int8_t>(v));
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.at_end());
}

TEST(JuteRoundTrip, BuffersStringsAndNull) {
  std::string binary = bytes({0, 1, 0xfe, 0xff, 0});
  std::string out;
  JuteWriter w(out);
  w.put_buffer(std::string_view(binary));
  w.put_buffer(std::optional<std::string>());
  w.put_buffer(std::optional<std::string>(""));
  w.put_string("h\xc3\xa9llo");
  w.put_null();
  JuteReader r(out);
  EXPECT_EQ(r.get_buffer(), std::optional<std::string>(binary));
  EXPECT_EQ(r.get_buffer(), std::nullopt);
  EXPECT_EQ(r.get_buffer(), std::optional<std::string>(""));
  EXPECT_EQ(r.get_string(), "h\xc3\xa9llo");
  EXPECT_EQ(r.get_string(), "");  // a null string reads as ""
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.at_end());
}

TEST(JuteRoundTrip, LargeBuffer) {
  std::string big(100000, 'x');
  big[500] = '\0';
  std::string out;
  JuteWriter(out).put_buffer(std::string_view(big));
  EXPECT_EQ(out.size(), big.size() + 4);
  EXPECT_EQ(out.substr(0, 4), bytes({0, 0x01, 0x86, 0xa0}));
  JuteReader r(out);
  EXPECT_EQ(r.get_buffer(), std::optional<std::string>(big));
  EXPECT_TRUE(r.ok());
}

TEST(JuteRead, CountOfVector) {
  std::string in = bytes({0, 0, 0, 2, 0, 0, 0, 1, 'a', 0, 0, 0, 1, 'b'});
  JuteReader r(in);
  EXPECT_EQ(r.get_count(4), 2);
  EXPECT_EQ(r.get_string(), "a");
  EXPECT_EQ(r.get_string(), "b");
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.at_end());
}

TEST(JuteRead, NullVectorCountReadsAsZero) {
  std::string in = bytes({0xff, 0xff, 0xff, 0xff});
  JuteReader r(in);
  EXPECT_EQ(r.get_count(4), 0);
  EXPECT_TRUE(r.ok());
}

TEST(JuteRead, PositionAndRemaining) {
  std::string in = bytes({0, 0, 0, 5, 1, 2, 3});
  JuteReader r(in);
  EXPECT_EQ(r.position(), 0u);
  EXPECT_EQ(r.remaining(), 7u);
  r.get_int();
  EXPECT_EQ(r.position(), 4u);
  EXPECT_EQ(r.remaining(), 3u);
  EXPECT_FALSE(r.at_end());
}

// ---------------------------------------------------------------------------------------------------------------
// Failure latching.

TEST(JuteReadFailure, TruncatedIntFailsAndLatches) {
  std::string in = bytes({0, 0, 1});
  JuteReader r(in);
  EXPECT_EQ(r.get_int(), 0);
  EXPECT_FALSE(r.ok());
  // Position does not advance on the failed read, and later reads keep returning zero values.
  EXPECT_EQ(r.position(), 0u);
  EXPECT_EQ(r.get_byte(), 0);
  EXPECT_FALSE(r.get_bool());
  EXPECT_FALSE(r.ok());
}

TEST(JuteReadFailure, TruncatedLongFails) {
  std::string in = bytes({0, 0, 0, 0, 0, 0, 1});
  JuteReader r(in);
  EXPECT_EQ(r.get_long(), 0);
  EXPECT_FALSE(r.ok());
}

TEST(JuteReadFailure, EmptyInputFailsEveryPrimitive) {
  {
    JuteReader r("");
    r.get_bool();
    EXPECT_FALSE(r.ok());
  }
  {
    JuteReader r("");
    r.get_byte();
    EXPECT_FALSE(r.ok());
  }
  {
    JuteReader r("");
    EXPECT_EQ(r.get_buffer(), std::nullopt);
    EXPECT_FALSE(r.ok());
  }
  {
    JuteReader r("");
    EXPECT_EQ(r.get_count(1), 0);
    EXPECT_FALSE(r.ok());
  }
}

TEST(JuteReadFailure, LatchedReaderIgnoresLaterValidBytes) {
  // After a failure, even bytes that would decode fine read as zero: the decoder checks ok() once.
  std::string in = bytes({0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 7});
  JuteReader r(in);
  EXPECT_EQ(r.get_buffer(), std::nullopt);  // length -2
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.get_int(), 0);
  EXPECT_FALSE(r.ok());
}

TEST(JuteReadFailure, BufferLengthPastEndFails) {
  std::string in = bytes({0, 0, 0, 5, 'a', 'b'});
  JuteReader r(in);
  EXPECT_EQ(r.get_buffer(), std::nullopt);
  EXPECT_FALSE(r.ok());
}

TEST(JuteReadFailure, BufferLengthExactlyRemainingSucceeds) {
  std::string in = bytes({0, 0, 0, 2, 'a', 'b'});
  JuteReader r(in);
  EXPECT_EQ(r.get_buffer(), std::optional<std::string>("ab"));
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.at_end());
}

TEST(JuteReadFailure, NegativeBufferLengthsOtherThanMinusOneFail) {
  for (int32_t len : {-2, -100, std::numeric_limits<int32_t>::min()}) {
    std::string in;
    JuteWriter(in).put_int(len);
    in.append(16, 'x');
    JuteReader r(in);
    EXPECT_EQ(r.get_buffer(), std::nullopt) << len;
    EXPECT_FALSE(r.ok()) << len;
  }
  for (int32_t len : {-2, -7}) {
    std::string in;
    JuteWriter(in).put_int(len);
    JuteReader r(in);
    EXPECT_EQ(r.get_string(), "") << len;
    EXPECT_FALSE(r.ok()) << len;
  }
}

TEST(JuteReadFailure, NullBufferIsNotAFailure) {
  std::string in = bytes({0xff, 0xff, 0xff, 0xff});
  JuteReader r(in);
  EXPECT_EQ(r.get_buffer(), std::nullopt);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.at_end());
}

TEST(JuteReadFailure, NegativeCountsOtherThanMinusOneFail) {
  for (int32_t n : {-2, -1000, std::numeric_limits<int32_t>::min()}) {
    std::string in;
    JuteWriter(in).put_int(n);
    in.append(64, '\0');
    JuteReader r(in);
    EXPECT_EQ(r.get_count(4), 0) << n;
    EXPECT_FALSE(r.ok()) << n;
  }
}

TEST(JuteReadFailure, CountLargerThanRemainingBytesFails) {
  // 3 elements of at least 4 bytes need 12 bytes; only 11 remain.
  std::string in;
  JuteWriter(in).put_int(3);
  in.append(11, '\0');
  {
    JuteReader r(in);
    EXPECT_EQ(r.get_count(4), 0);
    EXPECT_FALSE(r.ok());
  }
  in.push_back('\0');  // now exactly 12
  {
    JuteReader r(in);
    EXPECT_EQ(r.get_count(4), 3);
    EXPECT_TRUE(r.ok());
  }
}

TEST(JuteReadFailure, HugeCountFailsWithoutAllocating) {
  std::string in;
  JuteWriter(in).put_int(0x7fffffff);
  in.append(8, '\0');
  JuteReader r(in);
  EXPECT_EQ(r.get_count(12), 0);
  EXPECT_FALSE(r.ok());
}

TEST(JuteReadFailure, CountWithZeroMinimumTreatsElementsAsOneByte) {
  std::string in;
  JuteWriter(in).put_int(4);
  in.append(3, '\0');
  JuteReader r(in);
  EXPECT_EQ(r.get_count(0), 0);
  EXPECT_FALSE(r.ok());
}

TEST(JuteReadFailure, ExplicitFailLatches) {
  std::string in = bytes({0, 0, 0, 1});
  JuteReader r(in);
  r.fail();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.get_int(), 0);
}

// ---------------------------------------------------------------------------------------------------------------
// Frames.

TEST(JuteFrame, BeginEndWritesLengthOfBody) {
  std::string out;
  JuteWriter w(out);
  size_t at = w.begin_frame();
  EXPECT_EQ(at, 0u);
  w.put_int(7);
  w.put_long(-2);
  w.end_frame(at);
  EXPECT_EQ(out, bytes({0, 0, 0, 12, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}));
}

TEST(JuteFrame, EmptyFrameIsZeroLength) {
  std::string out;
  JuteWriter w(out);
  w.end_frame(w.begin_frame());
  EXPECT_EQ(out, bytes({0, 0, 0, 0}));
}

TEST(JuteFrame, SecondFrameAppendedAfterExistingBytes) {
  std::string out = "xy";
  JuteWriter w(out);
  size_t a = w.begin_frame();
  w.put_byte(1);
  w.end_frame(a);
  size_t b = w.begin_frame();
  EXPECT_EQ(a, 2u);
  EXPECT_EQ(b, 7u);
  w.put_string("ab");
  w.end_frame(b);
  EXPECT_EQ(out, std::string("xy") + bytes({0, 0, 0, 1, 1, 0, 0, 0, 6, 0, 0, 0, 2, 'a', 'b'}));
  EXPECT_EQ(&w.bytes(), &out);
}

TEST(JuteFrame, LengthAbove255UsesAllBytes) {
  std::string out;
  JuteWriter w(out);
  size_t at = w.begin_frame();
  out.append(0x10203, 'z');
  w.end_frame(at);
  EXPECT_EQ(out.substr(0, 4), bytes({0, 1, 2, 3}));
  JuteReader r(out);
  EXPECT_EQ(r.get_int(), 0x10203);
}

}  // namespace
}  // namespace uk
