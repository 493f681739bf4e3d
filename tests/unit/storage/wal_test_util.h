// Helpers shared by the WAL tests (wal_test.cc, wal_truncate_test.cc, wal_roll_test.cc, wal_scan_test.cc):
// temporary directories, payloads, waiting on the ring, a log written through the real Wal.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ukeeper/storage/wal/format.h"
#include "ukeeper/storage/wal/wal.h"

namespace uk::waltest {

namespace fs = std::filesystem;
using Records = std::vector<std::pair<Zxid, std::string>>;

class TempDir {
 public:
  explicit TempDir(const std::string& base) {
    std::string tmpl = base + "/ukwal-XXXXXX";
    if (char* p = ::mkdtemp(tmpl.data())) path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string disk_base() {
  const char* t = std::getenv("TMPDIR");
  return t != nullptr && *t != '\0' ? t : "/tmp";
}

// Length and bytes depend on the zxid; `big` every 13th record spans several 4 KiB blocks.
inline std::string payload_for(Zxid zxid, size_t big = 9000) {
  const uint64_t z = static_cast<uint64_t>(zxid);
  size_t len = (z * 7919u) % 900u;
  if (z % 13 == 5) len = big;
  if (z % 97 == 0) len = 0;
  std::string s(len, '\0');
  for (size_t i = 0; i < len; ++i) s[i] = static_cast<char>((z * 131u + i * 7u) & 0xFF);
  return s;
}

// Polls completion_fd and reaps until `done` holds; gives up after ~10 s so a bug fails the test.
template <typename Pred>
bool reap_until(Wal& w, Pred done) {
  for (int i = 0; i < 10000 && !done(); ++i) {
    pollfd p{w.completion_fd(), POLLIN, 0};
    ::poll(&p, 1, 1);
    w.reap();
  }
  return done();
}

inline std::string read_whole(const std::string& path) {
  std::string s(static_cast<size_t>(fs::file_size(path)), '\0');
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return {};
  const ssize_t n = ::pread(fd, s.data(), s.size(), 0);
  ::close(fd);
  s.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return s;
}

inline std::unique_ptr<Wal> open_wal(const WalOptions& o, Records& replayed, WalRecovery& rec) {
  std::string error;
  replayed.clear();
  auto w = Wal::open(
      o, [&](Zxid z, std::string_view p) { replayed.emplace_back(z, std::string(p)); }, rec, error);
  EXPECT_TRUE(w) << error;
  return w;
}

inline Records model(Zxid from, Zxid to, size_t big = 9000) {
  Records out;
  for (Zxid z = from; z <= to; ++z) out.emplace_back(z, payload_for(z, big));
  return out;
}

// Appends zxids [from, to], reaping now and then, and waits until everything is durable.
inline void write_range(Wal& w, Zxid from, Zxid to, size_t big = 9000) {
  for (Zxid z = from; z <= to; ++z) {
    w.append(z, payload_for(z, big));
    if (z % 7 == 0) w.reap();
  }
  ASSERT_TRUE(w.sync_all()) << w.failure();
  ASSERT_EQ(w.persisted_zxid(), to);
}

// The offset of the record `zxid` in segment file `path` (padding skipped), or UINT64_MAX when it is not there.
inline uint64_t record_offset(const std::string& path, Zxid zxid) {
  const std::string bytes = read_whole(path);
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  uint64_t off = wal::kSegmentHeaderBlockBytes;
  while (off < bytes.size()) {
    wal::RecordView r;
    if (wal::check_record(data + off, bytes.size() - off, r) != wal::RecordCheck::kOk) break;
    if (!r.pad && r.zxid == zxid) return off;
    off += wal::record_bytes(r.payload_bytes);
  }
  return UINT64_MAX;
}

inline std::vector<std::string> segment_names(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (wal::parse_segment_file_name(e.path().filename().string())) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace uk::waltest
