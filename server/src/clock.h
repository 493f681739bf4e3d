// The server's clock readings (private to server/src). Consensus and the store never read a clock; the server
// feeds them time.
#pragma once

#include <time.h>

#include <cstdint>

namespace uk {

inline int64_t mono_us() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

inline int64_t mono_ms() { return mono_us() / 1000; }

inline int64_t wall_ms() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace uk
