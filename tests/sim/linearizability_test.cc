// The linearizability checker (tests/sim/linearizability.cc): hand-built histories for each rule of the znode
// model and of unknown outcomes, then seeded random histories produced by a sequential execution.
#include "linearizability.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace uk::sim {
namespace {

using Verdict = CheckResult::Verdict;
constexpr std::optional<int64_t> kNoReply = std::nullopt;

HistoryOp create_op(int client, const std::string& path, const std::string& data, int64_t invoke,
                    std::optional<int64_t> ret, Err err = Err::kOk) {
  HistoryOp op;
  op.client = client;
  op.kind = OpKind::kCreate;
  op.path = path;
  op.data = data;
  op.invoke_time = invoke;
  op.return_time = ret;
  op.err = err;
  return op;
}

HistoryOp delete_op(int client, const std::string& path, int32_t version, int64_t invoke, std::optional<int64_t> ret,
                    Err err = Err::kOk) {
  HistoryOp op;
  op.client = client;
  op.kind = OpKind::kDelete;
  op.path = path;
  op.version = version;
  op.invoke_time = invoke;
  op.return_time = ret;
  op.err = err;
  return op;
}

// result_version: the new version reported when err is kOk.
HistoryOp set_op(int client, const std::string& path, const std::string& data, int32_t version, int64_t invoke,
                 std::optional<int64_t> ret, Err err, int32_t result_version = 0) {
  HistoryOp op;
  op.client = client;
  op.kind = OpKind::kSetData;
  op.path = path;
  op.data = data;
  op.version = version;
  op.invoke_time = invoke;
  op.return_time = ret;
  op.err = err;
  op.result_version = result_version;
  return op;
}

HistoryOp get_op(int client, const std::string& path, int64_t invoke, std::optional<int64_t> ret, Err err,
                 const std::string& data = "", int32_t version = 0) {
  HistoryOp op;
  op.client = client;
  op.kind = OpKind::kGetData;
  op.path = path;
  op.invoke_time = invoke;
  op.return_time = ret;
  op.err = err;
  op.result_data = data;
  op.result_version = version;
  return op;
}

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kLinearizable: return "linearizable";
    case Verdict::kViolation: return "violation";
    case Verdict::kInconclusive: return "inconclusive";
  }
  return "?";
}

