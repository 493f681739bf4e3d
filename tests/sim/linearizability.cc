// The linearizability checker (see linearizability.h for the algorithm, the model and the limits).
//
// Layout of this file, bottom-up: the sequential model of one path; a path's history turned into model ops; the
// memo of visited search nodes; the depth-first search over one path; the violation report; the public entry
// points.
#include "linearizability.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>

namespace uk::sim {
namespace {

constexpr int64_t kTimeInfinity = std::numeric_limits<int64_t>::max();

[[noreturn]] void contract_broken(const char* what, const HistoryOp& op) {
  std::fprintf(stderr, "linearizability checker: %s: %s\n", what, describe(op).c_str());
  std::abort();
}

#define UK_LIN_ASSERT(cond)                                                                  \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "linearizability checker: %s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

// The results the model can produce. Any other reply code says nothing about whether the op took effect.
bool is_definite(Err e) {
  return e == Err::kOk || e == Err::kNoNode || e == Err::kNodeExists || e == Err::kBadVersion;
}

// splitmix64's finalizer: a cheap bijective mix, used for Zobrist keys and state hashes.
uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// ---------------------------------------------------------------------------------------------------------------
// The sequential model of one path.

constexpr int32_t kAbsentData = -1;

// Absent, or (interned data, version). Eight bytes, so a cache entry stores it in one word.
struct PathState {
  int32_t data_id = kAbsentData;
  int32_t version = 0;
  bool exists() const { return data_id != kAbsentData; }
  friend bool operator==(PathState, PathState) = default;
};

uint64_t pack(PathState s) {
  return (uint64_t{static_cast<uint32_t>(s.data_id)} << 32) | static_cast<uint32_t>(s.version);
}

// One op of one path as the search sees it: values interned, outcome classified.
struct ModelOp {
  OpKind kind = OpKind::kGetData;
  bool unknown = false;  // outcome unknown: applied once with whatever result the model gives, or never
  Err err = Err::kOk;    // definite ops: the reported result
  int32_t data_id = kAbsentData;         // create/setData: the value written
  int32_t expected_version = -1;         // delete/setData
  int32_t result_data_id = kAbsentData;  // getData that returned OK
  int32_t result_version = 0;            // getData/setData that returned OK
};

// Runs `op` on `s` and writes the state after it to `after`. Returns false if the op is definite and the model's
// result differs from the one reported; unknown-outcome ops accept any result.
bool model_step(const ModelOp& op, PathState s, PathState* after) {
  const bool version_ok = op.expected_version == -1 || op.expected_version == s.version;
  Err e = Err::kOk;
  PathState next = s;
  switch (op.kind) {
    case OpKind::kCreate:
      if (s.exists()) e = Err::kNodeExists;
      else next = PathState{op.data_id, 0};
      break;
    case OpKind::kDelete:
      if (!s.exists()) e = Err::kNoNode;
      else if (!version_ok) e = Err::kBadVersion;
      else next = PathState{};
      break;
    case OpKind::kSetData:
      if (!s.exists()) e = Err::kNoNode;
      else if (!version_ok) e = Err::kBadVersion;
      else next = PathState{op.data_id, s.version + 1};
      break;
    case OpKind::kGetData:
      if (!s.exists()) e = Err::kNoNode;
      break;
  }
  *after = next;
  if (op.unknown) return true;
  if (e != op.err) return false;
  if (e != Err::kOk) return true;
  if (op.kind == OpKind::kSetData) return next.version == op.result_version;
  if (op.kind == OpKind::kGetData) return s.data_id == op.result_data_id && s.version == op.result_version;
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// A path's history, cut at a time, as model ops.

// Ops of one path: definite ops first (indices [0, num_definite), by invocation), then the unknown-outcome writes
// (by invocation). Reads whose outcome is unknown are not here: they observed nothing and changed nothing.
//
// Two reductions that keep the search small without changing its answer:
// - Values no definite read returned all get one id (kUnreadValue): only a read compares data, so states that
//   differ only in such values behave the same from then on.
// - Unknown-outcome writes that are alike (same kind, value id and expected version) form a class; the search
//   applies a class's members only in invocation order (unknown_rank). Two alike writes both invoked by now are
//   interchangeable, and any linearization can swap which of them it uses where (the earlier one was invoked
//   first), so only one order needs exploring.
struct PathProblem {
  std::vector<ModelOp> ops;
  std::vector<int64_t> invoke_time;
  std::vector<int64_t> return_time;  // definite ops only
  size_t num_definite = 0;
  std::vector<int32_t> unknown_class;  // per op: its class, -1 for definite ops
  std::vector<int32_t> unknown_rank;   // per op: its place in its class by invocation
  size_t num_classes = 0;
};

constexpr int32_t kUnreadValue = 0;

// Ids for the values that definite reads returned, from 1; every other value is kUnreadValue.
class ValueIds {
 public:
  void add_read(const std::string& value) {
    ids_.try_emplace(value, static_cast<int32_t>(ids_.size() + 1));
    UK_LIN_ASSERT(ids_.size() < static_cast<size_t>(std::numeric_limits<int32_t>::max()));
  }
  int32_t id(const std::string& value) const {
    const auto it = ids_.find(value);
    return it == ids_.end() ? kUnreadValue : it->second;
  }

 private:
  std::unordered_map<std::string, int32_t> ids_;
};

// The history up to time `cutoff`: ops invoked later are dropped (an unknown-outcome write may always be taken
// as never applied, and a definite op cannot return before it was invoked), ops returned later count as
// outcome unknown. `ops` is in invocation order.
PathProblem build_problem(const std::vector<const HistoryOp*>& ops, int64_t cutoff) {
  const auto definite_by_cutoff = [cutoff](const HistoryOp& h) {
    return h.return_time.has_value() && *h.return_time <= cutoff && is_definite(h.err);
  };
  ValueIds values;
  for (const HistoryOp* h : ops) {
    if (h->invoke_time > cutoff) break;
    if (h->kind == OpKind::kGetData && definite_by_cutoff(*h) && h->err == Err::kOk) values.add_read(h->result_data);
  }
  std::vector<std::pair<ModelOp, const HistoryOp*>> definite, unknown;
  for (const HistoryOp* h : ops) {
    if (h->invoke_time > cutoff) break;
    ModelOp m;
    m.kind = h->kind;
    m.unknown = !definite_by_cutoff(*h);
    if (m.unknown && h->kind == OpKind::kGetData) continue;
    m.err = h->err;
    if (h->kind == OpKind::kCreate || h->kind == OpKind::kSetData) m.data_id = values.id(h->data);
    m.expected_version = h->version;
    if (!m.unknown && m.err == Err::kOk) {
      if (h->kind == OpKind::kGetData) m.result_data_id = values.id(h->result_data);
      m.result_version = h->result_version;
    }
    (m.unknown ? unknown : definite).emplace_back(m, h);
  }
  PathProblem p;
  p.num_definite = definite.size();
  std::map<std::tuple<OpKind, int32_t, int32_t>, std::pair<int32_t, int32_t>> classes;  // -> (class, members)
  for (const auto* part : {&definite, &unknown}) {
    for (const auto& [m, h] : *part) {
      p.ops.push_back(m);
      p.invoke_time.push_back(h->invoke_time);
      if (!m.unknown) {
        p.return_time.push_back(*h->return_time);
        p.unknown_class.push_back(-1);
        p.unknown_rank.push_back(-1);
        continue;
      }
      const auto key = std::make_tuple(m.kind, m.data_id, m.expected_version);
      const auto it = classes.try_emplace(key, static_cast<int32_t>(classes.size()), 0).first;
      p.unknown_class.push_back(it->second.first);
      p.unknown_rank.push_back(it->second.second++);
    }
  }
  p.num_classes = classes.size();
  UK_LIN_ASSERT(p.ops.size() < (size_t{1} << 31));
  return p;
}

// ---------------------------------------------------------------------------------------------------------------
// The memo: every search node entered, with dominance for unknown-outcome writes.
//
// A search node is (D, s, U, c): definite ops D and unknown-outcome writes U linearized, model state s, and the
// context c the lazy rule needs (PathSearch): the state before the last op if that op was an unknown write, or
// kNoContext after a definite op. What can follow a node depends on nothing else.
// The sets are one bitset of op indices: words [0, definite_words) for the definite ops, then [definite_words,
// total) for the unknown-outcome writes. A node (D, s, U, c) is dominated by a visited (D, s, U', c') with U' a
// subset of U and c' equal to c or kNoContext: everything that can follow the first can follow the second (unknown
// writes are optional and have no return event, so they do not change which ops are candidates; kNoContext allows
// every definite op next). So an entry matches when its state and definite part are equal, its context allows,
// and its unknown part is a subset.
//
// Entries hold the bitset exactly, never just its hash, so a collision cannot prune a branch; but compactly:
// per region, only the words between the all-ones prefix and the all-zero suffix (the search linearizes roughly in
// time order, so that window is usually a word or two). Arena layout of one entry: the packed state, the packed
// context, then per region a header word (first stored word index | stored word count << 32) and the stored words.
// Slots are open-addressed with linear probing, kept at most half full; the hash covers (D, s) only, so entries
// that differ only in U or c share a hash and sit in one probe run.
constexpr PathState kNoContext{-2, 0};  // no real state has data id -2

class VisitedSet {
 public:
  VisitedSet(size_t definite_words, size_t total_words)
      : definite_words_(definite_words), total_words_(total_words), slots_(1024) {}

  // Adds the node unless an entry dominates it. True if it was added. `hash` must be a function of the definite
  // part of `bits` and of `state` only.
  bool insert(uint64_t hash, PathState state, PathState context, const std::vector<uint64_t>& bits) {
    UK_LIN_ASSERT(bits.size() == total_words_);
    size_t mask = slots_.size() - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      Slot& slot = slots_[i];
      if (slot.ref == 0) {
        slot = Slot{hash, append(state, context, bits) + 1};
        if (++size_ * 2 > slots_.size()) grow();
        return true;
      }
      if (slot.hash == hash && dominates(slot.ref - 1, state, context, bits)) return false;
    }
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint64_t ref = 0;  // arena offset + 1; 0 = empty
  };

  uint64_t append(PathState state, PathState context, const std::vector<uint64_t>& bits) {
    const uint64_t offset = arena_.size();
    arena_.push_back(pack(state));
    arena_.push_back(pack(context));
    append_region(bits.data(), definite_words_);
    append_region(bits.data() + definite_words_, total_words_ - definite_words_);
    return offset;
  }

  void append_region(const uint64_t* w, size_t n) {
    size_t lo = 0;
    while (lo < n && w[lo] == ~uint64_t{0}) ++lo;
    size_t end = n;
    while (end > lo && w[end - 1] == 0) --end;
    arena_.push_back(uint64_t{lo} | (uint64_t{end - lo} << 32));
    arena_.insert(arena_.end(), w + lo, w + end);
  }

  bool dominates(uint64_t offset, PathState state, PathState context, const std::vector<uint64_t>& bits) const {
    const uint64_t* stored = arena_.data() + offset;
    if (stored[0] != pack(state)) return false;
    if (stored[1] != pack(kNoContext) && stored[1] != pack(context)) return false;
    stored += 2;
    return region_matches(&stored, bits.data(), definite_words_, /*subset=*/false) &&
           region_matches(&stored, bits.data() + definite_words_, total_words_ - definite_words_, /*subset=*/true);
  }

  // Compares one stored region with w[0, n): equal, or (subset) every stored bit is set in w. Advances *stored
  // past the region.
  static bool region_matches(const uint64_t** stored, const uint64_t* w, size_t n, bool subset) {
    const uint64_t* s = *stored;
    const size_t lo = s[0] & 0xffffffffu;
    const size_t count = s[0] >> 32;
    *stored = s + 1 + count;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t expected = i < lo ? ~uint64_t{0} : (i - lo < count ? s[1 + i - lo] : 0);
      if (subset ? (expected & ~w[i]) != 0 : w[i] != expected) return false;
    }
    return true;
  }

  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    const size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.ref == 0) continue;
      size_t i = s.hash & mask;
      while (slots_[i].ref != 0) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }

  size_t definite_words_;
  size_t total_words_;
  std::vector<Slot> slots_;  // size is a power of two
  size_t size_ = 0;
  std::vector<uint64_t> arena_;
};

