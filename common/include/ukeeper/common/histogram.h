// Latency histogram with a fixed relative error (HDR-style, log-linear buckets).
//
// Values are non-negative integers in any unit (ukbench records nanoseconds). Values below 2^kSubBucketBits are
// counted exactly; above that, each power of two [2^e, 2^(e+1)) is split into 2^kSubBucketBits equal buckets of
// width 2^(e - kSubBucketBits), so a bucket's width is at most 2^-kSubBucketBits of its lower bound. Queries answer
// with the bucket's midpoint, so any reported percentile is within kRelativeError (2^-(kSubBucketBits+1), 0.2%)
// of a value actually recorded at that rank. min() and max() are exact.
//
// Range: 0 .. kMaxTrackable (2^42 - 1 ns ≈ 73 minutes). Larger values are counted in the top bucket (and max()
// still reports them exactly); record() never fails.
//
// Storage: one fixed array of kBucketCount counters (70 KiB) inside the object; record() does no allocation.
// Thread-safety: none; each thread records into its own histogram and they are merged afterwards.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace uk {

class Histogram {
 public:
  static constexpr int kSubBucketBits = 8;
  static constexpr uint64_t kSubBucketCount = uint64_t{1} << kSubBucketBits;
  static constexpr int kMaxValueBits = 42;
  static constexpr uint64_t kMaxTrackable = (uint64_t{1} << kMaxValueBits) - 1;
  // Exact buckets for [0, 2^k), then 2^k buckets for each power of two from 2^k up to 2^(kMaxValueBits-1).
  static constexpr size_t kBucketCount =
      static_cast<size_t>(kSubBucketCount) * static_cast<size_t>(kMaxValueBits - kSubBucketBits + 1);
  static constexpr double kRelativeError = 1.0 / static_cast<double>(2 * kSubBucketCount);

  Histogram() { reset(); }

  void record(uint64_t value) { record_n(value, 1); }
  void record_n(uint64_t value, uint64_t n);

  // Coordinated-omission correction for a closed-loop recorder that meant to record one sample every
  // expected_interval (HdrHistogram's recordValueWithExpectedInterval): records `value`, and if it exceeds the
  // interval, also value - interval, value - 2*interval, ... down to and including the last one >= interval —
  // the samples the stalled recorder failed to take. An interval of 0 records only `value`.
  void record_corrected(uint64_t value, uint64_t expected_interval);

  void merge(const Histogram& other);
  void reset();

  // Value at percentile p (0..100]: the smallest recorded value with at least p% of the samples at or below it,
  // within kRelativeError. 0 when empty; p <= 0 gives min(), p >= 100 gives max().
  uint64_t percentile(double p) const;
  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }

  // Bucket arithmetic, public for tests.
  static size_t bucket_index(uint64_t value);
  static uint64_t bucket_lowest(size_t index);
  static uint64_t bucket_width(size_t index);

 private:
  std::array<uint64_t, kBucketCount> counts_;
  uint64_t count_ = 0;
  uint64_t min_ = 0;
  uint64_t max_ = 0;
  double sum_ = 0.0;  // for mean(); a double cannot overflow at 2^42 * 2^64
};

}  // namespace uk
