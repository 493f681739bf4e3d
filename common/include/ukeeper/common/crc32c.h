// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the WAL and snapshot formats.
// Uses the SSE4.2 crc32 instruction when the CPU has it (checked once), else a table-driven software loop;
// both give identical results. Thread-safe: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace uk {

// Continues a checksum: crc32c_extend(crc32c(a), b) == crc32c(a + b). Start with crc = 0.
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t n);

inline uint32_t crc32c(const void* data, size_t n) { return crc32c_extend(0, data, n); }
inline uint32_t crc32c(std::string_view s) { return crc32c_extend(0, s.data(), s.size()); }

// True when crc32c_extend uses the SSE4.2 instruction on this CPU (for logs and tests).
bool crc32c_hardware();

// The software implementation alone, so tests can compare both paths on the same input.
uint32_t crc32c_extend_software(uint32_t crc, const void* data, size_t n);

}  // namespace uk