// ---------------------------------------------------------------------------------------------------------------
// The search over one path.

enum class SearchOutcome { kLinearizable, kViolation, kBudgetExhausted };

// Events live in two doubly linked lists threaded through the same arrays: the definite list (call and return
// events of definite ops, by time, calls before returns at equal times) and the unknown list (call events of
// unknown-outcome writes, by time). Linearizing an op unlinks its events; backtracking relinks them in reverse
// order, which restores the lists exactly (dancing links).
//
// The lazy rule for unknown-outcome writes: right after an unknown write u (applied in state s0), a definite op d
// may come next only if d's reported result does NOT match in s0 — that is, only if u is what explains d. This
// loses no history: if d matched in s0 too, then for this model "u then d" and "d then u" end in the same state
// (checked case by case: u changes the state and d matches in both s0 and u(s0) only when u is a setData and d is
// a create that got NODEEXISTS, a delete or setData that got BADVERSION, or an unconditional delete, after which u
// finds no node and is dropped), and "d then u" is explored from the node before u (d was a candidate there,
// and u is still one after d: it has no return, and the scan bound only grows). Moving every such u past such d
// turns any linearization into one the rule allows. Without the rule a write whose reply was lost could be
// applied at every later point where nothing observes it at once, and a failing search would try them all.
// If the model grows (exists, multi, ...), this case analysis must be redone.
class PathSearch {
 public:
  explicit PathSearch(const PathProblem& problem) : p_(problem) { build_lists(); }

