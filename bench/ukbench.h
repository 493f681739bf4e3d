// ukbench's shared declarations: the options, the state one run shares between its threads, the per-thread
// histograms and progress counters, and the interface every workload's set of worker threads implements.
//
// Files: ukbench.cc has the options, the key-value workloads (read, write, mixed, create-delete), ephemeral-churn,
// the sweep and the output; ukbench_coord.cc has the coordination workloads (watch-fanout, lock-handoff).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ukeeper/client/connection.h"
#include "ukeeper/common/histogram.h"

namespace ukbench {

namespace uc = uk::client;
using uc::Clock;
using Nanos = std::chrono::nanoseconds;

enum class Workload { kRead, kWrite, kMixed, kCreateDelete, kEphemeralChurn, kWatchFanout, kLockHandoff };

// What a key-value workload's read or write is (--read-op, --write-op), and create-delete's create (--create-mode).
enum class ReadOp { kGetData, kExists, kGetChildren };
enum class WriteOp { kSetData, kMulti };
enum class CreateMode { kPersistent, kEphemeral, kSequential };

// getChildren reads list a key's own children: setup gives each key this many, /ukbench/k<i>/c0 .. c<n-1>, empty.
inline constexpr int kChildrenPerKey = 4;

struct Options {
  std::string host = "127.0.0.1";
  int port = 2181;
  std::string workload_spec = "read";
  Workload workload = Workload::kRead;
  double read_fraction = 1.0;  // mixed: probability that an op is a read
  std::string read_op_spec = "getData";
  ReadOp read_op = ReadOp::kGetData;
  std::string write_op_spec = "setData";
  WriteOp write_op = WriteOp::kSetData;
  int multi_ops = 2;  // --write-op multi: setData ops per multi, on that many consecutive keys
  std::string create_mode_spec = "persistent";
  CreateMode create_mode = CreateMode::kPersistent;
  size_t value_bytes = 100;
  int znodes = 1000;
  std::string keys_spec = "uniform";
  double zipf_s = 0.0;  // 0: uniform
  int connections = 1;  // = sessions: the protocol has exactly one session per TCP connection
  int sessions = 0;     // 0: one per connection
  int threads = 0;      // 0: min(connections, cores); each thread is one event loop over its share of sessions
  int window = 1;
  double rate = 0.0;  // ops/s in total (watch-fanout: rounds/s); 0: closed loop
  std::vector<double> sweep_rates;  // --sweep-rates: one open-loop run per rate
  int watchers = 16;    // watch-fanout: watcher sessions (plus one writer session)
  int contenders = 4;   // lock-handoff: sessions contending for the lock
  double warmup_s = 1.0;
  double duration_s = 5.0;
  int repeat = 1;
  std::string label;
  std::string json_path;
  uint64_t seed = 1;
};

bool is_coordination(Workload w);

// Operation kinds, one histogram each; rows of the table in this order. The last three are not requests:
// watchEvent is setData sent → NodeDataChanged at one watcher, lastWatcher is setData sent → the event at the last
// of the K watchers (one per round), handoff is the lock holder's delete sent → the next holder knows it holds it.
// createEphemeral and createSequential are creates with that flag (create-delete's --create-mode, ephemeral-churn).
enum OpKind : int {
  kGetData,
  kSetData,
  kMulti,
  kCreate,
  kCreateSequential,
  kDelete,
  kExists,
  kGetChildren,
  kConnect,
  kCreateEphemeral,
  kCloseSession,
  kWatchEvent,
  kLastWatcher,
  kHandoff,
  kOpKinds
};
inline constexpr const char* kOpNames[kOpKinds] = {
    "getData", "setData",         "multi",        "create",     "createSequential", "delete",     "exists",
    "getChildren", "connect", "createEphemeral", "closeSession", "watchEvent",       "lastWatcher", "handoff"};

// The histogram kind of a request type, or -1.
int kind_of(int32_t request_type);

struct Histograms {
  std::vector<std::unique_ptr<uk::Histogram>> by_kind;
  Histograms() {
    for (int i = 0; i < kOpKinds; i++) by_kind.push_back(std::make_unique<uk::Histogram>());
  }
  uk::Histogram& operator[](int kind) { return *by_kind[static_cast<size_t>(kind)]; }
};

// Per-thread counters read by the progress line; one cache line each so workers do not share lines.
struct alignas(64) Progress {
  std::atomic<uint64_t> completed{0};
  std::atomic<uint64_t> errors{0};
};

inline constexpr const char* kRoot = "/ukbench";

class KeyChooser;  // ukbench.cc

// What one run's threads share. Written by the main thread before the workers start, except the atomics.
struct RunShared {
  const Options* opt = nullptr;
  std::vector<std::string> key_paths;
  std::string value;
  const KeyChooser* keys = nullptr;
  std::string fanout_path;  // watch-fanout: the watched znode, /ukbench/watch/<pid>
  std::string lock_dir;     // lock-handoff: the lock node, /ukbench/lock/<pid>
  Clock::time_point start;          // warm-up begins
  Clock::time_point measure_start;  // recording begins (by intended send time)
  Clock::time_point measure_end;    // no op is intended at or after this
  std::atomic<bool> abort{false};
  std::atomic<int> failed_connections{0};
  std::atomic<bool> stalled{false};  // coordination: sessions still busy 10 s after the measured window
  std::atomic<uint64_t> unsent{0};   // open loop: requests due inside the window but not sent by its end
};

// Nanoseconds since the run's start: the one clock every thread of the run records with.
inline uint64_t since(const RunShared& s, Clock::time_point t) {
  return static_cast<uint64_t>(std::chrono::duration_cast<Nanos>(t - s.start).count());
}

// Whether an operation intended (or sent) at `ns` since the start counts: inside the measured window.
inline bool in_window(const RunShared& s, uint64_t ns) {
  return ns >= since(s, s.measure_start) && ns < since(s, s.measure_end);
}

// The open-loop schedule of one sender: a request every `interval` from `first`; the caller measures each one
// from the intended time take() returns. Two edges: requests of the warm-up still unsent when the measured window
// opens are skipped (they would not be measured, and the backlog of an overloaded warm-up would push every request
// of the window past its end); requests due inside the window but unsent when it closes are not sent late, and
// unsent_at_end() counts them (a server that fell behind).
class OpenLoopSchedule {
 public:
  void start(Clock::time_point first, Nanos interval) {
    next_ = first;
    interval_ = interval;
  }
  bool active() const { return interval_.count() > 0; }

