// Session tracker (server/src/sessions.cc): the expiry timer wheel. Deadlines are filed in buckets rounded up to
// bucket_ms, so a session is never reported before its deadline and at most bucket_ms - 1 ms after it; expired()
// only opens due buckets. Checked directly, against a brute-force model, and for the cost of a poll.
#include "ukeeper/server/sessions.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <utility>
#include <vector>

namespace uk {
namespace {

std::vector<SessionId> ids(std::initializer_list<SessionId> l) { return std::vector<SessionId>(l); }

TEST(SessionExpiry, NeverBeforeDeadlineAndAtMostBucketLate) {
  SessionTracker t(1, "k", 0, 10);
  t.open(7, 95, 1000);  // deadline 1095, filed in the bucket for 1100
  EXPECT_TRUE(t.expired(1000).empty());
  EXPECT_TRUE(t.expired(1094).empty());
  // Past the exact deadline but inside the rounding: allowed to be late, by less than bucket_ms.
  EXPECT_TRUE(t.expired(1099).empty());
  EXPECT_EQ(t.expired(1100), ids({7}));
  EXPECT_EQ(t.expired(5000), ids({7}));
}

TEST(SessionExpiry, OneMillisecondBucketsAreExact) {
  SessionTracker t(1, "k", 0, 1);
  t.open(7, 95, 1000);
  EXPECT_TRUE(t.expired(1094).empty());
  EXPECT_EQ(t.expired(1095), ids({7}));
}

TEST(SessionExpiry, AlignedDeadlineIsReportedExactlyOnTime) {
  SessionTracker t(1, "k", 0, 10);
  t.open(7, 100, 1000);  // deadline 1100 is its own bucket time
  EXPECT_TRUE(t.expired(1099).empty());
  EXPECT_EQ(t.expired(1100), ids({7}));
}

TEST(SessionExpiry, BucketMsBelowOneMeansOne) {
  SessionTracker t(1, "k", 0, 0);
  EXPECT_EQ(t.bucket_ms(), 1);
  t.open(7, 5, 3);
  EXPECT_TRUE(t.expired(7).empty());
  EXPECT_EQ(t.expired(8), ids({7}));
}

TEST(SessionExpiry, NegativeTimesRoundUpToo) {
  SessionTracker t(1, "k", 0, 10);
  t.open(7, 85, -100);  // deadline -15, bucket -10
  EXPECT_TRUE(t.expired(-16).empty());
  EXPECT_TRUE(t.expired(-11).empty());
  EXPECT_EQ(t.expired(-10), ids({7}));
}

TEST(SessionExpiry, TouchPostpones) {
  SessionTracker t(1, "k", 0, 10);
  Session& s = t.open(7, 100, 0);
  t.touch(s, 90);  // deadline 190
  EXPECT_EQ(s.expires_at_ms, 190);
  EXPECT_TRUE(t.expired(100).empty());
  EXPECT_TRUE(t.expired(189).empty());
  EXPECT_EQ(t.expired(190), ids({7}));
  // A touch after it fell due takes it back out of the due set.
  t.touch(*t.find(7), 200);
  EXPECT_TRUE(t.expired(200).empty());
  EXPECT_EQ(t.expired(300), ids({7}));
}

TEST(SessionExpiry, TouchWithinTheSameBucketKeepsItFiled) {
  SessionTracker t(1, "k", 0, 10);
  Session& s = t.open(7, 100, 0);  // deadline 100
  t.touch(s, 1);                   // 101 -> bucket 110
  t.touch(s, 5);                   // 105 -> bucket 110 still
  EXPECT_EQ(t.bucket_count(), 1u);
  EXPECT_TRUE(t.expired(109).empty());
  EXPECT_EQ(t.expired(110), ids({7}));
}

TEST(SessionExpiry, RemoveForgets) {
  SessionTracker t(1, "k", 0, 10);
  t.open(7, 100, 0);
  t.open(8, 100, 0);
  t.remove(7);
  EXPECT_EQ(t.find(7), nullptr);
  EXPECT_EQ(t.expired(1000), ids({8}));
  t.remove(8);
  t.remove(8);  // removing twice, or an unknown id, is harmless
  EXPECT_TRUE(t.expired(1000).empty());
  EXPECT_EQ(t.bucket_count(), 0u);
  EXPECT_TRUE(t.all().empty());
}

TEST(SessionExpiry, ReportedUntilRemovedAndClosingIsSkipped) {
  SessionTracker t(1, "k", 0, 10);
  t.open(7, 100, 0);
  t.open(8, 100, 0);
  EXPECT_EQ(t.expired(100), ids({7, 8}));
  EXPECT_EQ(t.expired(150), ids({7, 8}));  // still there: the caller has not acted yet
  t.find(7)->closing = true;                // the caller's expiry is under way
  EXPECT_EQ(t.expired(160), ids({8}));
  t.remove(8);
  EXPECT_TRUE(t.expired(170).empty());
}

TEST(SessionExpiry, OldestDeadlineFirstTiesById) {
  SessionTracker t(1, "k", 0, 10);
  t.open(30, 103, 0);  // 103
  t.open(10, 101, 0);  // 101, same bucket as 30
  t.open(20, 50, 0);   // 50
  t.open(5, 101, 0);   // 101, ties with 10
  EXPECT_EQ(t.expired(200), ids({20, 5, 10, 30}));
}

TEST(SessionExpiry, ReopenRefilesAndKeepsOwnerAndClosing) {
  SessionTracker t(1, "k", 0, 10);
  int conn = 0;
  Session& s = t.open(7, 100, 0);
  s.owner = &conn;
  s.closing = true;
  Session& again = t.open(7, 500, 0);
  EXPECT_EQ(&again, &s);
  EXPECT_EQ(again.owner, &conn);
  EXPECT_TRUE(again.closing);
  EXPECT_EQ(again.expires_at_ms, 500);
  again.closing = false;
  EXPECT_TRUE(t.expired(499).empty());
  EXPECT_EQ(t.expired(500), ids({7}));
  EXPECT_EQ(t.bucket_count(), 1u);
}

TEST(SessionExpiry, MovedTrackerKeepsItsBuckets) {
  // The server replaces its tracker by move assignment when a member changes role.
  SessionTracker a(1, "k", 0, 10);
  for (SessionId id = 1; id <= 50; id++) a.open(id, static_cast<int32_t>(100 + id), 0);
  SessionTracker b(std::move(a));
  b.touch(*b.find(1), 1000);
  b.remove(2);
  SessionTracker c(2, "k", 0, 10);
  c = std::move(b);
  c.touch(*c.find(3), 1000);
  std::vector<SessionId> due = c.expired(200);
  EXPECT_EQ(due.size(), 47u);
  EXPECT_EQ(due.front(), 4);
  EXPECT_EQ(c.expired(2000).size(), 49u);
}

TEST(SessionExpiry, IdsAndPasswordsUnchanged) {
  SessionTracker t(3, "secret", 1000, 25);
  SessionId first = t.next_session_id();
  EXPECT_EQ(static_cast<uint64_t>(first) >> 56, 3u);
  EXPECT_EQ(t.next_session_id(), first + 1);
  EXPECT_EQ(t.password_for(first), t.password_for(first));
  EXPECT_NE(t.password_for(first), t.password_for(first + 1));
}

// The model: every live session's exact deadline and closing flag, nothing else.
struct ModelSession {
  int32_t timeout_ms;
  int64_t deadline_ms;
  bool closing;
};

int64_t round_up(int64_t v, int64_t step) {
  int64_t q = v / step;
  if (v % step > 0) q++;
  return q * step;
}

void run_against_model(int64_t bucket_ms, int64_t start_ms, uint64_t seed) {
  SCOPED_TRACE(testing::Message() << "bucket_ms=" << bucket_ms << " seed=" << seed);
  std::mt19937_64 rng(seed);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  SessionTracker t(1, "k", start_ms, bucket_ms);
  std::map<SessionId, ModelSession> model;
  SessionId next_id = 1;
  int64_t now = start_ms;

  auto random_live = [&]() -> SessionId {
    auto it = model.begin();
    std::advance(it, pick(0, static_cast<int64_t>(model.size()) - 1));
    return it->first;
  };

  for (int step = 0; step < 3000; step++) {
    now += pick(0, 2 * bucket_ms + 3);
    int ops = static_cast<int>(pick(0, 8));
    for (int i = 0; i < ops; i++) {
      int64_t kind = pick(0, 99);
      if (kind < 25 || model.empty()) {
        auto timeout = static_cast<int32_t>(pick(0, 40 * bucket_ms + 50));
        SessionId id = next_id++;
        t.open(id, timeout, now);
        model[id] = {timeout, now + timeout, false};
      } else if (kind < 75) {
        SessionId id = random_live();
        t.touch(*t.find(id), now);
        model[id].deadline_ms = now + model[id].timeout_ms;
      } else if (kind < 85) {
        SessionId id = random_live();
        t.remove(id);
        model.erase(id);
      } else if (kind < 90) {
        SessionId id = random_live();
        t.find(id)->closing = true;
        model[id].closing = true;
      } else {
        // Reopen an existing id with a new timeout, as a new leader does with sessions it inherits.
        SessionId id = random_live();
        auto timeout = static_cast<int32_t>(pick(0, 40 * bucket_ms + 50));
        t.open(id, timeout, now);
        model[id].timeout_ms = timeout;
        model[id].deadline_ms = now + timeout;
      }
    }

    std::vector<SessionId> got = t.expired(now);

    // The contract, exactly: a session not closing is reported iff its deadline rounded up to bucket_ms is <= now,
    // oldest exact deadline first, ties by id.
    std::vector<std::pair<int64_t, SessionId>> want_pairs;
    size_t due_incl_closing = 0;
    for (const auto& [id, m] : model) {
      if (round_up(m.deadline_ms, bucket_ms) > now) continue;
      due_incl_closing++;
      if (!m.closing) want_pairs.emplace_back(m.deadline_ms, id);
    }
    std::sort(want_pairs.begin(), want_pairs.end());
    std::vector<SessionId> want;
    for (const auto& p : want_pairs) want.push_back(p.second);
    ASSERT_EQ(got, want) << "step " << step << " now " << now;

    // The same contract in terms of the documented bound, independent of how rounding is done: never early,
    // and late by less than bucket_ms.
    std::vector<SessionId> sorted_got = got;
    std::sort(sorted_got.begin(), sorted_got.end());
    for (const auto& [id, m] : model) {
      bool reported = std::binary_search(sorted_got.begin(), sorted_got.end(), id);
      if (reported) {
        ASSERT_LE(m.deadline_ms, now) << "early: session " << id << " step " << step;
      }
      if (!m.closing && m.deadline_ms + bucket_ms - 1 <= now) {
        ASSERT_TRUE(reported) << "later than bucket_ms - 1: session " << id << " step " << step;
      }
    }

    // The poll looked at the due sessions only.
    ASSERT_EQ(t.last_scan_visits(), due_incl_closing) << "step " << step;

    // The tracker's view of every session matches the model.
    ASSERT_EQ(t.all().size(), model.size());
    for (const auto& [id, s] : t.all()) {
      auto it = model.find(id);
      ASSERT_NE(it, model.end());
      ASSERT_EQ(s.expires_at_ms, it->second.deadline_ms);
      ASSERT_EQ(s.timeout_ms, it->second.timeout_ms);
      ASSERT_EQ(s.closing, it->second.closing);
    }

    // What the server does: most of the time, act on what came back (mark closing, later remove).
    if (pick(0, 2) != 0) {
      for (SessionId id : got) {
        if (pick(0, 1) == 0) {
          t.remove(id);
          model.erase(id);
        } else {
          t.find(id)->closing = true;
          model[id].closing = true;
        }
      }
    }
  }
}

TEST(SessionExpiry, MatchesBruteForceModelOverSimulatedTime) {
  run_against_model(1, 0, 1);
  run_against_model(7, 12345, 2);
  run_against_model(10, 1'000'000, 3);
  run_against_model(250, -5000, 4);  // also crosses from negative to positive times
}

TEST(SessionExpiry, PollWithNothingDueDoesNotWalkLiveSessions) {
  constexpr SessionId kSessions = 100'000;
  SessionTracker t(1, "k", 0, 10);
  std::mt19937_64 rng(99);
  std::uniform_int_distribution<int32_t> timeout(4000, 40'000);
  int64_t now = 1'000'000;
  for (SessionId id = 1; id <= kSessions; id++) t.open(id, timeout(rng), now);
  EXPECT_TRUE(t.expired(now + 3999).empty());
  EXPECT_EQ(t.last_scan_visits(), 0u);
  // Buckets are bounded by the spread of deadlines over bucket_ms, not by the number of sessions.
  EXPECT_LE(t.bucket_count(), static_cast<size_t>((40'000 - 4000) / 10 + 2));

  // Clients keep pinging: deadlines move, still nothing due, still nothing walked.
  for (int round = 1; round <= 3; round++) {
    now += 2000;
    for (SessionId id = 1; id <= kSessions; id++) t.touch(*t.find(id), now);
    EXPECT_TRUE(t.expired(now + 3999).empty());
    EXPECT_EQ(t.last_scan_visits(), 0u);
  }

  // A handful go silent past their deadline: the poll visits exactly those.
  for (SessionId id = 1; id <= 5; id++) t.open(id, 100, now);
  EXPECT_EQ(t.expired(now + 100), ids({1, 2, 3, 4, 5}));
  EXPECT_EQ(t.last_scan_visits(), 5u);
}

}  // namespace
}  // namespace uk
