// A window onto one segment's bytes, for the readers that must not hold a whole segment (the recovery scan,
// truncate_after's walk). view() returns a pointer to any byte range; it reads at least `chunk` bytes at a time
// so a segment of small records costs few reads, and a range bigger than a chunk (a big record) gets a window of
// its own. Memory: the window buffer grows to max(chunk, the largest range viewed) and no further.
//
// Over memory with chunk 0, views point straight into the caller's bytes (the fuzz target's scan); with a chunk,
// memory is copied window by window exactly as a file is read, so tests can run the file path's logic on bytes.
//
// Thread-safety: one thread. A view stays valid until the next call to view().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace uk::wal {

class SegmentReader {
 public:
  // Smallest window: a record header and the magic search need a few dozen bytes of context.
  static constexpr uint64_t kMinChunkBytes = 64;

  SegmentReader(const uint8_t* data, uint64_t size, uint64_t chunk);
  SegmentReader(int fd, const std::string& path, uint64_t size, uint64_t chunk);

  uint64_t size() const { return size_; }
  // The window size (0: views point into the caller's memory).
  uint64_t chunk() const { return chunk_; }
  // Points `out` at bytes [offset, offset + n); n <= size() - offset. False with `error` (file, offset, errno
  // text) when the read fails or the file is shorter than size().
  bool view(uint64_t offset, uint64_t n, const uint8_t*& out, std::string& error);
  // The most bytes the window buffer ever held.
  uint64_t peak_buffer_bytes() const { return peak_; }

 private:
  bool fill(uint64_t offset, uint8_t* dst, uint64_t n, std::string& error);

  const uint8_t* data_ = nullptr;
  int fd_ = -1;
  std::string path_;
  uint64_t size_ = 0;
  uint64_t chunk_ = 0;
  std::vector<uint8_t> buf_;
  uint64_t start_ = 0;  // the window holds file bytes [start_, start_ + len_)
  uint64_t len_ = 0;
  uint64_t peak_ = 0;
};

}  // namespace uk::wal
