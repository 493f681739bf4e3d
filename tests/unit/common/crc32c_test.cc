// CRC-32C (common/src/crc32c.cc): the standard check value, the hardware and software paths agreeing, and
// extension across split buffers.
#include "ukeeper/common/crc32c.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace uk {
namespace {

TEST(Crc32c, CheckValue) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c_extend_software(0, "123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c(""), 0u);
  // RFC 3720 (iSCSI) B.4: 32 bytes of zeros, 32 bytes of 0xFF, 0..31 ascending.
  std::string zeros(32, '\0'), ones(32, '\xff'), inc;
  for (int i = 0; i < 32; ++i) inc.push_back(static_cast<char>(i));
  EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones), 0x62A8AB43u);
  EXPECT_EQ(crc32c(inc), 0x46DD794Eu);
}

TEST(Crc32c, HardwareAndSoftwareAgreeOnEveryLengthAndAlignment) {
  std::mt19937 rng(7);
  std::vector<uint8_t> buf(4096 + 16);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (size_t align = 0; align < 8; ++align) {
    for (size_t len = 0; len < 300; ++len) {
      ASSERT_EQ(crc32c(buf.data() + align, len), crc32c_extend_software(0, buf.data() + align, len))
          << "align " << align << " len " << len;
    }
  }
  EXPECT_EQ(crc32c(buf.data(), 4096), crc32c_extend_software(0, buf.data(), 4096));
  std::printf("crc32c uses %s\n", crc32c_hardware() ? "SSE4.2" : "the software table");
}

TEST(Crc32c, ExtendEqualsWhole) {
  const std::string s = "the quick brown fox jumps over the lazy dog, twice over";
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    uint32_t a = crc32c(s.data(), cut);
    EXPECT_EQ(crc32c_extend(a, s.data() + cut, s.size() - cut), crc32c(s)) << cut;
  }
}

TEST(Crc32c, DetectsEverySingleBitFlip) {
  std::string s(100, 'x');
  const uint32_t good = crc32c(s);
  for (size_t bit = 0; bit < s.size() * 8; ++bit) {
    std::string t = s;
    t[bit / 8] = static_cast<char>(t[bit / 8] ^ (1 << (bit % 8)));
    ASSERT_NE(crc32c(t), good) << bit;
  }
}

}  // namespace
}  // namespace uk
