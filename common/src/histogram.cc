#include "ukeeper/common/histogram.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>

namespace uk {

size_t Histogram::bucket_index(uint64_t value) {
  if (value > kMaxTrackable) value = kMaxTrackable;
  if (value < kSubBucketCount) return static_cast<size_t>(value);
  // e = floor(log2(value)) >= kSubBucketBits; the top kSubBucketBits+1 bits select the bucket.
  int e = 63 - std::countl_zero(value);
  int shift = e - kSubBucketBits;
  uint64_t mantissa = (value >> shift) - kSubBucketCount;  // in [0, kSubBucketCount)
  size_t index = static_cast<size_t>(kSubBucketCount) * static_cast<size_t>(shift + 1) + static_cast<size_t>(mantissa);
  assert(index < kBucketCount);
  return index;
}

uint64_t Histogram::bucket_lowest(size_t index) {
  assert(index < kBucketCount);
  if (index < kSubBucketCount) return index;
  size_t shift = index / kSubBucketCount - 1;
  uint64_t mantissa = index % kSubBucketCount;
  return (kSubBucketCount + mantissa) << shift;
}

uint64_t Histogram::bucket_width(size_t index) {
  assert(index < kBucketCount);
  if (index < kSubBucketCount) return 1;
  return uint64_t{1} << (index / kSubBucketCount - 1);
}

void Histogram::record_n(uint64_t value, uint64_t n) {
  if (n == 0) return;
  counts_[bucket_index(value)] += n;
  if (count_ == 0 || value < min_) min_ = value;
  if (value > max_) max_ = value;
  count_ += n;
  sum_ += static_cast<double>(value) * static_cast<double>(n);
}

void Histogram::record_corrected(uint64_t value, uint64_t expected_interval) {
  record(value);
  if (expected_interval == 0 || value <= expected_interval) return;
  for (uint64_t missing = value - expected_interval; missing >= expected_interval; missing -= expected_interval) {
    record(missing);
  }
}

void Histogram::merge(const Histogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < kBucketCount; i++) counts_[i] += other.counts_[i];
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

void Histogram::reset() {
  counts_.fill(0);
  count_ = 0;
  min_ = 0;
  max_ = 0;
  sum_ = 0.0;
}

uint64_t Histogram::percentile(double p) const {
  if (count_ == 0) return 0;
  if (p <= 0.0) return min_;
  if (p >= 100.0) return max_;
  // Rank of the wanted sample, 1-based: ceil(p% of count), at least 1.
  double exact_rank = std::ceil(p / 100.0 * static_cast<double>(count_));
  uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(exact_rank));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBucketCount; i++) {
    seen += counts_[i];
    if (seen >= rank) {
      uint64_t mid = bucket_lowest(i) + (bucket_width(i) - 1) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

}  // namespace uk