// Checks and compares the verdict; on a mismatch prints the checker's explanation.
void expect_verdict(const std::vector<HistoryOp>& h, Verdict want, uint64_t max_steps = 10'000'000) {
  const CheckResult r = check_linearizable(h, max_steps);
  EXPECT_EQ(verdict_name(r.verdict), std::string(verdict_name(want))) << r.explanation;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------------------------------------------------------
// Sequential histories.

std::vector<HistoryOp> sequential_history() {
  return {
      create_op(1, "/a", "x", 1, 2),
      get_op(2, "/a", 3, 4, Err::kOk, "x", 0),
      set_op(1, "/a", "y", -1, 5, 6, Err::kOk, 1),
      get_op(2, "/a", 7, 8, Err::kOk, "y", 1),
      set_op(2, "/a", "z", 1, 9, 10, Err::kOk, 2),
      set_op(1, "/a", "q", 1, 11, 12, Err::kBadVersion),
      create_op(3, "/a", "dup", 13, 14, Err::kNodeExists),
      delete_op(1, "/a", 1, 15, 16, Err::kBadVersion),
      delete_op(1, "/a", 2, 17, 18),
      get_op(2, "/a", 19, 20, Err::kNoNode),
      delete_op(3, "/a", -1, 21, 22, Err::kNoNode),
      set_op(3, "/a", "r", -1, 23, 24, Err::kNoNode),
  };
}

TEST(Linearizability, EmptyHistoryIsLinearizable) { expect_verdict({}, Verdict::kLinearizable); }

TEST(Linearizability, SequentialValidHistory) { expect_verdict(sequential_history(), Verdict::kLinearizable); }

TEST(Linearizability, SequentialHistoryWithAnyWrongResultIsAViolation) {
  // Each mutation breaks exactly one result of the valid sequential history.
  struct Mutation {
    const char* what;
    size_t index;
    void (*apply)(HistoryOp&);
  };
  const Mutation mutations[] = {
      {"create of a missing node reports NODEEXISTS", 0, [](HistoryOp& o) { o.err = Err::kNodeExists; }},
      {"read sees a value never written", 1, [](HistoryOp& o) { o.result_data = "nope"; }},
      {"read reports the wrong version", 1, [](HistoryOp& o) { o.result_version = 1; }},
      {"setData reports the wrong new version", 2, [](HistoryOp& o) { o.result_version = 2; }},
      {"read after setData sees the old value", 3, [](HistoryOp& o) { o.result_data = "x"; }},
      {"conditional setData with the right version fails", 4, [](HistoryOp& o) { o.err = Err::kBadVersion; }},
      {"conditional setData with a stale version succeeds", 5,
       [](HistoryOp& o) {
         o.err = Err::kOk;
         o.result_version = 3;
       }},
      {"second create succeeds", 6, [](HistoryOp& o) { o.err = Err::kOk; }},
      {"delete with a stale version succeeds", 7, [](HistoryOp& o) { o.err = Err::kOk; }},
      {"read of a deleted node succeeds", 9,
       [](HistoryOp& o) {
         o.err = Err::kOk;
         o.result_data = "z";
         o.result_version = 2;
       }},
      {"delete of a missing node succeeds", 10, [](HistoryOp& o) { o.err = Err::kOk; }},
      {"setData of a missing node reports BADVERSION", 11, [](HistoryOp& o) { o.err = Err::kBadVersion; }},
  };
  for (const Mutation& m : mutations) {
    SCOPED_TRACE(m.what);
    std::vector<HistoryOp> h = sequential_history();
    m.apply(h.at(m.index));
    expect_verdict(h, Verdict::kViolation);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Concurrency and real-time order.

TEST(Linearizability, OverlappingWritesMayTakeEffectInEitherOrder) {
  // Two unconditional writes overlap; their reported versions say which went first, and the later read must agree.
  const auto history = [](int32_t a_version, int32_t b_version, const std::string& read_data, int32_t read_version) {
    return std::vector<HistoryOp>{
        create_op(1, "/a", "x", 1, 2),
        set_op(1, "/a", "a", -1, 10, 30, Err::kOk, a_version),
        set_op(2, "/a", "b", -1, 15, 25, Err::kOk, b_version),
        get_op(3, "/a", 12, 28, Err::kOk, "x", 0),  // overlaps both writes: may see neither
        get_op(3, "/a", 40, 41, Err::kOk, read_data, read_version),
    };
  };
  expect_verdict(history(1, 2, "b", 2), Verdict::kLinearizable);  // a then b
  expect_verdict(history(2, 1, "a", 2), Verdict::kLinearizable);  // b then a
  expect_verdict(history(1, 2, "a", 2), Verdict::kViolation);     // a went first, so b is the last value
  expect_verdict(history(1, 1, "b", 1), Verdict::kViolation);     // both cannot be the first write
}

TEST(Linearizability, StaleReadAfterACompletedWriteIsAViolation) {
  const auto history = [](int64_t read_invoke) {
    return std::vector<HistoryOp>{
        create_op(1, "/a", "x", 1, 2),
        set_op(1, "/a", "y", -1, 10, 20, Err::kOk, 1),
        get_op(2, "/a", read_invoke, 40, Err::kOk, "x", 0),
    };
  };
  expect_verdict(history(15), Verdict::kLinearizable);  // the read overlaps the write: the old value is fine
  expect_verdict(history(30), Verdict::kViolation);     // invoked after the write returned
}

TEST(Linearizability, LostAcknowledgedWriteIsAViolationUnlessAnOverlappingWriteExplainsIt) {
  std::vector<HistoryOp> h = {
      create_op(1, "/a", "x", 1, 2),
      set_op(1, "/a", "y", -1, 10, 20, Err::kOk, 1),
      get_op(2, "/a", 30, 35, Err::kOk, "x", 0),
      get_op(2, "/a", 50, 55, Err::kOk, "x", 0),
  };
  expect_verdict(h, Verdict::kViolation);
  // A delete and a re-create with the old value, both overlapping the write's return, explain the reads: the
  // write was applied first, then overwritten.
  h.push_back(delete_op(3, "/a", -1, 5, 25));
  h.push_back(create_op(3, "/a", "x", 26, 29));
  expect_verdict(h, Verdict::kLinearizable);
  // But not if the delete only accepted version 0: the acknowledged write made it version 1 first.
  h[4].version = 0;
  expect_verdict(h, Verdict::kViolation);
}

TEST(Linearizability, ReadYourWriteAcrossClients) {
  const auto history = [](const std::string& last_read) {
    return std::vector<HistoryOp>{
        create_op(1, "/a", "x", 1, 2),
        set_op(1, "/a", "y", -1, 10, 30, Err::kOk, 1),
        get_op(3, "/a", 12, 18, Err::kOk, "x", 0),  // overlaps the write: old value allowed
        get_op(2, "/a", 15, 20, Err::kOk, "y", 1),  // overlaps the write: new value allowed, so it applied by 20
        // Client 3 reads after client 2's read returned (but still during the write): must see the new value.
        get_op(3, "/a", 22, 25, Err::kOk, last_read, last_read == "y" ? 1 : 0),
    };
  };
  expect_verdict(history("y"), Verdict::kLinearizable);
  expect_verdict(history("x"), Verdict::kViolation);
}

TEST(Linearizability, OpsMeetingAtOneTickOverlap) {
  const auto history = [](int64_t read_invoke) {
    return std::vector<HistoryOp>{
        create_op(1, "/a", "x", 1, 2),
        set_op(1, "/a", "y", -1, 5, 10, Err::kOk, 1),
        get_op(2, "/a", read_invoke, 12, Err::kOk, "x", 0),
    };
  };
  expect_verdict(history(10), Verdict::kLinearizable);  // invoked at the write's return tick: order unknown
  expect_verdict(history(11), Verdict::kViolation);
}

// ---------------------------------------------------------------------------------------------------------------
// Versions.

TEST(Linearizability, BadVersionOnlyExplainedByOneOrder) {
  // b's BADVERSION needs a to be applied before b, that is by t=30; so the read at [35, 40] must see a's value.
  const auto history = [](const std::string& read_data, int32_t read_version) {
    return std::vector<HistoryOp>{
        create_op(1, "/a", "init", 1, 2),
        set_op(1, "/a", "a", -1, 10, 50, Err::kOk, 1),
        set_op(2, "/a", "b", 0, 20, 30, Err::kBadVersion),
        get_op(3, "/a", 35, 40, Err::kOk, read_data, read_version),
    };
  };
  expect_verdict(history("a", 1), Verdict::kLinearizable);
  expect_verdict(history("init", 0), Verdict::kViolation);
}

TEST(Linearizability, ConcurrentConditionalWritesOnlyOneWins) {
  const auto history = [](Err second) {
    return std::vector<HistoryOp>{
        create_op(1, "/a", "init", 1, 2),
        set_op(1, "/a", "a", 0, 10, 30, Err::kOk, 1),
        set_op(2, "/a", "b", 0, 12, 28, second, second == Err::kOk ? 1 : 0),
    };
  };
  expect_verdict(history(Err::kBadVersion), Verdict::kLinearizable);
  expect_verdict(history(Err::kOk), Verdict::kViolation);
}

TEST(Linearizability, DeleteAndRecreateResetsTheVersion) {
  const auto history = [](int32_t read_version, Err set_after_recreate) {
    return std::vector<HistoryOp>{
        create_op(1, "/a", "a", 1, 2),
        set_op(1, "/a", "b", -1, 3, 4, Err::kOk, 1),
        set_op(1, "/a", "c", -1, 5, 6, Err::kOk, 2),
        delete_op(2, "/a", 2, 7, 8),
        create_op(2, "/a", "d", 9, 10),
        get_op(3, "/a", 11, 12, Err::kOk, "d", read_version),
        set_op(3, "/a", "e", 0, 13, 14, set_after_recreate, set_after_recreate == Err::kOk ? 1 : 0),
    };
  };
  expect_verdict(history(0, Err::kOk), Verdict::kLinearizable);
  expect_verdict(history(2, Err::kOk), Verdict::kViolation);           // the version carried over
  expect_verdict(history(0, Err::kBadVersion), Verdict::kViolation);  // version 0 is current again
}

// ---------------------------------------------------------------------------------------------------------------
// Unknown outcomes.

TEST(Linearizability, UnknownWriteMustBeAssumedAppliedToExplainARead) {
  std::vector<HistoryOp> h = {
      create_op(1, "/a", "x", 1, 2),
      set_op(1, "/a", "y", -1, 10, kNoReply, Err::kOk),
      get_op(2, "/a", 20, 21, Err::kOk, "y", 1),
      get_op(2, "/a", 30, 31, Err::kOk, "y", 1),
  };
  expect_verdict(h, Verdict::kLinearizable);
  // Without the unknown write nothing explains the reads.
  std::vector<HistoryOp> without = {h[0], h[2], h[3]};
  expect_verdict(without, Verdict::kViolation);
  // It cannot take effect before it was invoked.
  h[1].invoke_time = 25;
  expect_verdict(h, Verdict::kViolation);
  // Nor twice.
  h[1].invoke_time = 10;
  h[3].result_version = 2;
  expect_verdict(h, Verdict::kViolation);
}

TEST(Linearizability, UnknownWriteMustBeAssumedNotAppliedOrAppliedLate) {
  // The unknown setData would bump the version; the conditional write at [40, 41] needs version 0, so the unknown
  // write cannot have applied before it. It may still apply after (a lost reply says nothing about later).
  const auto history = [](const std::string& last_data, int32_t last_version) {
    return std::vector<HistoryOp>{
        create_op(1, "/a", "x", 1, 2),
        set_op(1, "/a", "z", -1, 10, kNoReply, Err::kOk),
        get_op(2, "/a", 20, 21, Err::kOk, "x", 0),
        set_op(2, "/a", "w", 0, 40, 41, Err::kOk, 1),
        get_op(2, "/a", 50, 51, Err::kOk, "w", 1),
        get_op(2, "/a", 60, 61, Err::kOk, last_data, last_version),
    };
  };
  expect_verdict(history("w", 1), Verdict::kLinearizable);  // never applied
  expect_verdict(history("z", 2), Verdict::kLinearizable);  // applied after t=51
  expect_verdict(history("z", 1), Verdict::kViolation);     // would need it applied before w
}

TEST(Linearizability, UnknownDeleteThatWouldContradictLaterReadsIsNotApplied) {
  std::vector<HistoryOp> h = {
      create_op(1, "/a", "x", 1, 2),
      delete_op(1, "/a", -1, 10, kNoReply),
      get_op(2, "/a", 20, 21, Err::kOk, "x", 0),
      get_op(2, "/a", 30, 31, Err::kNoNode),
      get_op(2, "/a", 40, 41, Err::kNoNode),
  };
  expect_verdict(h, Verdict::kLinearizable);  // applied between 21 and 30
  h.push_back(get_op(2, "/a", 50, 51, Err::kOk, "x", 0));
  expect_verdict(h, Verdict::kViolation);  // the node came back with nothing to re-create it
}

TEST(Linearizability, ConnectionLossIsTreatedAsUnknownOutcome) {
  const auto history = [](Err write_err, const std::string& first_read, int32_t first_version) {
    return std::vector<HistoryOp>{
        create_op(1, "/a", "x", 1, 2),
        set_op(1, "/a", "y", -1, 10, 20, write_err),
        get_op(2, "/a", 30, 31, Err::kOk, first_read, first_version),
        get_op(2, "/a", 40, 41, Err::kOk, "y", 1),
    };
  };
  // Applied before its reply, or after it (still in flight when the connection dropped).
  expect_verdict(history(Err::kConnectionLoss, "y", 1), Verdict::kLinearizable);
  expect_verdict(history(Err::kConnectionLoss, "x", 0), Verdict::kLinearizable);
  expect_verdict(history(Err::kOperationTimeout, "x", 0), Verdict::kLinearizable);
  // A definite failure has no effect, so the same reads are a violation.
  expect_verdict(history(Err::kNoNode, "y", 1), Verdict::kViolation);
  // A read that lost its connection observed nothing: its garbage result is ignored.
  std::vector<HistoryOp> h = history(Err::kConnectionLoss, "y", 1);
  h.push_back(get_op(3, "/a", 50, 51, Err::kConnectionLoss, "garbage", 7));
  h.push_back(get_op(3, "/a", 52, kNoReply, Err::kOk, "garbage", 8));
  expect_verdict(h, Verdict::kLinearizable);
}

// ---------------------------------------------------------------------------------------------------------------
// Paths and the report.

TEST(Linearizability, PathsAreCheckedIndependentlyAndTheViolatingPathIsReported) {
  std::vector<HistoryOp> h = {
      create_op(1, "/a", "a0", 1, 2),
      create_op(2, "/b", "b0", 1, 3),
      set_op(1, "/a", "a1", -1, 10, 20, Err::kOk, 1),
      set_op(2, "/b", "b1", -1, 11, 21, Err::kOk, 1),
      get_op(3, "/a", 30, 31, Err::kOk, "a1", 1),
      get_op(3, "/b", 32, 33, Err::kOk, "b1", 1),
      get_op(4, "/c", 5, 6, Err::kNoNode),
  };
  expect_verdict(h, Verdict::kLinearizable);
  h[5].result_data = "b0";  // stale read on /b only
  h[5].result_version = 0;
  const CheckResult r = check_linearizable(h);
  ASSERT_EQ(r.verdict, Verdict::kViolation) << r.explanation;
  EXPECT_TRUE(contains(r.explanation, "path \"/b\"")) << r.explanation;
  EXPECT_TRUE(contains(r.explanation, "b1")) << r.explanation;
  EXPECT_FALSE(contains(r.explanation, "/a")) << r.explanation;
  EXPECT_FALSE(contains(r.explanation, "/c")) << r.explanation;
}

TEST(Linearizability, ExplanationMarksTheShortestFailingPrefix) {
  const std::vector<HistoryOp> h = {
      create_op(1, "/a", "x", 1, 2),
      set_op(1, "/a", "y", -1, 10, 20, Err::kOk, 1),
      get_op(2, "/a", 30, 40, Err::kOk, "x", 0),  // the stale read: fails once it returns at 40
      set_op(3, "/a", "z", -1, 35, 50, Err::kOk, 2),
      get_op(2, "/a", 60, 70, Err::kOk, "z", 2),
  };
  const CheckResult r = check_linearizable(h);
  ASSERT_EQ(r.verdict, Verdict::kViolation) << r.explanation;
  EXPECT_TRUE(contains(r.explanation, "ends at t=40")) << r.explanation;
  EXPECT_TRUE(contains(r.explanation, "  | #0 " + describe(h[0]))) << r.explanation;
  EXPECT_TRUE(contains(r.explanation, "  | #1 " + describe(h[1]))) << r.explanation;
  EXPECT_TRUE(contains(r.explanation, "  > #2 " + describe(h[2]))) << r.explanation;
  EXPECT_TRUE(contains(r.explanation, "  : #3 " + describe(h[3]))) << r.explanation;  // running at t=40
  EXPECT_TRUE(contains(r.explanation, "    #4 " + describe(h[4]))) << r.explanation;  // after the prefix
}

TEST(Linearizability, DescribeNamesEveryField) {
  EXPECT_EQ(describe(set_op(3, "/a", "v\n", 2, 10, 25, Err::kOk, 3)),
            "client 3 setData /a data=\"v\\x0a\" version=2 [10, 25] -> OK version=3");
  EXPECT_EQ(describe(get_op(1, "/b", 5, 6, Err::kOk, "d", 4)), "client 1 getData /b [5, 6] -> OK data=\"d\" version=4");
  EXPECT_EQ(describe(delete_op(2, "/c", -1, 7, kNoReply)),
            "client 2 delete /c version=-1 [7, ?] -> no reply (outcome unknown)");
  EXPECT_EQ(describe(create_op(4, "/d", "x", 1, 9, Err::kConnectionLoss)),
            "client 4 create /d data=\"x\" [1, 9] -> CONNECTIONLOSS (outcome unknown)");
  EXPECT_EQ(describe(get_op(5, "/e", 1, 2, Err::kNoNode)), "client 5 getData /e [1, 2] -> NONODE");
}

TEST(LinearizabilityDeathTest, ReturnBeforeInvokeIsACallerBug) {
  const std::vector<HistoryOp> h = {create_op(1, "/a", "x", 5, 5)};
  EXPECT_DEATH(check_linearizable(h), "returned before it was invoked");
}

// ---------------------------------------------------------------------------------------------------------------
// Seeded random histories from a sequential execution.

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {  // splitmix64: the same sequence on every platform and standard library
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  int64_t below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }
  bool percent(int p) { return below(100) < p; }

 private:
  uint64_t state_;
};

struct RandomHistoryOptions {
  int ops = 3000;
  int paths = 10;
  int clients = 8;
  int64_t max_latency_ticks = 20;  // invoked up to this long before its effect, returns up to this long after
  int unknown_percent = 3;         // writes and reads whose reply is lost or is CONNECTIONLOSS
};

// Runs random ops against a sequential model, each taking effect at a distinct tick, and wraps each effect in a
// random interval from its client's point of view. Every value written is unique. Linearizable by construction:
// the effect ticks are a valid order. Unknown-outcome writes are applied at their tick or not at all (a coin).
std::vector<HistoryOp> random_valid_history(uint64_t seed, const RandomHistoryOptions& o) {
  struct Node {
    bool exists = false;
    std::string data;
    int32_t version = 0;
  };
  Rng rng(seed);
  std::vector<Node> nodes(static_cast<size_t>(o.paths));
  std::vector<int64_t> busy_until(static_cast<size_t>(o.clients), 0);
  std::vector<HistoryOp> h;
  int64_t now = 0;
  int written = 0;
  while (h.size() < static_cast<size_t>(o.ops)) {
    now += 1 + rng.below(3);
    const int client = static_cast<int>(rng.below(o.clients));
    if (busy_until[static_cast<size_t>(client)] >= now) continue;  // a client runs one op at a time
    const int64_t path_index = rng.below(o.paths);
    Node& n = nodes[static_cast<size_t>(path_index)];
    HistoryOp op;
    op.client = client;
    op.path = "/p" + std::to_string(path_index);
    op.invoke_time = std::max(busy_until[static_cast<size_t>(client)] + 1, now - rng.below(o.max_latency_ticks));
    op.return_time = now + 1 + rng.below(o.max_latency_ticks);
    busy_until[static_cast<size_t>(client)] = *op.return_time;

    const int64_t k = rng.below(100);
    op.kind = k < 40 ? OpKind::kGetData : k < 65 ? OpKind::kSetData : k < 82 ? OpKind::kCreate : OpKind::kDelete;
    op.data = "w" + std::to_string(written++);
    if (rng.percent(50)) op.version = n.version + static_cast<int32_t>(rng.below(4) == 0);
    const bool version_ok = op.version == -1 || op.version == n.version;
    const bool unknown = rng.percent(o.unknown_percent);
    const bool apply = !unknown || rng.percent(50);

    Err e = Err::kOk;
    switch (op.kind) {
      case OpKind::kCreate:
        if (n.exists) e = Err::kNodeExists;
        else if (apply) n = Node{true, op.data, 0};
        break;
      case OpKind::kDelete:
        if (!n.exists) e = Err::kNoNode;
        else if (!version_ok) e = Err::kBadVersion;
        else if (apply) n = Node{};
        break;
      case OpKind::kSetData:
        if (!n.exists) e = Err::kNoNode;
        else if (!version_ok) e = Err::kBadVersion;
        else if (apply) n = Node{true, op.data, n.version + 1};
        op.result_version = n.version;
        break;
      case OpKind::kGetData:
        if (!n.exists) e = Err::kNoNode;
        op.result_data = n.data;
        op.result_version = n.version;
        break;
    }
    op.err = e;
    if (unknown) {
      if (rng.percent(50)) op.return_time = std::nullopt;
      else op.err = Err::kConnectionLoss;
    }
    h.push_back(op);
  }
  return h;
}

// Index of the n-th (mod count) getData that returned OK.
size_t pick_ok_read(const std::vector<HistoryOp>& h, uint64_t n) {
  std::vector<size_t> reads;
  for (size_t i = 0; i < h.size(); ++i) {
    if (h[i].kind == OpKind::kGetData && h[i].return_time && h[i].err == Err::kOk) reads.push_back(i);
  }
  EXPECT_FALSE(reads.empty());
  return reads.at(n % reads.size());
}

// A reference checker with none of the checker's machinery (no per-path split, no event lists, no lazy rule, no
// classes, no dominance): try every order of every subset of the ops that respects real time, memoized on (placed
// ops, whole store). Only for tiny histories.
class BruteForce {
 public:
  explicit BruteForce(const std::vector<HistoryOp>& h) : h_(h) {}

  bool linearizable() { return search(0, {}); }

 private:
  struct Node {
    bool exists = false;
    std::string data;
    int32_t version = 0;
  };
  using Store = std::map<std::string, Node>;

  static bool definite(const HistoryOp& op) {
    return op.return_time && (op.err == Err::kOk || op.err == Err::kNoNode || op.err == Err::kNodeExists ||
                              op.err == Err::kBadVersion);
  }

  // Runs op on the store; false if it is definite and the result differs.
  static bool step(const HistoryOp& op, Store& store) {
    Node& n = store[op.path];
    const bool version_ok = op.version == -1 || op.version == n.version;
    Err e = Err::kOk;
    Node before = n;
    if (op.kind == OpKind::kCreate) {
      if (n.exists) e = Err::kNodeExists;
      else n = Node{true, op.data, 0};
    } else if (op.kind == OpKind::kDelete) {
      if (!n.exists) e = Err::kNoNode;
      else if (!version_ok) e = Err::kBadVersion;
      else n = Node{};
    } else if (op.kind == OpKind::kSetData) {
      if (!n.exists) e = Err::kNoNode;
      else if (!version_ok) e = Err::kBadVersion;
      else n = Node{true, op.data, n.version + 1};
    } else if (!n.exists) {
      e = Err::kNoNode;
    }
    if (!definite(op)) return true;
    if (e != op.err) return false;
    if (e != Err::kOk) return true;
    if (op.kind == OpKind::kSetData) return op.result_version == n.version;
    if (op.kind == OpKind::kGetData) return op.result_data == before.data && op.result_version == before.version;
    return true;
  }

  std::string key(uint32_t placed, const Store& store) const {
    std::string k = std::to_string(placed);
    for (const auto& [path, n] : store) {
      if (n.exists) k += "|" + path + "=" + n.data + "@" + std::to_string(n.version);
    }
    return k;
  }

  bool search(uint32_t placed, const Store& store) {
    bool all_definite_placed = true;
    for (size_t i = 0; i < h_.size(); ++i) {
      if (!(placed >> i & 1) && definite(h_[i])) all_definite_placed = false;
    }
    if (all_definite_placed) return true;
    if (!seen_.insert(key(placed, store)).second) return false;
    for (size_t x = 0; x < h_.size(); ++x) {
      if (placed >> x & 1) continue;
      if (h_[x].kind == OpKind::kGetData && !definite(h_[x])) continue;  // observed nothing
      bool may_go_next = true;  // no unplaced definite op returned before x was invoked
      for (size_t y = 0; y < h_.size(); ++y) {
        if (y != x && !(placed >> y & 1) && definite(h_[y]) && *h_[y].return_time < h_[x].invoke_time) {
          may_go_next = false;
        }
      }
      if (!may_go_next) continue;
      Store next = store;
      if (step(h_[x], next) && search(placed | (1u << x), next)) return true;
    }
    return false;
  }

  const std::vector<HistoryOp>& h_;
  std::set<std::string> seen_;
};

// A tiny history: ops take effect at random points inside their intervals (so most are linearizable), values
// repeat, some outcomes are unknown, and about half the histories get one result changed at random.
std::vector<HistoryOp> tiny_random_history(Rng& rng) {
  const int n = 1 + static_cast<int>(rng.below(8));
  const char* const values[] = {"a", "b"};
  std::vector<HistoryOp> h;
  std::vector<int64_t> effect;
  for (int i = 0; i < n; ++i) {
    HistoryOp op;
    op.client = i;
    op.kind = static_cast<OpKind>(rng.below(4));
    op.path = rng.percent(75) ? "/x" : "/y";
    op.data = values[rng.below(2)];
    op.version = static_cast<int32_t>(rng.below(4)) - 1;
    op.invoke_time = rng.below(20);
    op.return_time = op.invoke_time + 1 + rng.below(10);
    effect.push_back(op.invoke_time * 2 + rng.below((*op.return_time - op.invoke_time) * 2 + 1));
    h.push_back(op);
  }
  // Run the ops in effect order on a sequential store to fill in their results.
  std::vector<size_t> order(h.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return effect[a] < effect[b]; });
  std::map<std::string, std::optional<std::pair<std::string, int32_t>>> store;
  for (const size_t i : order) {
    HistoryOp& op = h[i];
    auto& node = store[op.path];
    const bool version_ok = op.version == -1 || (node && op.version == node->second);
    const bool unknown = rng.percent(20);
    const bool apply = !unknown || rng.percent(50);
    op.err = Err::kOk;
    if (op.kind == OpKind::kCreate) {
      if (node) op.err = Err::kNodeExists;
      else if (apply) node = std::make_pair(op.data, 0);
    } else if (op.kind == OpKind::kDelete) {
      if (!node) op.err = Err::kNoNode;
      else if (!version_ok) op.err = Err::kBadVersion;
      else if (apply) node.reset();
    } else if (op.kind == OpKind::kSetData) {
      if (!node) op.err = Err::kNoNode;
      else if (!version_ok) op.err = Err::kBadVersion;
      else if (apply) node = std::make_pair(op.data, node->second + 1);
      op.result_version = node ? node->second : 0;
    } else if (!node) {
      op.err = Err::kNoNode;
    } else {
      op.result_data = node->first;
      op.result_version = node->second;
    }
    if (unknown) {
      const int64_t how = rng.below(3);
      if (how == 0) op.return_time = std::nullopt;
      else op.err = how == 1 ? Err::kConnectionLoss : Err::kOperationTimeout;
    }
  }
  if (rng.percent(50)) {
    HistoryOp& op = h[static_cast<size_t>(rng.below(n))];
    const int64_t what = rng.below(4);
    const Err results[] = {Err::kOk, Err::kNoNode, Err::kNodeExists, Err::kBadVersion};
    if (what == 0) op.err = results[rng.below(4)];
    else if (what == 1) op.result_version = static_cast<int32_t>(rng.below(3));
    else if (what == 2) op.result_data = values[rng.below(2)];
    else op.invoke_time = std::max<int64_t>(0, op.invoke_time - 1 - rng.below(5));
  }
  return h;
}

TEST(Linearizability, AgreesWithBruteForceOnTinyRandomHistories) {
  Rng rng(2024);
  int violations = 0;
  for (int iteration = 0; iteration < 30000; ++iteration) {
    const std::vector<HistoryOp> h = tiny_random_history(rng);
    const bool expected = BruteForce(h).linearizable();
    const CheckResult r = check_linearizable(h);
    ASSERT_NE(r.verdict, Verdict::kInconclusive);
    if (r.verdict == Verdict::kViolation) ++violations;
    if ((r.verdict == Verdict::kLinearizable) != expected) {
      std::string dump;
      for (const HistoryOp& op : h) dump += "  " + describe(op) + "\n";
      FAIL() << "iteration " << iteration << ": brute force says " << (expected ? "linearizable" : "violation")
             << ", the checker says " << verdict_name(r.verdict) << "\n" << dump << r.explanation;
    }
  }
  // Both answers must be well represented, or the comparison proves little.
  EXPECT_GT(violations, 2000);
  EXPECT_LT(violations, 27000);
}

TEST(Linearizability, LargeRandomValidHistoryIsLinearizable) {
  const std::vector<HistoryOp> h = random_valid_history(42, RandomHistoryOptions{});
  expect_verdict(h, Verdict::kLinearizable);
}

TEST(Linearizability, LargeRandomHistoryWithOneCorruptedReadIsAViolation) {
  const std::vector<HistoryOp> valid = random_valid_history(42, RandomHistoryOptions{});
  for (const uint64_t pick : {7u, 400u, 901u}) {
    SCOPED_TRACE("corrupted read pick " + std::to_string(pick));
    std::vector<HistoryOp> h = valid;
    const size_t i = pick_ok_read(h, pick);
    // Every value is written once, so a value never written, or a written one with another version, never existed.
    if (pick % 2 == 0) h[i].result_data = "corrupt";
    else h[i].result_version += 1;
    const CheckResult r = check_linearizable(h);
    ASSERT_EQ(r.verdict, Verdict::kViolation) << "corrupted: " << describe(h[i]);
    EXPECT_TRUE(contains(r.explanation, "path \"" + h[i].path + "\"")) << r.explanation.substr(0, 500);
    EXPECT_TRUE(contains(r.explanation, "> #")) << r.explanation.substr(0, 500);
  }
}

TEST(Linearizability, ManySeedsAndShapesOfRandomValidHistories) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    RandomHistoryOptions o;
    o.ops = 400;
    o.paths = 1 + static_cast<int>(seed % 4);  // a few paths: many ops overlap on each
    o.max_latency_ticks = 5 + static_cast<int64_t>(seed % 3) * 15;
    o.unknown_percent = static_cast<int>(seed % 3) * 5;
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::vector<HistoryOp> h = random_valid_history(seed, o);
    expect_verdict(h, Verdict::kLinearizable);
    h[pick_ok_read(h, seed * 31)].result_data = "corrupt";
    expect_verdict(h, Verdict::kViolation);
  }
}

