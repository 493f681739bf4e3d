// Linearizability checker for the client histories the deterministic cluster simulator records.
//
// What it decides: whether the completed and pending znode operations in a history can be put in one total order
// that (a) respects real time (an op that returned before another was invoked comes first), (b) places every op
// between its invocation and its return, and (c) gives every op the result it reported when run against a
// sequential model of the znode store (ZooKeeper's create/delete/setData/getData semantics, zookeeper-protocol.md).
//
// The model: each path is an independent register holding "absent" or (data, version). No parent/child relations:
// create never fails with NONODE for a missing parent and delete never fails with NOTEMPTY. Initially every path
// is absent. A node deleted and created again starts at version 0.
//
// Outcomes:
// - Definite: the op returned OK, NONODE, NODEEXISTS or BADVERSION. It must be linearized inside its interval and
//   the model must give exactly that result (and for getData the data and version, for setData the new version).
// - Unknown: a write with no return, or one that returned any other code (CONNECTIONLOSS, OPERATIONTIMEOUT, ...):
//   such a reply does not say whether the write was applied, nor whether it will still be applied later. It either
//   never took effect or took effect once, at any point after its invocation (even after its reply), with
//   whatever result the model gives there. Reads with no return or with such a code are dropped: they observed
//   nothing and changed nothing.
// - Time ties: an op invoked at the same tick another op returned counts as concurrent with it. With tick-grained
//   timestamps the order inside a tick is unknown, so this is the choice that never reports a false violation.
//
// Algorithm:
// 1. P-compositionality (Herlihy & Wing): linearizability is local, every op touches exactly one path, and paths do
//    not interact in this model, so the history is split by path and each part is checked on its own.
// 2. Per path, the Wing & Gong depth-first search with Lowe's just-in-time linearization ("Testing for
//    linearizability", 2017), the scheme Porcupine uses: the ops are a doubly linked list of call and return
//    events ordered by time; the candidates to linearize next are the calls that come before the first return
//    still in the list (an op whose return has been passed can no longer be linearized later). A candidate whose
//    model result matches is linearized (its call and return are unlinked, a frame is pushed); reaching a return
//    event means the op it belongs to cannot be placed, so the search backtracks (relinks, pops).
// 3. Memoization: a search node reached before is not explored again, because what can follow depends on nothing
//    else. A node is (definite ops linearized, unknown-outcome writes applied, model state, and the state before
//    the last op if that op was an unknown-outcome write). The sets are one bitset; the hash is kept incrementally
//    (Zobrist: XOR of a random key per definite op) and combined with the state's. Entries are compared exactly,
//    not by hash alone: each stores the state and the bitset compactly (the words between the all-ones prefix and
//    the all-zero suffix), so a hash collision can never prune a branch. A node is also skipped when a visited
//    node is equal except for applying a subset of its unknown-outcome writes (dominance: those writes are
//    optional, so the visited node could do everything this one can).
// 4. Unknown-outcome writes are never required: the search succeeds once every definite op is linearized. Sound
//    and complete reductions keep them cheap (linearizability.cc argues each):
//    - they are tried only after every definite candidate at that point, and only if they change the state;
//    - lazy rule: right after one, a definite op may follow only if its result does not match without that write
//      (otherwise, for this model, the two commute and the other order is explored anyway), so a write is applied
//      only where something observes it at once;
//    - alike writes (same kind, value, expected version) are applied in invocation order only;
//    - all values that no definite read returned share one id, as no op can tell them apart.
// 5. On a violation the path's history is cut at each return time (ops invoked later dropped, ops still running
//    at the cut become unknown-outcome) and a binary search finds the earliest cut that already fails; the
//    explanation lists the path's ops in invocation order with that prefix marked.
//
// Limits:
// - The search is exponential in the worst case (checking linearizability is NP-complete). Memoization bounds it
//   by the number of distinct nodes: small when few ops overlap (roughly n * 2^c for c concurrent ops), but every
//   pending unknown-outcome write can stand in for a missing version bump or create/delete, and proving a
//   violation means exhausting all such explanations. A single hot path with thousands of ops, 8 clients always
//   overlapping on it and ~3% unknown outcomes can run out of budget on a violation. max_steps_per_path bounds
//   the work per path; running out gives kInconclusive, never a guess.
// - Memory: one cache entry per node kept: about 64 bytes (slots kept half empty, plus the arena words) and the
//   bitset window, usually a word or two.
// - Only the four operations above; exists/getChildren/multi/ephemerals/sequential nodes are not modelled, and
//   the lazy rule's case analysis must be redone if ops are added.
// - The violation report names the first failing prefix by time, not a minimal set of ops.
//
// Thread-safety: the functions are pure; concurrent calls on different histories are fine.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ukeeper/common/types.h"

namespace uk::sim {

enum class OpKind { kCreate, kDelete, kSetData, kGetData /* a sync followed by getData: must be linearizable */ };

struct HistoryOp {
  int client = 0;
  OpKind kind = OpKind::kGetData;
  std::string path;
  std::string data;         // create/setData: the value written
  int32_t version = -1;     // delete/setData: expected version, -1 = any
  int64_t invoke_time = 0;  // logical time (simulator ticks or a step counter); invoke < return
  // nullopt: outcome unknown (may have taken effect at any point after invoke, or never).
  std::optional<int64_t> return_time;
  // Result, when returned:
  Err err = Err::kOk;          // kOk, kNoNode, kNodeExists, kBadVersion (other codes: outcome unknown, see above)
  std::string result_data;     // getData
  int32_t result_version = 0;  // getData: stat.version; setData: the new stat.version
};

struct CheckResult {
  enum class Verdict { kLinearizable, kViolation, kInconclusive };
  Verdict verdict = Verdict::kLinearizable;
  // kViolation: the path, and that path's ops (client, kind, times, result) in invocation order with the shortest
  // failing prefix (by return time) marked. kInconclusive: the path whose search ran out of steps. Otherwise a
  // one-line summary.
  std::string explanation;
};

// Checks every path; the first violating path (in path order) decides. kInconclusive if no path fails but some
// path's search needed more than max_steps_per_path steps (one step = one event visited).
// Contract: every returned op has invoke_time < *return_time; a history breaking it is a simulator bug and aborts.
CheckResult check_linearizable(const std::vector<HistoryOp>& history, uint64_t max_steps_per_path = 10'000'000);

// One line: client, kind, path, arguments, [invoke, return], result.
std::string describe(const HistoryOp& op);

}  // namespace uk::sim
