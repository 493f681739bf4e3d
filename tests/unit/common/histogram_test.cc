// Histogram: known distributions give known percentiles within the stated relative error; merge; the
// coordinated-omission correction against hand-computed samples; edge cases.
#include "ukeeper/common/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

namespace uk {
namespace {

// Exact percentile with the histogram's definition: the sample at rank ceil(p% of n), 1-based.
uint64_t exact_percentile(std::vector<uint64_t> sorted, double p) {
  std::sort(sorted.begin(), sorted.end());
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::max<size_t>(rank, 1) - 1];
}

void expect_within_error(uint64_t got, uint64_t want) {
  double tolerance = static_cast<double>(want) * Histogram::kRelativeError;
  EXPECT_LE(std::fabs(static_cast<double>(got) - static_cast<double>(want)), tolerance)
      << "got " << got << " want " << want;
}

constexpr double kPercentiles[] = {1, 10, 25, 50, 75, 90, 99, 99.9, 99.99};

TEST(Histogram, BucketsCoverEveryValueWithBoundedWidth) {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{255}, uint64_t{256}, uint64_t{257}, uint64_t{511},
                     uint64_t{512}, uint64_t{1000003}, uint64_t{3'600'000'000'000}, Histogram::kMaxTrackable}) {
    size_t i = Histogram::bucket_index(v);
    ASSERT_LT(i, Histogram::kBucketCount);
    EXPECT_LE(Histogram::bucket_lowest(i), v);
    EXPECT_LT(v, Histogram::bucket_lowest(i) + Histogram::bucket_width(i));
    EXPECT_LE(static_cast<double>(Histogram::bucket_width(i)),
              std::max(1.0, static_cast<double>(Histogram::bucket_lowest(i)) * 2 * Histogram::kRelativeError));
  }
  // Consecutive buckets tile the range without gaps.
  for (size_t i = 0; i + 1 < Histogram::kBucketCount; i++) {
    ASSERT_EQ(Histogram::bucket_lowest(i) + Histogram::bucket_width(i), Histogram::bucket_lowest(i + 1)) << i;
  }
}

TEST(Histogram, EmptyReportsZeros) {
  auto h = std::make_unique<Histogram>();
  EXPECT_EQ(h->count(), 0u);
  EXPECT_EQ(h->percentile(50), 0u);
  EXPECT_EQ(h->percentile(100), 0u);
  EXPECT_EQ(h->min(), 0u);
  EXPECT_EQ(h->max(), 0u);
  EXPECT_EQ(h->mean(), 0.0);
}

TEST(Histogram, ZeroAndMaxValues) {
  auto h = std::make_unique<Histogram>();
  h->record(0);
  EXPECT_EQ(h->percentile(50), 0u);
  EXPECT_EQ(h->min(), 0u);
  h->record(Histogram::kMaxTrackable);
  h->record(Histogram::kMaxTrackable + 12345);  // beyond range: counted in the top bucket, max stays exact
  EXPECT_EQ(h->count(), 3u);
  EXPECT_EQ(h->max(), Histogram::kMaxTrackable + 12345);
  EXPECT_EQ(h->percentile(100), Histogram::kMaxTrackable + 12345);
  expect_within_error(h->percentile(60), Histogram::kMaxTrackable);
  EXPECT_EQ(h->percentile(0), 0u);
}

TEST(Histogram, ConstantIsExactAtEveryPercentile) {
  auto h = std::make_unique<Histogram>();
  for (int i = 0; i < 10000; i++) h->record(123456);
  for (double p : kPercentiles) EXPECT_EQ(h->percentile(p), 123456u) << p;  // clamped to the exact min and max
  EXPECT_EQ(h->min(), 123456u);
  EXPECT_EQ(h->max(), 123456u);
  EXPECT_DOUBLE_EQ(h->mean(), 123456.0);
}

TEST(Histogram, UniformOneToMillion) {
  auto h = std::make_unique<Histogram>();
  for (uint64_t v = 1; v <= 1'000'000; v++) h->record(v);
  EXPECT_EQ(h->count(), 1'000'000u);
  for (double p : kPercentiles) {
    auto want = static_cast<uint64_t>(std::ceil(p / 100.0 * 1e6));
    expect_within_error(h->percentile(p), want);
  }
  EXPECT_EQ(h->min(), 1u);
  EXPECT_EQ(h->max(), 1'000'000u);
  EXPECT_NEAR(h->mean(), 500000.5, 1e-6);
}

