// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): a keyed 64-bit hash. Without
// the 128-bit key, an attacker who chooses the inputs cannot make their hashes collide more often than chance,
// which is what an unkeyed hash (std::hash, Murmur, City) cannot promise: those have key-independent
// multicollisions. The znode store keys its path index and its child-set priorities with it (data_tree.h).
// Written from the paper's specification; checked against its reference vectors (tests/unit/storage).
// Pure and thread-safe.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace uk {

struct SipKey {
  uint64_t k0 = 0;  // key bytes 0..7, little-endian
  uint64_t k1 = 0;  // key bytes 8..15, little-endian
};

namespace siphash_detail {

inline uint64_t load_le64(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof w);
  if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
  return w;
}

struct State {
  uint64_t v0, v1, v2, v3;

  void round() {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }
  // One message word through the 2 compression rounds.
  void absorb(uint64_t m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
};

}  // namespace siphash_detail

inline uint64_t siphash24(const SipKey& key, std::string_view msg) {
  siphash_detail::State s{key.k0 ^ 0x736f6d6570736575ull, key.k1 ^ 0x646f72616e646f6dull,
                          key.k0 ^ 0x6c7967656e657261ull, key.k1 ^ 0x7465646279746573ull};
  const char* p = msg.data();
  const size_t whole = msg.size() & ~size_t{7};
  for (size_t i = 0; i < whole; i += 8) s.absorb(siphash_detail::load_le64(p + i));
  // The last word: the 0-7 remaining bytes, little-endian, and the length's low byte at the top.
  uint64_t last = static_cast<uint64_t>(msg.size()) << 56;
  for (size_t i = whole; i < msg.size(); ++i) {
    last |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * (i - whole));
  }
  s.absorb(last);
  // Finalization: 4 rounds.
  s.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

}  // namespace uk