  // Depth-first search for an order of all definite ops (and any unknown-outcome writes) that the model accepts.
  SearchOutcome run(uint64_t max_steps) {
    size_t remaining = p_.num_definite;  // definite ops not yet linearized
    if (remaining == 0) return SearchOutcome::kLinearizable;
    const size_t definite_words = (p_.num_definite + 63) / 64;
    const size_t total_words = definite_words + (p_.ops.size() - p_.num_definite + 63) / 64;
    std::vector<uint64_t> bits(total_words, 0);
    VisitedSet visited(definite_words, total_words);
    uint64_t set_hash = 0;  // Zobrist hash of the definite part of `bits`

    struct Frame {
      int32_t node;             // the call event of the op linearized here
      PathState before;         // the state before it
      int64_t unknown_limit;    // the unknown-list scan bound at the time (when node is in that list)
    };
    std::vector<Frame> stack;
    std::vector<int32_t> class_applied(p_.num_classes, 0);  // per class of unknown writes: members applied
    PathState state;
    int32_t node = next_[kDefiniteHead];
    bool scanning_unknown = false;
    int64_t unknown_limit = 0;
    uint64_t steps = 0;

    const auto toggle = [&](int32_t op) {
      const size_t bit = op < static_cast<int32_t>(p_.num_definite)
                             ? static_cast<size_t>(op)
                             : definite_words * 64 + (static_cast<size_t>(op) - p_.num_definite);
      bits[bit / 64] ^= uint64_t{1} << (bit % 64);
      if (!p_.ops[static_cast<size_t>(op)].unknown) set_hash ^= mix64(static_cast<uint64_t>(op));
    };

    while (true) {
      if (++steps > max_steps) return SearchOutcome::kBudgetExhausted;
      if (!scanning_unknown && is_return_[node]) {
        // Every definite op whose call precedes the first pending return has been tried here. Now the
        // unknown-outcome writes invoked by then (ties count as concurrent).
        UK_LIN_ASSERT(node != kDefiniteTail);
        scanning_unknown = true;
        unknown_limit = time_[node];
        node = next_[kUnknownHead];
        continue;
      }
      if (scanning_unknown && time_[node] > unknown_limit) {  // the unknown-list tail is at +infinity
        // Nothing can be linearized next: the op of that first pending return can never be placed. Backtrack.
        if (stack.empty()) return SearchOutcome::kViolation;
        const Frame f = stack.back();
        stack.pop_back();
        const int32_t op = op_of_[f.node];
        toggle(op);
        unlift(f.node);
        state = f.before;
        if (p_.ops[op].unknown) --class_applied[static_cast<size_t>(p_.unknown_class[op])];
        else ++remaining;
        scanning_unknown = p_.ops[op].unknown;
        unknown_limit = f.unknown_limit;
        node = next_[f.node];
        continue;
      }
      const int32_t op = op_of_[node];
      const ModelOp& m = p_.ops[op];
      PathState after;
      // Alike unknown writes go in invocation order (PathProblem).
      bool take = !m.unknown || p_.unknown_rank[op] == class_applied[static_cast<size_t>(p_.unknown_class[op])];
      take = take && model_step(m, state, &after);
      // An unknown-outcome write that changes nothing here is the same as one that never happened: skip it.
      if (take && m.unknown) take = after != state;
      // The lazy rule (see the class comment).
      if (take && !m.unknown && !stack.empty() && p_.ops[op_of_[stack.back().node]].unknown) {
        PathState ignored;
        take = !model_step(m, stack.back().before, &ignored);
      }
      if (take) {
        toggle(op);
        const uint64_t hash = set_hash ^ mix64(pack(after) ^ 0x5bd1e9955bd1e995ull);
        if (visited.insert(hash, after, m.unknown ? state : kNoContext, bits)) {
          stack.push_back(Frame{node, state, unknown_limit});
          state = after;
          lift(node);
          if (m.unknown) ++class_applied[static_cast<size_t>(p_.unknown_class[op])];
          else if (--remaining == 0) return SearchOutcome::kLinearizable;
          scanning_unknown = false;
          node = next_[kDefiniteHead];
          continue;
        }
        toggle(op);
      }
      node = next_[node];
    }
  }

