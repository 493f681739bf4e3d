#include "segment_reader.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "wal_impl.h"

namespace uk::wal {

SegmentReader::SegmentReader(const uint8_t* data, uint64_t size, uint64_t chunk)
    : data_(data), size_(size), chunk_(chunk == 0 ? 0 : std::max(chunk, kMinChunkBytes)) {}

SegmentReader::SegmentReader(int fd, const std::string& path, uint64_t size, uint64_t chunk)
    : fd_(fd), path_(path), size_(size), chunk_(std::max(chunk, kMinChunkBytes)) {}

bool SegmentReader::fill(uint64_t offset, uint8_t* dst, uint64_t n, std::string& error) {
  if (fd_ < 0) {
    std::memcpy(dst, data_ + offset, n);
    return true;
  }
  for (uint64_t done = 0; done < n;) {
    const ssize_t r = ::pread(fd_, dst + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      error = "wal: read " + path_ + " offset " + std::to_string(offset + done) + ": " +
              (r < 0 ? std::strerror(errno) : "unexpected end of file");
      return false;
    }
    done += static_cast<uint64_t>(r);
  }
  return true;
}

bool SegmentReader::view(uint64_t offset, uint64_t n, const uint8_t*& out, std::string& error) {
  UK_WAL_ASSERT(offset <= size_ && n <= size_ - offset, "view past the end of the segment", offset, n);
  if (chunk_ == 0) {
    out = data_ + offset;
    return true;
  }
  if (offset < start_ || offset + n > start_ + len_) {
    const uint64_t want = std::min(std::max(n, chunk_), size_ - offset);
    // Bytes of the old window at or after `offset` move to the front instead of being read again.
    uint64_t keep = 0;
    if (offset >= start_ && offset < start_ + len_) {
      keep = std::min(start_ + len_ - offset, want);
      std::memmove(buf_.data(), buf_.data() + (offset - start_), keep);
    }
    if (buf_.size() < want) buf_.resize(want);
    peak_ = std::max<uint64_t>(peak_, buf_.size());
    len_ = 0;
    if (!fill(offset + keep, buf_.data() + keep, want - keep, error)) return false;
    start_ = offset;
    len_ = want;
  }
  out = buf_.data() + (offset - start_);
  return true;
}

}  // namespace uk::wal