TEST(Histogram, ExponentialWithFixedSeed) {
  std::mt19937_64 rng(42);
  std::exponential_distribution<double> dist(1.0 / 200'000.0);  // mean 200 µs in ns
  std::vector<uint64_t> samples;
  auto h = std::make_unique<Histogram>();
  for (int i = 0; i < 200'000; i++) {
    auto v = static_cast<uint64_t>(dist(rng));
    samples.push_back(v);
    h->record(v);
  }
  for (double p : kPercentiles) expect_within_error(h->percentile(p), exact_percentile(samples, p));
  EXPECT_EQ(h->max(), *std::max_element(samples.begin(), samples.end()));
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(10.0, 2.0);
  auto a = std::make_unique<Histogram>();
  auto b = std::make_unique<Histogram>();
  auto all = std::make_unique<Histogram>();
  for (int i = 0; i < 50'000; i++) {
    auto v = static_cast<uint64_t>(dist(rng));
    (i % 3 ? *a : *b).record(v);
    all->record(v);
  }
  auto merged = std::make_unique<Histogram>();
  merged->merge(*a);
  merged->merge(*b);
  EXPECT_EQ(merged->count(), all->count());
  EXPECT_EQ(merged->min(), all->min());
  EXPECT_EQ(merged->max(), all->max());
  EXPECT_NEAR(merged->mean(), all->mean(), all->mean() * 1e-12);
  for (double p : kPercentiles) EXPECT_EQ(merged->percentile(p), all->percentile(p)) << p;
  // Merging an empty histogram changes nothing.
  merged->merge(Histogram());
  EXPECT_EQ(merged->min(), all->min());
}

TEST(Histogram, CoordinatedOmissionCorrection) {
  // Interval 100, one stalled sample of 450: the recorder missed the samples it would have taken at 350, 250,
  // 150 (each >= 100); 50 is below the interval and is not added (HdrHistogram's recordValueWithExpectedInterval).
  auto h = std::make_unique<Histogram>();
  h->record_corrected(450, 100);
  EXPECT_EQ(h->count(), 4u);
  EXPECT_EQ(h->min(), 150u);
  EXPECT_EQ(h->max(), 450u);
  EXPECT_DOUBLE_EQ(h->mean(), (450.0 + 350 + 250 + 150) / 4);
  // Exactly a multiple: 300 with interval 100 adds 200 and 100.
  h->reset();
  h->record_corrected(300, 100);
  EXPECT_EQ(h->count(), 3u);
  EXPECT_EQ(h->min(), 100u);
  // At or below the interval, or with no interval, nothing is added.
  h->reset();
  h->record_corrected(100, 100);
  h->record_corrected(5, 100);
  h->record_corrected(1000, 0);
  EXPECT_EQ(h->count(), 3u);
}

TEST(Histogram, CorrectionRestoresTheTailOfAStalledClosedLoop) {
  // HdrHistogram's classic example: 10'000 samples of 1 ms at 100/s, then one 100 s stall. Uncorrected, p99 is
  // 1 ms; corrected, the stall adds 9'999 samples (100 s - k*10 ms, down to 10 ms), so half of all samples lie
  // in the stall and p75 is 50 s.
  constexpr uint64_t kMs = 1'000'000;
  auto raw = std::make_unique<Histogram>();
  auto corrected = std::make_unique<Histogram>();
  for (int i = 0; i < 10'000; i++) {
    raw->record(kMs);
    corrected->record_corrected(kMs, 10 * kMs);
  }
  raw->record(100'000 * kMs);
  corrected->record_corrected(100'000 * kMs, 10 * kMs);
  EXPECT_EQ(raw->count(), 10'001u);
  EXPECT_EQ(corrected->count(), 20'000u);
  expect_within_error(raw->percentile(99), kMs);
  expect_within_error(corrected->percentile(50), kMs);
  // Rank 15'000 of the 20'000: the 5'000th stall sample from the bottom, 10 ms * 5'000 = 50 s.
  expect_within_error(corrected->percentile(75), 50'000 * kMs);
  expect_within_error(corrected->percentile(99.99), 99'980 * kMs);
}

TEST(Histogram, ResetForgetsEverything) {
  auto h = std::make_unique<Histogram>();
  h->record(5);
  h->record(500000);
  h->reset();
  EXPECT_EQ(h->count(), 0u);
  EXPECT_EQ(h->max(), 0u);
  h->record(7);
  EXPECT_EQ(h->min(), 7u);
  EXPECT_EQ(h->percentile(50), 7u);
}

}  // namespace
}  // namespace uk