 private:
  static constexpr int32_t kDefiniteHead = 0;
  static constexpr int32_t kDefiniteTail = 1;
  static constexpr int32_t kUnknownHead = 2;
  static constexpr int32_t kUnknownTail = 3;
  static constexpr int32_t kFirstEvent = 4;

  struct Event {
    int64_t time;
    bool is_return;
    int32_t op;
  };

  void build_lists() {
    std::vector<Event> definite, unknown;
    for (size_t i = 0; i < p_.ops.size(); ++i) {
      const int32_t op = static_cast<int32_t>(i);
      if (i < p_.num_definite) {
        UK_LIN_ASSERT(p_.invoke_time[i] < p_.return_time[i]);
        definite.push_back(Event{p_.invoke_time[i], false, op});
        definite.push_back(Event{p_.return_time[i], true, op});
      } else {
        unknown.push_back(Event{p_.invoke_time[i], false, op});
      }
    }
    // Calls before returns at equal times: ops that meet at one tick overlap (see the header).
    const auto before = [](const Event& a, const Event& b) {
      if (a.time != b.time) return a.time < b.time;
      if (a.is_return != b.is_return) return !a.is_return;
      return a.op < b.op;
    };
    std::sort(definite.begin(), definite.end(), before);
    std::sort(unknown.begin(), unknown.end(), before);

    const size_t n = kFirstEvent + definite.size() + unknown.size();
    next_.assign(n, -1);
    prev_.assign(n, -1);
    op_of_.assign(n, -1);
    partner_.assign(n, -1);
    is_return_.assign(n, 0);
    time_.assign(n, 0);
    is_return_[kDefiniteTail] = 1;  // never reached: a pending definite return always comes first
    time_[kDefiniteTail] = kTimeInfinity;
    time_[kUnknownTail] = kTimeInfinity;

    std::vector<int32_t> call_of(p_.ops.size(), -1);
    int32_t id = kFirstEvent;
    const auto thread = [&](const std::vector<Event>& events, int32_t head, int32_t tail) {
      int32_t last = head;
      for (const Event& e : events) {
        time_[id] = e.time;
        op_of_[id] = e.op;
        is_return_[id] = e.is_return ? 1 : 0;
        if (e.is_return) partner_[call_of[e.op]] = id;
        else call_of[e.op] = id;
        next_[last] = id;
        prev_[id] = last;
        last = id++;
      }
      next_[last] = tail;
      prev_[tail] = last;
    };
    thread(definite, kDefiniteHead, kDefiniteTail);
    thread(unknown, kUnknownHead, kUnknownTail);
  }