  // The intended send time of the next request if one is due at `now`; otherwise nullopt, and `wake` lowered to
  // when the next one falls due.
  std::optional<Clock::time_point> take(const RunShared& s, Clock::time_point now, Clock::time_point& wake) {
    if (now >= s.measure_start && next_ < s.measure_start) next_ += interval_ * intervals_until(s.measure_start);
    if (next_ > now) {
      wake = std::min(wake, next_);
      return std::nullopt;
    }
    if (next_ >= s.measure_end) return std::nullopt;
    Clock::time_point due = next_;
    next_ += interval_;
    return due;
  }

  uint64_t unsent_at_end(const RunShared& s) const {
    if (!active() || next_ >= s.measure_end) return 0;
    Clock::time_point from = std::max(next_, s.measure_start);
    return static_cast<uint64_t>((s.measure_end - from + interval_ - Nanos(1)) / interval_);
  }

 private:
  // Whole intervals from next_ to the first due time at or after t.
  int64_t intervals_until(Clock::time_point t) const { return (t - next_ + interval_ - Nanos(1)) / interval_; }

  Clock::time_point next_{};
  Nanos interval_{0};
};

// One workload's worker threads for one repetition. Built (sessions opened) before the run's clock starts;
// run(i) is called once on worker thread i; close_all() and histograms() after every run(i) returned.
class WorkerSet {
 public:
  virtual ~WorkerSet() = default;
  virtual int workers() const = 0;
  virtual void run(int worker) = 0;
  virtual void close_all() = 0;
  virtual Histograms& histograms(int worker) = 0;
};

// Opens one repetition's sessions: opt.connections of them spread over opt.threads workers, each worker reporting
// into progress[worker]. Exits the process (status 1) if a session cannot be opened.
std::unique_ptr<WorkerSet> open_watch_fanout(RunShared& s, std::vector<std::unique_ptr<Progress>>& progress);
std::unique_ptr<WorkerSet> open_lock_handoff(RunShared& s, std::vector<std::unique_ptr<Progress>>& progress);

// Opens a session for setup or a worker; exits the process with a message if it cannot.
std::unique_ptr<uc::Connection> open_or_exit(const Options& o, size_t max_in_flight, const char* what, int index);

}  // namespace ukbench