TEST(Linearizability, SinglePathWithEightConcurrentClients) {
  RandomHistoryOptions o;
  o.ops = 2000;
  o.paths = 1;
  o.max_latency_ticks = 10;
  expect_verdict(random_valid_history(7, o), Verdict::kLinearizable);
}

TEST(Linearizability, StepBudgetGivesInconclusive) {
  const std::vector<HistoryOp> valid = random_valid_history(42, RandomHistoryOptions{});
  const CheckResult r = check_linearizable(valid, 50);
  EXPECT_EQ(r.verdict, Verdict::kInconclusive) << r.explanation;
  EXPECT_TRUE(contains(r.explanation, "/p0")) << r.explanation;
  // Running out of budget on one path ("/a", checked first) does not hide a violation on another ("/b").
  std::vector<HistoryOp> h;
  for (int i = 0; i < 40; ++i) h.push_back(get_op(3, "/a", 2 * i + 1, 2 * i + 2, Err::kNoNode));
  EXPECT_EQ(check_linearizable(h, 30).verdict, Verdict::kInconclusive);
  EXPECT_EQ(check_linearizable(h).verdict, Verdict::kLinearizable);
  h.push_back(create_op(1, "/b", "x", 1, 2));
  h.push_back(set_op(1, "/b", "y", -1, 10, 20, Err::kOk, 1));
  h.push_back(get_op(2, "/b", 30, 40, Err::kOk, "x", 0));
  const CheckResult mixed = check_linearizable(h, 30);
  EXPECT_EQ(mixed.verdict, Verdict::kViolation) << mixed.explanation;
  EXPECT_TRUE(contains(mixed.explanation, "path \"/b\"")) << mixed.explanation;
}

}  // namespace
}  // namespace uk::sim