  void unlink(int32_t e) {
    next_[prev_[e]] = next_[e];
    prev_[next_[e]] = prev_[e];
  }
  void relink(int32_t e) {
    next_[prev_[e]] = e;
    prev_[next_[e]] = e;
  }
  void lift(int32_t call) {
    unlink(call);
    if (partner_[call] >= 0) unlink(partner_[call]);
  }
  void unlift(int32_t call) {
    if (partner_[call] >= 0) relink(partner_[call]);
    relink(call);
  }

  const PathProblem& p_;
  std::vector<int32_t> next_, prev_;
  std::vector<int32_t> op_of_;    // -1 for the sentinels
  std::vector<int32_t> partner_;  // a definite op's call event -> its return event; -1 otherwise
  std::vector<uint8_t> is_return_;
  std::vector<int64_t> time_;
};

SearchOutcome search(const std::vector<const HistoryOp*>& ops, int64_t cutoff, uint64_t max_steps) {
  const PathProblem problem = build_problem(ops, cutoff);
  return PathSearch(problem).run(max_steps);
}

// ---------------------------------------------------------------------------------------------------------------
// Reporting.

std::string quote(std::string_view bytes) {
  constexpr size_t kShownBytes = 40;
  std::string out = "\"";
  for (size_t i = 0; i < bytes.size() && i < kShownBytes; ++i) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  out += '"';
  if (bytes.size() > kShownBytes) out += "...(" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

const char* kind_name(OpKind kind) {
  switch (kind) {
    case OpKind::kCreate: return "create";
    case OpKind::kDelete: return "delete";
    case OpKind::kSetData: return "setData";
    case OpKind::kGetData: return "getData";
  }
  return "?";
}

// The report for a path whose history failed: the shortest failing prefix (found by searching again on prefixes),
// then the path's ops in invocation order with that prefix marked.
std::string explain_violation(std::string_view path, const std::vector<const HistoryOp*>& ops, uint64_t max_steps) {
  // Distinct return times of definite ops: the cuts at which a prefix can start to fail.
  std::vector<int64_t> cuts;
  for (const HistoryOp* h : ops) {
    if (h->return_time && is_definite(h->err)) cuts.push_back(*h->return_time);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  UK_LIN_ASSERT(!cuts.empty());  // with no definite op every history is linearizable

  // Failing is monotone in the cut (a prefix of a linearizable history is linearizable), so binary search for
  // the first failing cut. The last cut is the whole history (see build_problem), which failed.
  size_t lo = 0, hi = cuts.size() - 1;
  bool budget_ran_out = false;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    const SearchOutcome r = search(ops, cuts[mid], max_steps);
    if (r == SearchOutcome::kViolation) {
      hi = mid;
    } else {
      budget_ran_out |= r == SearchOutcome::kBudgetExhausted;
      lo = mid + 1;
    }
  }
  const int64_t cut = cuts[hi];

  std::string out = "linearizability violation on path " + quote(path) + " (" + std::to_string(ops.size()) +
                    " ops on this path, in invocation order below).\n";
  out += "The shortest failing prefix of its history ends at t=" + std::to_string(cut) +
         ": no order of the ops marked '>' (returned at t=" + std::to_string(cut) +
         ") and '|' (returned earlier) explains their results; ':' ops were still running then and count as "
         "outcome unknown; unmarked ops came later.\n";
  if (budget_ran_out) {
    out += "(Some shorter prefixes ran out of search budget, so a shorter failing prefix may exist.)\n";
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    const HistoryOp& h = *ops[i];
    char mark = ' ';
    if (h.invoke_time <= cut) {
      if (!h.return_time || *h.return_time > cut) mark = ':';
      else mark = *h.return_time == cut && is_definite(h.err) ? '>' : '|';
    }
    out += "  ";
    out += mark;
    out += " #" + std::to_string(i) + " " + describe(h) + "\n";
  }
  return out;
}

}  // namespace

std::string describe(const HistoryOp& op) {
  std::string out = "client " + std::to_string(op.client) + " " + kind_name(op.kind) + " " + op.path;
  if (op.kind == OpKind::kCreate || op.kind == OpKind::kSetData) out += " data=" + quote(op.data);
  if (op.kind == OpKind::kDelete || op.kind == OpKind::kSetData) out += " version=" + std::to_string(op.version);
  out += " [" + std::to_string(op.invoke_time) + ", ";
  out += op.return_time ? std::to_string(*op.return_time) : std::string("?");
  out += "] -> ";
  if (!op.return_time) {
    out += op.kind == OpKind::kGetData ? "no reply (ignored)" : "no reply (outcome unknown)";
    return out;
  }
  out += err_name(op.err);
  if (!is_definite(op.err)) {
    out += op.kind == OpKind::kGetData ? " (ignored)" : " (outcome unknown)";
  } else if (op.err == Err::kOk && op.kind == OpKind::kGetData) {
    out += " data=" + quote(op.result_data) + " version=" + std::to_string(op.result_version);
  } else if (op.err == Err::kOk && op.kind == OpKind::kSetData) {
    out += " version=" + std::to_string(op.result_version);
  }
  return out;
}

CheckResult check_linearizable(const std::vector<HistoryOp>& history, uint64_t max_steps_per_path) {
  // std::map: paths are checked, and reported, in a deterministic order.
  std::map<std::string_view, std::vector<const HistoryOp*>> by_path;
  for (const HistoryOp& op : history) {
    if (op.return_time && *op.return_time <= op.invoke_time) contract_broken("returned before it was invoked", op);
    by_path[op.path].push_back(&op);
  }

  std::string exhausted;  // paths whose search ran out of steps
  for (auto& [path, ops] : by_path) {
    std::stable_sort(ops.begin(), ops.end(),
                     [](const HistoryOp* a, const HistoryOp* b) { return a->invoke_time < b->invoke_time; });
    const SearchOutcome r = search(ops, kTimeInfinity, max_steps_per_path);
    if (r == SearchOutcome::kViolation) {
      return CheckResult{CheckResult::Verdict::kViolation, explain_violation(path, ops, max_steps_per_path)};
    }
    if (r == SearchOutcome::kBudgetExhausted) {
      exhausted += (exhausted.empty() ? "" : ", ") + quote(path) + " (" + std::to_string(ops.size()) + " ops)";
    }
  }
  if (!exhausted.empty()) {
    return CheckResult{CheckResult::Verdict::kInconclusive,
                       "search budget of " + std::to_string(max_steps_per_path) +
                           " steps per path ran out on path(s) " + exhausted + "; no violation found elsewhere"};
  }
  return CheckResult{CheckResult::Verdict::kLinearizable,
                     std::to_string(history.size()) + " ops on " + std::to_string(by_path.size()) +
                         " paths are linearizable"};
}

}  // namespace uk::sim
