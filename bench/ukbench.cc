// ukbench: load generator speaking the ZooKeeper wire protocol (through uk::client), so the same binary measures
// ukeeper and Apache ZooKeeper. Workloads: read, write, mixed:R/W, create-delete, ephemeral-churn, and the
// coordination workloads watch-fanout and lock-handoff (ukbench_coord.cc). Closed loop by default (each connection
// keeps --window requests in flight); with --rate R, open loop at R ops/s in total with every latency measured from
// the request's intended send time, so a stalled server is charged for the requests it delayed (no coordinated
// omission); with --sweep-rates R1,R2,... one open-loop run per rate and a throughput-against-latency summary.
// Latencies go into HDR-style histograms (uk::Histogram, ±0.2%).
//
// Structure: --threads worker threads, each running one epoll loop over its share of the sessions (so thousands
// of sessions cost a handful of threads); each thread records into its own histograms, merged after the run. The
// main thread prints a progress line every second. The ZooKeeper protocol carries exactly one session per TCP
// connection, so --sessions N means N connections, spread over the --threads event loops.
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <random>
#include <thread>

#include "ukbench.h"
#include "ukeeper/client/requests.h"

namespace ukbench {

bool is_coordination(Workload w) { return w == Workload::kWatchFanout || w == Workload::kLockHandoff; }

int kind_of(int32_t type) {
  switch (type) {
    case uc::op::kGetData: return kGetData;
    case uc::op::kSetData: return kSetData;
    case uc::op::kMulti: return kMulti;
    case uc::op::kCreate: return kCreate;
    case uc::op::kDelete: return kDelete;
    case uc::op::kExists: return kExists;
    case uc::op::kGetChildren: return kGetChildren;
    default: return -1;
  }
}

std::unique_ptr<uc::Connection> open_or_exit(const Options& o, size_t max_in_flight, const char* what, int index) {
  uc::Connection::Options co;
  co.host = o.host;
  co.port = o.port;
  co.max_in_flight = max_in_flight;
  std::string error;
  auto c = uc::Connection::open(co, &error);
  if (!c) {
    std::fprintf(stderr, "ukbench: %s %d: %s\n", what, index, error.c_str());
    std::exit(1);
  }
  return c;
}

// Key choice: uniform, or zipf with key i weighted 1/(i+1)^s.
class KeyChooser {
 public:
  KeyChooser(int n, double zipf_s) : n_(n) {
    if (zipf_s <= 0.0) return;
    cdf_.resize(static_cast<size_t>(n));
    double sum = 0;
    for (int i = 0; i < n; i++) sum += 1.0 / std::pow(i + 1.0, zipf_s);
    double acc = 0;
    for (int i = 0; i < n; i++) {
      acc += 1.0 / std::pow(i + 1.0, zipf_s) / sum;
      cdf_[static_cast<size_t>(i)] = acc;
    }
  }
  int pick(std::mt19937_64& rng) const {
    if (cdf_.empty()) return static_cast<int>(rng() % static_cast<uint64_t>(n_));
    double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
    return static_cast<int>(std::min<ptrdiff_t>(it - cdf_.begin(), n_ - 1));
  }

 private:
  int n_;
  std::vector<double> cdf_;
};

namespace {

// ---------------------------------------------------------------------------------------------------------------
// Options

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "ukbench: %s\n"
               "usage: ukbench [--host H] [--port P]\n"
               "               [--workload read|write|mixed:R/W|create-delete|ephemeral-churn|watch-fanout|"
               "lock-handoff]\n"
               "               [--read-op getData|exists|getChildren] [--write-op setData|multi] [--multi-ops K]\n"
               "               [--create-mode persistent|ephemeral|sequential]\n"
               "               [--value-bytes B] [--znodes N] [--keys uniform|zipf[:s]] [--connections M]\n"
               "               [--sessions N] [--threads T] [--window W] [--rate R | --sweep-rates R1,R2,...]\n"
               "               [--watchers K] [--contenders N] [--warmup S] [--duration S] [--repeat K]\n"
               "               [--label L] [--json FILE] [--seed X]\n",
               why);
  std::exit(2);
}

void parse_workload(Options& o) {
  const std::string& w = o.workload_spec;
  if (w == "read") {
    o.workload = Workload::kRead;
  } else if (w == "write") {
    o.workload = Workload::kWrite;
    o.read_fraction = 0.0;
  } else if (w.rfind("mixed", 0) == 0) {
    o.workload = Workload::kMixed;
    int r = 90;
    int wr = 10;
    if (w.size() > 5 && (w[5] != ':' || std::sscanf(w.c_str() + 6, "%d/%d", &r, &wr) != 2)) usage("bad mixed:R/W");
    if (r < 0 || wr < 0 || r + wr == 0) usage("bad mixed ratio");
    o.read_fraction = static_cast<double>(r) / (r + wr);
  } else if (w == "create-delete") {
    o.workload = Workload::kCreateDelete;
  } else if (w == "ephemeral-churn") {
    o.workload = Workload::kEphemeralChurn;
  } else if (w == "watch-fanout") {
    o.workload = Workload::kWatchFanout;
  } else if (w == "lock-handoff") {
    o.workload = Workload::kLockHandoff;
  } else {
    usage("unknown workload");
  }
}

// --read-op, --write-op, --create-mode: each names what a workload's reads, writes or creates are, and only the
// workloads that have such ops take a value other than the default (a silently ignored option would mislabel a run).
void parse_op_kinds(Options& o) {
  bool reads = o.workload == Workload::kRead || o.workload == Workload::kMixed;
  bool writes = o.workload == Workload::kWrite || o.workload == Workload::kMixed;
  if (o.read_op_spec == "getData") o.read_op = ReadOp::kGetData;
  else if (o.read_op_spec == "exists") o.read_op = ReadOp::kExists;
  else if (o.read_op_spec == "getChildren") o.read_op = ReadOp::kGetChildren;
  else usage("bad --read-op");
  if (o.write_op_spec == "setData") o.write_op = WriteOp::kSetData;
  else if (o.write_op_spec == "multi") o.write_op = WriteOp::kMulti;
  else usage("bad --write-op");
  if (o.create_mode_spec == "persistent") o.create_mode = CreateMode::kPersistent;
  else if (o.create_mode_spec == "ephemeral") o.create_mode = CreateMode::kEphemeral;
  else if (o.create_mode_spec == "sequential") o.create_mode = CreateMode::kSequential;
  else usage("bad --create-mode");
  if (o.read_op != ReadOp::kGetData && !reads) usage("--read-op is for the read and mixed workloads");
  if (o.write_op != WriteOp::kSetData && !writes) usage("--write-op is for the write and mixed workloads");
  if (o.create_mode != CreateMode::kPersistent && o.workload != Workload::kCreateDelete) {
    usage("--create-mode is for the create-delete workload");
  }
  if (o.write_op == WriteOp::kMulti && (o.multi_ops < 1 || o.multi_ops > o.znodes)) usage("--multi-ops must be between 1 and --znodes");
}

bool parse_rates(const std::string& spec, std::vector<double>& out) {
  size_t at = 0;
  while (at <= spec.size()) {
    size_t comma = spec.find(',', at);
    if (comma == std::string::npos) comma = spec.size();
    char* end = nullptr;
    std::string item = spec.substr(at, comma - at);
    double r = std::strtod(item.c_str(), &end);
    if (item.empty() || *end != '\0' || !(r > 0)) return false;
    out.push_back(r);
    at = comma + 1;
  }
  return !out.empty();
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    std::string k = argv[i];
    if (k == "--help" || k == "-h") usage("help");
    if (i + 1 >= argc) usage(("missing value for " + k).c_str());
    std::string v = argv[++i];
    if (k == "--host") o.host = v;
    else if (k == "--port") o.port = std::atoi(v.c_str());
    else if (k == "--workload") o.workload_spec = v;
    else if (k == "--value-bytes") o.value_bytes = static_cast<size_t>(std::atol(v.c_str()));
    else if (k == "--znodes") o.znodes = std::atoi(v.c_str());
    else if (k == "--read-op") o.read_op_spec = v;
    else if (k == "--write-op") o.write_op_spec = v;
    else if (k == "--multi-ops") o.multi_ops = std::atoi(v.c_str());
    else if (k == "--create-mode") o.create_mode_spec = v;
    else if (k == "--keys") o.keys_spec = v;
    else if (k == "--connections") o.connections = std::atoi(v.c_str());
    else if (k == "--sessions") o.sessions = std::atoi(v.c_str());
    else if (k == "--threads") o.threads = std::atoi(v.c_str());
    else if (k == "--window") o.window = std::atoi(v.c_str());
    else if (k == "--rate") o.rate = std::atof(v.c_str());
    else if (k == "--sweep-rates") { if (!parse_rates(v, o.sweep_rates)) usage("bad --sweep-rates"); }
    else if (k == "--watchers") o.watchers = std::atoi(v.c_str());
    else if (k == "--contenders") o.contenders = std::atoi(v.c_str());
    else if (k == "--warmup") o.warmup_s = std::atof(v.c_str());
    else if (k == "--duration") o.duration_s = std::atof(v.c_str());
    else if (k == "--repeat") o.repeat = std::atoi(v.c_str());
    else if (k == "--label") o.label = v;
    else if (k == "--json") o.json_path = v;
    else if (k == "--seed") o.seed = std::strtoull(v.c_str(), nullptr, 10);
    else usage(("unknown option " + k).c_str());
  }
  parse_workload(o);
  parse_op_kinds(o);
  if (o.keys_spec == "uniform") {
    o.zipf_s = 0.0;
  } else if (o.keys_spec.rfind("zipf", 0) == 0) {
    o.zipf_s = o.keys_spec.size() > 5 ? std::atof(o.keys_spec.c_str() + 5) : 0.99;
    if (o.zipf_s <= 0.0) usage("bad zipf exponent");
  } else {
    usage("bad --keys");
  }
  if (o.watchers < 1 || o.contenders < 1) usage("--watchers and --contenders must be positive");
  // The coordination workloads' sessions are their roles: K watchers and one writer, or N contenders.
  if (o.workload == Workload::kWatchFanout) o.connections = o.watchers + 1;
  if (o.workload == Workload::kLockHandoff) o.connections = o.contenders;
  if (is_coordination(o.workload)) o.sessions = 0;
  if (o.sessions > o.connections) o.connections = o.sessions;
  if (o.sessions == 0) o.sessions = o.connections;
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (o.threads <= 0) o.threads = std::min(o.connections, cores);
  o.threads = std::min(o.threads, o.connections);
  if (o.connections < 1 || o.window < 1 || o.znodes < 1 || o.duration_s <= 0 || o.warmup_s < 0 || o.repeat < 1 ||
      o.rate < 0) {
    usage("connections, window, znodes, duration and repeat must be positive");
  }
  if (!o.sweep_rates.empty() && o.rate > 0) usage("--rate and --sweep-rates exclude each other");
  bool open_loop = o.rate > 0 || !o.sweep_rates.empty();
  if (open_loop && (o.workload == Workload::kEphemeralChurn || o.workload == Workload::kLockHandoff)) {
    usage("ephemeral-churn and lock-handoff run closed loop only (no --rate, no --sweep-rates)");
  }
  if (o.label.empty()) o.label = o.workload_spec;
  return o;
}

// The operation whose latency a sweep point reports, and the one whose rate is its throughput (watch-fanout: the
// rate is rounds, i.e. setData, per second; the latency that of each watcher's event).
const char* latency_op(Workload w) {
  if (w == Workload::kWatchFanout) return "watchEvent";
  if (w == Workload::kLockHandoff) return "handoff";
  return "all";
}
const char* rate_op(Workload w) {
  if (w == Workload::kWatchFanout) return "setData";
  if (w == Workload::kLockHandoff) return "handoff";
  return "all";
}

// Thousands of sessions need as many descriptors: raise the soft limit to the hard one.
void raise_fd_limit(const Options& o) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t want = static_cast<rlim_t>(o.connections) + 64;
  if (rl.rlim_cur >= want) return;
  rl.rlim_cur = std::min(rl.rlim_max, std::max(want, rl.rlim_cur));
  ::setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < want) {
    std::fprintf(stderr, "ukbench: %d sessions need %ju descriptors, the hard limit is %ju\n", o.connections,
                 static_cast<uintmax_t>(want), static_cast<uintmax_t>(rl.rlim_max));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Key-value workloads (read, write, mixed, create-delete): one epoll loop over several connections.

// One connection's load state inside a worker.
struct Slot {
  std::unique_ptr<uc::Connection> conn;
  int index = 0;                    // global connection number
  OpenLoopSchedule schedule;        // open loop: when its ops are due
  uint64_t created = 0;             // create-delete: ops issued so far
  // create-delete --create-mode sequential: the names the server gave this connection's creates, to delete next
  // (each delete waits for its create's reply; the other modes know the name and pipeline the delete behind it).
  std::deque<std::string> to_delete;
};

class Worker {
 public:
  Worker(RunShared& shared, Progress& progress, int id)
      : s_(shared), progress_(progress), rng_(shared.opt->seed * 7919 + static_cast<uint64_t>(id)) {}

  void add(std::unique_ptr<uc::Connection> conn, int index) {
    auto slot = std::make_unique<Slot>();
    slot->conn = std::move(conn);
    slot->index = index;
    slot->conn->set_reply_handler([this, sl = slot.get()](const uc::Reply& r) { on_reply(*sl, r); });
    slots_.push_back(std::move(slot));
  }

  Histograms& histograms() { return hist_; }

  void run() {
    const Options& o = *s_.opt;
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    for (size_t i = 0; i < slots_.size(); i++) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      ::epoll_ctl(ep, EPOLL_CTL_ADD, slots_[i]->conn->fd(), &ev);
    }
    // Open loop: connection i of M sends every M/R seconds, phase-shifted so the total stream is evenly spaced.
    Nanos interval{0};
    if (o.rate > 0) {
      interval = Nanos(static_cast<int64_t>(1e9 * o.connections / o.rate));
      for (auto& sl : slots_) sl->schedule.start(s_.start + interval * sl->index / o.connections, interval);
    }
    std::vector<epoll_event> events(slots_.size());
    for (;;) {
      Clock::time_point now = Clock::now();
      bool issuing = now < s_.measure_end && !s_.abort.load(std::memory_order_relaxed);
      size_t in_flight = 0;
      Clock::time_point wake = now + std::chrono::milliseconds(100);
      for (auto& sl : slots_) {
        if (issuing) issue(*sl, now, wake);
        sl->conn->flush();
        if (sl->conn->wants_write()) wake = std::min(wake, now + std::chrono::microseconds(200));
        in_flight += sl->conn->in_flight();
        sl->conn->ping_if_idle(now);
      }
      if (!issuing && (in_flight == 0 || now > s_.measure_end + std::chrono::seconds(10))) break;
      wake = std::min(wake, s_.measure_end);
      auto wait = std::max(Nanos(0), std::chrono::duration_cast<Nanos>(wake - now));
      timespec ts{static_cast<time_t>(wait.count() / 1'000'000'000), static_cast<long>(wait.count() % 1'000'000'000)};
      int n = ::epoll_pwait2(ep, events.data(), static_cast<int>(events.size()), &ts, nullptr);
      for (int i = 0; i < n; i++) {
        Slot& sl = *slots_[events[static_cast<size_t>(i)].data.u64];
        if (!sl.conn->on_readable()) {
          ::epoll_ctl(ep, EPOLL_CTL_DEL, sl.conn->fd(), nullptr);
          s_.failed_connections.fetch_add(1);
          s_.abort.store(true);
          std::fprintf(stderr, "ukbench: connection %d lost\n", sl.index);
        }
      }
      if (s_.abort.load(std::memory_order_relaxed) && !issuing) {
        bool any_ok = false;
        for (auto& sl : slots_) any_ok |= sl->conn->ok() && sl->conn->in_flight() > 0;
        if (!any_ok) break;
      }
    }
    for (auto& sl : slots_) s_.unsent.fetch_add(sl->schedule.unsent_at_end(s_));
    ::close(ep);
  }

  void close_all() {
    for (auto& sl : slots_) {
      if (!sl->conn->ok()) continue;
      // Sequential creates answered after the last delete was sent: remove them, so runs leave no nodes behind.
      // (call() may dispatch a late create reply, which appends to to_delete: hence pop before each call.)
      while (!sl->to_delete.empty() && sl->conn->ok()) {
        body_.clear();
        uc::encode_delete(body_, sl->to_delete.front());
        sl->to_delete.pop_front();
        sl->conn->call(uc::op::kDelete, body_, nullptr, 2000);
      }
      sl->conn->close_session(2000);
    }
  }

 private:
  void issue(Slot& sl, Clock::time_point now, Clock::time_point& wake) {
    const Options& o = *s_.opt;
    uc::Connection& c = *sl.conn;
    if (!c.ok()) return;
    while (c.in_flight() < static_cast<size_t>(o.window)) {
      Clock::time_point intended = now;
      if (sl.schedule.active()) {
        std::optional<Clock::time_point> due = sl.schedule.take(s_, now, wake);
        if (!due) return;
        intended = *due;
      }
      send_one(sl, intended);
    }
  }

  void send_one(Slot& sl, Clock::time_point intended) {
    const Options& o = *s_.opt;
    body_.clear();
    int32_t type;
    if (o.workload == Workload::kCreateDelete) {
      type = encode_create_delete(sl);
    } else {
      int key = s_.keys->pick(rng_);
      bool read = o.read_fraction >= 1.0 ||
                  (o.read_fraction > 0.0 && std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < o.read_fraction);
      type = read ? encode_read(key) : encode_write(key);
    }
    sl.conn->submit(type, body_, since(s_, intended));
  }

  // getData, exists or getChildren of the key (getChildren lists its kChildrenPerKey children).
  int32_t encode_read(int key) {
    uc::encode_path_watch(body_, s_.key_paths[static_cast<size_t>(key)], false);
    switch (s_.opt->read_op) {
      case ReadOp::kExists: return uc::op::kExists;
      case ReadOp::kGetChildren: return uc::op::kGetChildren;
      case ReadOp::kGetData: break;
    }
    return uc::op::kGetData;
  }

  // setData of the key, or a multi of setData on --multi-ops consecutive keys starting at it (distinct keys,
  // wrapping at --znodes; the chosen key follows --keys, its neighbours come with it).
  int32_t encode_write(int key) {
    const Options& o = *s_.opt;
    if (o.write_op == WriteOp::kSetData) {
      uc::encode_set_data(body_, s_.key_paths[static_cast<size_t>(key)], s_.value);
      return uc::op::kSetData;
    }
    for (int i = 0; i < o.multi_ops; i++) {
      uc::encode_multi_op(body_, uc::op::kSetData);
      uc::encode_set_data(body_, s_.key_paths[static_cast<size_t>((key + i) % o.znodes)], s_.value);
    }
    uc::encode_multi_end(body_);
    return uc::op::kMulti;
  }

  // Persistent and ephemeral: even ops create this connection's next node, odd ops delete it (the pipeline keeps
  // them in order). Sequential: a create of /ukbench/cd/<pid>-<conn>- with the sequential flag, and once its reply
  // has named the node, a delete of that name (deletes go first).
  int32_t encode_create_delete(Slot& sl) {
    const Options& o = *s_.opt;
    if (o.create_mode == CreateMode::kSequential && !sl.to_delete.empty()) {
      uc::encode_delete(body_, sl.to_delete.front());
      sl.to_delete.pop_front();
      return uc::op::kDelete;
    }
    path_.assign(kRoot).append("/cd/").append(std::to_string(::getpid())).append("-");
    path_.append(std::to_string(sl.index)).append("-");
    if (o.create_mode == CreateMode::kSequential) {
      uc::encode_create(body_, path_, s_.value, uc::kCreateSequential);
      return uc::op::kCreate;
    }
    uint64_t n = sl.created++;
    path_.append(std::to_string(n / 2));
    if (n % 2 == 1) {
      uc::encode_delete(body_, path_);
      return uc::op::kDelete;
    }
    int32_t flags = o.create_mode == CreateMode::kEphemeral ? uc::kCreateEphemeral : uc::kCreatePersistent;
    uc::encode_create(body_, path_, s_.value, flags);
    return uc::op::kCreate;
  }

  void on_reply(Slot& sl, const uc::Reply& r) {
    uint64_t done_ns = since(s_, Clock::now());
    uint64_t intended_ns = r.cookie;
    bool ok = r.err == uc::err::kOk && (r.op != uc::op::kMulti || uc::multi_reply_ok(r.body));
    progress_.completed.fetch_add(1, std::memory_order_relaxed);
    if (!ok) progress_.errors.fetch_add(1, std::memory_order_relaxed);
    if (ok && r.op == uc::op::kCreate && s_.opt->create_mode == CreateMode::kSequential) {
      sl.to_delete.push_back(uc::decode_create_reply(r.body));
    }
    int kind = kind_of(r.op);
    if (kind == kCreate) kind = create_kind_;
    if (kind < 0 || !ok || !in_window(s_, intended_ns)) return;
    hist_[kind].record(done_ns - intended_ns);
  }

  static int create_kind(CreateMode m) {
    switch (m) {
      case CreateMode::kEphemeral: return kCreateEphemeral;
      case CreateMode::kSequential: return kCreateSequential;
      case CreateMode::kPersistent: break;
    }
    return kCreate;
  }

  RunShared& s_;
  Progress& progress_;
  std::mt19937_64 rng_;
  std::vector<std::unique_ptr<Slot>> slots_;
  int create_kind_ = create_kind(s_.opt->create_mode);  // the row a create-delete create is recorded in
  Histograms hist_;
  std::string body_;
  std::string path_;
};

class KvWorkers final : public WorkerSet {
 public:
  KvWorkers(RunShared& s, std::vector<std::unique_ptr<Progress>>& progress) {
    const Options& o = *s.opt;
    for (int i = 0; i < o.threads; i++) {
      workers_.push_back(std::make_unique<Worker>(s, *progress[static_cast<size_t>(i)], i));
    }
    for (int i = 0; i < o.connections; i++) {
      workers_[static_cast<size_t>(i % o.threads)]->add(open_or_exit(o, static_cast<size_t>(o.window), "connection", i),
                                                        i);
    }
  }
  int workers() const override { return static_cast<int>(workers_.size()); }
  void run(int i) override { workers_[static_cast<size_t>(i)]->run(); }
  void close_all() override {
    for (auto& w : workers_) w->close_all();
  }
  Histograms& histograms(int i) override { return workers_[static_cast<size_t>(i)]->histograms(); }

 private:
  std::vector<std::unique_ptr<Worker>> workers_;
};

// ---------------------------------------------------------------------------------------------------------------
// Ephemeral churn: one thread per connection slot, looping open session → create ephemeral → close session,
// blocking (the handshake is the op under test, and it is not pipelined).

void churn_loop(RunShared& s, Progress& progress, Histograms& hist, int index) {
  const Options& o = *s.opt;
  uc::Connection::Options co;
  co.host = o.host;
  co.port = o.port;
  co.max_in_flight = 4;
  std::string body;
  std::string path;
  uint64_t measure_start_ns = since(s, s.measure_start);
  for (uint64_t n = 0; !s.abort.load(std::memory_order_relaxed); n++) {
    Clock::time_point t0 = Clock::now();
    if (t0 >= s.measure_end) break;
    bool record = since(s, t0) >= measure_start_ns;
    std::string error;
    auto conn = uc::Connection::open(co, &error);
    Clock::time_point t1 = Clock::now();
    if (!conn) {
      std::fprintf(stderr, "ukbench: %s\n", error.c_str());
      s.failed_connections.fetch_add(1);
      s.abort.store(true);
      return;
    }
    path.assign(kRoot).append("/eph/").append(std::to_string(::getpid())).append("-");
    path.append(std::to_string(index)).append("-").append(std::to_string(n));
    body.clear();
    uc::encode_create(body, path, s.value, uc::kCreateEphemeral);
    int32_t rc = conn->call(uc::op::kCreate, body);
    Clock::time_point t2 = Clock::now();
    bool closed = conn->close_session();
    Clock::time_point t3 = Clock::now();
    progress.completed.fetch_add(3, std::memory_order_relaxed);
    if (rc != uc::err::kOk || !closed) progress.errors.fetch_add(1, std::memory_order_relaxed);
    if (!record) continue;
    auto ns = [](Clock::time_point a, Clock::time_point b) {
      return static_cast<uint64_t>(std::chrono::duration_cast<Nanos>(b - a).count());
    };
    hist[kConnect].record(ns(t0, t1));
    if (rc == uc::err::kOk) hist[kCreateEphemeral].record(ns(t1, t2));
    if (closed) hist[kCloseSession].record(ns(t2, t3));
  }
}

class ChurnWorkers final : public WorkerSet {
 public:
  ChurnWorkers(RunShared& s, std::vector<std::unique_ptr<Progress>>& progress)
      : s_(s), progress_(progress), hist_(static_cast<size_t>(s.opt->connections)) {}
  int workers() const override { return s_.opt->connections; }
  void run(int i) override {
    churn_loop(s_, *progress_[static_cast<size_t>(i)], hist_[static_cast<size_t>(i)], i);
  }
  void close_all() override {}
  Histograms& histograms(int i) override { return hist_[static_cast<size_t>(i)]; }

 private:
  RunShared& s_;
  std::vector<std::unique_ptr<Progress>>& progress_;
  std::vector<Histograms> hist_;
};

// ---------------------------------------------------------------------------------------------------------------
// Setup: the root, the key nodes with values of the requested size, the coordination workloads' nodes (pipelined
// on one connection).

void pipeline(uc::Connection& c, const std::vector<std::pair<int32_t, std::string>>& requests) {
  size_t next = 0;
  size_t done = 0;
  c.set_reply_handler([&done](const uc::Reply&) { done++; });
  while (done < requests.size() && c.ok()) {
    while (next < requests.size() && c.in_flight() < c.max_in_flight()) {
      c.submit(requests[next].first, requests[next].second, 0);
      next++;
    }
    c.flush();
    pollfd p{c.fd(), static_cast<short>(POLLIN | (c.wants_write() ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, 1000) > 0 && (p.revents & POLLIN)) c.on_readable();
  }
  c.set_reply_handler(nullptr);
  if (!c.ok()) {
    std::fprintf(stderr, "ukbench: setup connection lost\n");
    std::exit(1);
  }
}

void setup(const Options& o, RunShared& s) {
  auto c = open_or_exit(o, 256, "setup connection", 0);
  std::vector<std::pair<int32_t, std::string>> reqs;
  auto create = [&reqs](const std::string& path, std::string_view data) {
    std::string b;
    uc::encode_create(b, path, data, uc::kCreatePersistent);
    reqs.emplace_back(uc::op::kCreate, std::move(b));
  };
  for (const char* dir : {"", "/cd", "/eph", "/watch", "/lock"}) create(std::string(kRoot) + dir, "");
  if (o.workload == Workload::kWatchFanout) create(s.fanout_path, s.value);
  if (o.workload == Workload::kLockHandoff) create(s.lock_dir, "");
  pipeline(*c, reqs);  // NODEEXISTS from an earlier run is fine
  if (o.workload == Workload::kRead || o.workload == Workload::kWrite || o.workload == Workload::kMixed) {
    reqs.clear();
    for (const auto& k : s.key_paths) create(k, s.value);
    pipeline(*c, reqs);
    if (o.read_op == ReadOp::kGetChildren) {
      reqs.clear();
      for (const auto& k : s.key_paths) {
        for (int i = 0; i < kChildrenPerKey; i++) create(k + "/c" + std::to_string(i), "");
      }
      pipeline(*c, reqs);
    }
    // Nodes left by an earlier run may hold values of another size: set them all.
    reqs.clear();
    for (const auto& k : s.key_paths) {
      std::string b;
      uc::encode_set_data(b, k, s.value);
      reqs.emplace_back(uc::op::kSetData, std::move(b));
    }
    pipeline(*c, reqs);
  }
  c->close_session();
}

// Removes this process's coordination nodes (the lock's children are ephemeral and went with their sessions).
void cleanup(const Options& o, const RunShared& s) {
  if (!is_coordination(o.workload)) return;
  uc::Connection::Options co;
  co.host = o.host;
  co.port = o.port;
  std::string error;
  auto c = uc::Connection::open(co, &error);
  if (!c) return;  // best effort: a node left behind does not disturb the next run
  std::string body;
  uc::encode_delete(body, o.workload == Workload::kWatchFanout ? s.fanout_path : s.lock_dir);
  c->call(uc::op::kDelete, body);
  c->close_session();
}

// ---------------------------------------------------------------------------------------------------------------
// Machine description and output

struct Machine {
  int cores = 0;
  std::string kernel;
  std::string hostname;
  std::string cpu;
};

Machine describe_machine() {
  Machine m;
  m.cores = static_cast<int>(std::thread::hardware_concurrency());
  utsname u{};
  if (::uname(&u) == 0) {
    m.kernel = std::string(u.sysname) + " " + u.release;
    m.hostname = u.nodename;
  }
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) m.cpu = line.substr(std::min(line.size(), colon + 2));
      break;
    }
  }
  return m;
}

std::string json_escape(const std::string& in) {
  std::string out;
  for (char ch : in) {
    if (ch == '"' || ch == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out.append(buf);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

struct RunResult {
  int repetition = 0;
  double target_rate = 0;  // sweep: this run's open-loop rate; 0 otherwise
  double measured_s = 0;
  uint64_t errors = 0;
  uint64_t unsent = 0;  // open loop: requests due inside the window that were never sent
  int failed_connections = 0;
  bool stalled = false;
  // Non-empty kinds in kOpNames order, then "all" (key-value workloads and ephemeral-churn only: for the
  // coordination workloads the rows measure different things and a merged row would mean nothing).
  std::vector<std::pair<std::string, std::unique_ptr<uk::Histogram>>> ops;

  const uk::Histogram* op(const char* name) const {
    for (const auto& [n, h] : ops) {
      if (n == name) return h.get();
    }
    return nullptr;
  }
};

constexpr double kPercentiles[] = {50, 90, 99, 99.9, 99.99};
constexpr const char* kPercentileKeys[] = {"p50_us", "p90_us", "p99_us", "p99_9_us", "p99_99_us"};

double us(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

std::string loop_description(const Options& o) {
  if (!o.sweep_rates.empty()) {
    std::string r = "open-loop sweep rates=";
    for (size_t i = 0; i < o.sweep_rates.size(); i++) {
      r += (i ? "," : "") + std::to_string(static_cast<long>(o.sweep_rates[i]));
    }
    return r + "/s";
  }
  if (o.rate > 0) return "open-loop rate=" + std::to_string(static_cast<long>(o.rate)) + "/s";
  return "closed-loop";
}

// The operations a key-value workload sends, for the header line (empty for the others).
std::string op_description(const Options& o) {
  std::string multi = o.write_op == WriteOp::kMulti ? ":" + std::to_string(o.multi_ops) : "";
  switch (o.workload) {
    case Workload::kRead: return " read_op=" + o.read_op_spec;
    case Workload::kWrite: return " write_op=" + o.write_op_spec + multi;
    case Workload::kMixed: return " read_op=" + o.read_op_spec + " write_op=" + o.write_op_spec + multi;
    case Workload::kCreateDelete: return " create_mode=" + o.create_mode_spec;
    default: return "";
  }
}

void print_header(const Options& o, const Machine& m) {
  std::printf("# ukbench %s: workload=%s%s %s connections=%d sessions=%d threads=%d window=%d value_bytes=%zu "
              "znodes=%d keys=%s warmup=%.1fs duration=%.1fs repeat=%d target=%s:%d\n",
              o.label.c_str(), o.workload_spec.c_str(), op_description(o).c_str(), loop_description(o).c_str(),
              o.connections, o.sessions,
              o.threads, o.window, o.value_bytes, o.znodes, o.keys_spec.c_str(), o.warmup_s, o.duration_s, o.repeat,
              o.host.c_str(), o.port);
  if (o.workload == Workload::kWatchFanout) {
    std::printf("# watch-fanout: %d watcher sessions + 1 writer on %s; per round: setData, then every watcher's "
                "NodeDataChanged, then every watcher re-arms (getData with watch); watchEvent = setData sent -> event "
                "at one watcher, lastWatcher = setData sent -> event at the last of the %d\n",
                o.watchers, "/ukbench/watch/<pid>", o.watchers);
  } else if (o.workload == Workload::kLockHandoff) {
    std::printf("# lock-handoff: %d contender sessions, lock recipe under /ukbench/lock/<pid> (ephemeral sequential "
                "child, getChildren, exists-watch on the predecessor); the holder deletes its node and re-queues at "
                "once; handoff = holder's delete sent -> next holder's getChildren shows it lowest\n",
                o.contenders);
  }
  std::printf("# machine: %d cores, %s, %s, host %s\n", m.cores, m.cpu.c_str(), m.kernel.c_str(), m.hostname.c_str());
}

void print_table(const RunResult& r) {
  std::printf("# run %d: %.2f s measured, %" PRIu64 " errors%s%s\n", r.repetition, r.measured_s, r.errors,
              r.failed_connections ? ", CONNECTIONS LOST" : "", r.stalled ? ", STALLED" : "");
  if (r.target_rate > 0) std::printf("# sweep point: open loop at %.0f/s\n", r.target_rate);
  if (r.unsent > 0) {
    std::printf("# %" PRIu64 " requests due inside the window were never sent: the server fell behind the rate\n",
                r.unsent);
  }
  std::printf("%-16s %10s %12s %9s %9s %9s %9s %9s %9s   (latency in us)\n", "op", "ops", "ops/s", "p50", "p90",
              "p99", "p99.9", "p99.99", "max");
  for (const auto& [name, h] : r.ops) {
    std::printf("%-16s %10" PRIu64 " %12.0f", name.c_str(), h->count(), static_cast<double>(h->count()) / r.measured_s);
    for (double p : kPercentiles) std::printf(" %9.1f", us(h->percentile(p)));
    std::printf(" %9.1f\n", us(h->max()));
  }
  std::fflush(stdout);
}

// One point of a sweep: the achieved rate of rate_op and the latency distribution of latency_op.
struct SweepPoint {
  double target_rate = 0;
  int repetition = 0;
  double achieved_per_s = 0;
  uint64_t count = 0;
  uint64_t errors = 0;
  uint64_t unsent = 0;
  double pct_us[std::size(kPercentiles)] = {};
  double max_us = 0;
};

SweepPoint sweep_point(const Options& o, const RunResult& r) {
  SweepPoint p;
  p.target_rate = r.target_rate;
  p.repetition = r.repetition;
  p.errors = r.errors;
  p.unsent = r.unsent;
  if (const uk::Histogram* h = r.op(rate_op(o.workload))) {
    p.achieved_per_s = static_cast<double>(h->count()) / r.measured_s;
  }
  if (const uk::Histogram* h = r.op(latency_op(o.workload))) {
    p.count = h->count();
    for (size_t k = 0; k < std::size(kPercentiles); k++) p.pct_us[k] = us(h->percentile(kPercentiles[k]));
    p.max_us = us(h->max());
  }
  return p;
}

void print_sweep(const Options& o, const std::vector<RunResult>& runs) {
  std::printf("# sweep: latency of %s against the achieved rate of %s (open loop, latency from the intended send "
              "time)\n",
              latency_op(o.workload), rate_op(o.workload));
  std::printf("%10s %4s %12s %9s %9s %9s %9s %9s %9s %8s %8s   (latency in us)\n", "target/s", "run", "achieved/s",
              "p50", "p90", "p99", "p99.9", "p99.99", "max", "errors", "unsent");
  for (const RunResult& r : runs) {
    SweepPoint p = sweep_point(o, r);
    std::printf("%10.0f %4d %12.0f", p.target_rate, p.repetition, p.achieved_per_s);
    for (double v : p.pct_us) std::printf(" %9.1f", v);
    std::printf(" %9.1f %8" PRIu64 " %8" PRIu64 "\n", p.max_us, p.errors, p.unsent);
  }
  std::fflush(stdout);
}

void write_json_op(std::FILE* f, const std::string& name, const uk::Histogram& h, double measured_s, bool last) {
  std::fprintf(f, "      {\"op\": \"%s\", \"count\": %" PRIu64 ", \"throughput_per_s\": %.3f, \"mean_us\": %.3f, "
                  "\"min_us\": %.3f",
               name.c_str(), h.count(), static_cast<double>(h.count()) / measured_s, h.mean() / 1000.0, us(h.min()));
  for (size_t k = 0; k < std::size(kPercentiles); k++) {
    std::fprintf(f, ", \"%s\": %.3f", kPercentileKeys[k], us(h.percentile(kPercentiles[k])));
  }
  // Percentile curve for plots (bench/plot.py): HdrHistogram's ladder, halving the distance to 100% each step.
  std::fprintf(f, ", \"max_us\": %.3f, \"curve\": [", us(h.max()));
  double p = 0.0;
  for (int step = 0; step <= 20; step++) {
    std::fprintf(f, "[%.6f, %.3f], ", p, us(h.percentile(p)));
    p = 100.0 - (100.0 - p) / 2.0;
  }
  std::fprintf(f, "[100.0, %.3f]]}%s\n", us(h.max()), last ? "" : ",");
}

void write_json_sweep(std::FILE* f, const Options& o, const std::vector<RunResult>& runs) {
  std::fprintf(f, "  \"sweep\": {\"latency_op\": \"%s\", \"rate_op\": \"%s\", \"points\": [\n", latency_op(o.workload),
               rate_op(o.workload));
  for (size_t i = 0; i < runs.size(); i++) {
    SweepPoint p = sweep_point(o, runs[i]);
    std::fprintf(f, "    {\"target_rate_per_s\": %.3f, \"repetition\": %d, \"achieved_per_s\": %.3f, \"count\": %" PRIu64
                    ", \"errors\": %" PRIu64 ", \"unsent\": %" PRIu64,
                 p.target_rate, p.repetition, p.achieved_per_s, p.count, p.errors, p.unsent);
    for (size_t k = 0; k < std::size(kPercentiles); k++) {
      std::fprintf(f, ", \"%s\": %.3f", kPercentileKeys[k], p.pct_us[k]);
    }
    std::fprintf(f, ", \"max_us\": %.3f}%s\n", p.max_us, i + 1 < runs.size() ? "," : "");
  }
  std::fprintf(f, "  ]},\n");
}

void write_json(const Options& o, const Machine& m, const std::vector<RunResult>& runs) {
  std::FILE* f = std::fopen(o.json_path.c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "ukbench: cannot write %s: %s\n", o.json_path.c_str(), std::strerror(errno));
    std::exit(1);
  }
  char when[64];
  std::time_t t = std::time(nullptr);
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  std::fprintf(f, "{\n  \"tool\": \"ukbench\",\n  \"label\": \"%s\",\n  \"finished_at\": \"%s\",\n",
               json_escape(o.label).c_str(), when);
  bool sweep = !o.sweep_rates.empty();
  std::string rates;
  for (double r : o.sweep_rates) rates += (rates.empty() ? "" : ", ") + std::to_string(r);
  std::fprintf(f,
               "  \"params\": {\"host\": \"%s\", \"port\": %d, \"workload\": \"%s\", \"read_fraction\": %.4f, "
               "\"read_op\": \"%s\", \"write_op\": \"%s\", \"multi_ops\": %d, \"create_mode\": \"%s\", "
               "\"value_bytes\": %zu, \"znodes\": %d, \"keys\": \"%s\", \"zipf_s\": %.3f, \"connections\": %d, "
               "\"sessions\": %d, \"threads\": %d, \"window\": %d, \"loop\": \"%s\", \"rate\": %.1f, "
               "\"sweep_rates\": [%s], \"watchers\": %d, \"contenders\": %d, \"latency_op\": \"%s\", "
               "\"warmup_s\": %.3f, \"duration_s\": %.3f, \"repeat\": %d, \"seed\": %" PRIu64 "},\n",
               json_escape(o.host).c_str(), o.port, json_escape(o.workload_spec).c_str(), o.read_fraction,
               o.read_op_spec.c_str(), o.write_op_spec.c_str(), o.multi_ops, o.create_mode_spec.c_str(),
               o.value_bytes, o.znodes, json_escape(o.keys_spec).c_str(), o.zipf_s, o.connections, o.sessions,
               o.threads, o.window, o.rate > 0 || sweep ? "open" : "closed", sweep ? 0.0 : o.rate, rates.c_str(),
               o.watchers, o.contenders, latency_op(o.workload), o.warmup_s, o.duration_s, o.repeat, o.seed);
  std::fprintf(f, "  \"machine\": {\"cores\": %d, \"cpu\": \"%s\", \"kernel\": \"%s\", \"hostname\": \"%s\"},\n",
               m.cores, json_escape(m.cpu).c_str(), json_escape(m.kernel).c_str(), json_escape(m.hostname).c_str());
  if (sweep) write_json_sweep(f, o, runs);
  std::fprintf(f, "  \"runs\": [\n");
  for (size_t i = 0; i < runs.size(); i++) {
    const RunResult& r = runs[i];
    std::fprintf(f, "    {\"repetition\": %d, ", r.repetition);
    if (sweep) std::fprintf(f, "\"target_rate_per_s\": %.3f, ", r.target_rate);
    std::fprintf(f, "\"measured_s\": %.6f, \"errors\": %" PRIu64 ", \"unsent\": %" PRIu64
                    ", \"failed_connections\": %d, \"stalled\": %s, \"ops\": [\n",
                 r.measured_s, r.errors, r.unsent, r.failed_connections, r.stalled ? "true" : "false");
    for (size_t j = 0; j < r.ops.size(); j++) {
      write_json_op(f, r.ops[j].first, *r.ops[j].second, r.measured_s, j + 1 == r.ops.size());
    }
    std::fprintf(f, "    ]}%s\n", i + 1 < runs.size() ? "," : "");
  }
  std::fprintf(f, "  ]\n}\n");
  std::fclose(f);
}

// ---------------------------------------------------------------------------------------------------------------
// One repetition

void progress_loop(const Options& o, RunShared& s, std::vector<std::unique_ptr<Progress>>& progress,
                   const std::atomic<bool>& finished) {
  uint64_t last = 0;
  auto next = s.start + std::chrono::seconds(1);
  while (!finished.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto now = Clock::now();
    if (now < next) continue;
    next += std::chrono::seconds(1);
    uint64_t total = 0;
    uint64_t errors = 0;
    for (auto& p : progress) {
      total += p->completed.load(std::memory_order_relaxed);
      errors += p->errors.load(std::memory_order_relaxed);
    }
    double t = std::chrono::duration<double>(now - s.start).count();
    const char* phase = now < s.measure_start ? "warmup" : now < s.measure_end ? "measure" : "drain";
    std::fprintf(stderr, "[%s %5.1fs] %-7s %10" PRIu64 " ops/s  %12" PRIu64 " ops  %" PRIu64 " errors\n",
                 o.label.c_str(), t, phase, total - last, total, errors);
    last = total;
  }
}

std::unique_ptr<WorkerSet> open_workers(RunShared& s, std::vector<std::unique_ptr<Progress>>& progress) {
  switch (s.opt->workload) {
    case Workload::kEphemeralChurn: return std::make_unique<ChurnWorkers>(s, progress);
    case Workload::kWatchFanout: return open_watch_fanout(s, progress);
    case Workload::kLockHandoff: return open_lock_handoff(s, progress);
    default: return std::make_unique<KvWorkers>(s, progress);
  }
}

RunResult run_once(const Options& o, RunShared& s, int repetition) {
  int n_workers = o.workload == Workload::kEphemeralChurn ? o.connections : o.threads;
  std::vector<std::unique_ptr<Progress>> progress;
  for (int i = 0; i < n_workers; i++) progress.push_back(std::make_unique<Progress>());
  std::unique_ptr<WorkerSet> workers = open_workers(s, progress);
  s.abort.store(false);
  s.failed_connections.store(0);
  s.stalled.store(false);
  s.unsent.store(0);
  s.start = Clock::now();
  s.measure_start = s.start + Nanos(static_cast<int64_t>(o.warmup_s * 1e9));
  s.measure_end = s.measure_start + Nanos(static_cast<int64_t>(o.duration_s * 1e9));
  std::atomic<bool> finished{false};
  std::thread progress_thread([&] { progress_loop(o, s, progress, finished); });
  std::vector<std::thread> threads;
  for (int i = 0; i < workers->workers(); i++) threads.emplace_back([&, i] { workers->run(i); });
  for (auto& t : threads) t.join();
  finished.store(true);
  progress_thread.join();
  workers->close_all();

  RunResult r;
  r.repetition = repetition;
  r.target_rate = o.sweep_rates.empty() ? 0.0 : o.rate;
  r.measured_s = o.duration_s;
  r.failed_connections = s.failed_connections.load();
  r.stalled = s.stalled.load();
  r.unsent = s.unsent.load();
  for (auto& p : progress) r.errors += p->errors.load();
  auto all = std::make_unique<uk::Histogram>();
  for (int k = 0; k < kOpKinds; k++) {
    auto merged = std::make_unique<uk::Histogram>();
    for (int w = 0; w < workers->workers(); w++) merged->merge(workers->histograms(w)[k]);
    if (merged->count() == 0) continue;
    all->merge(*merged);
    r.ops.emplace_back(kOpNames[k], std::move(merged));
  }
  if (!is_coordination(o.workload)) r.ops.emplace_back("all", std::move(all));
  return r;
}

}  // namespace
}  // namespace ukbench

int main(int argc, char** argv) {
  using namespace ukbench;
  Options o = parse(argc, argv);
  raise_fd_limit(o);
  Machine m = describe_machine();
  RunShared s;
  s.opt = &o;
  s.value.assign(o.value_bytes, 'v');
  for (int i = 0; i < o.znodes; i++) s.key_paths.push_back(std::string(kRoot) + "/k" + std::to_string(i));
  s.fanout_path = std::string(kRoot) + "/watch/" + std::to_string(::getpid());
  s.lock_dir = std::string(kRoot) + "/lock/" + std::to_string(::getpid());
  KeyChooser keys(o.znodes, o.zipf_s);
  s.keys = &keys;
  setup(o, s);
  print_header(o, m);
  std::vector<RunResult> runs;
  bool lost = false;
  // A sweep is the same run at each rate in turn; without one, the single rate (or closed loop) given.
  std::vector<double> rates = o.sweep_rates.empty() ? std::vector<double>{o.rate} : o.sweep_rates;
  for (double rate : rates) {
    o.rate = rate;
    for (int rep = 1; rep <= o.repeat && !lost; rep++) {
      runs.push_back(run_once(o, s, rep));
      print_table(runs.back());
      lost |= runs.back().failed_connections > 0 || runs.back().stalled;
    }
  }
  if (!o.sweep_rates.empty()) {
    o.rate = 0;
    print_sweep(o, runs);
  }
  cleanup(o, s);
  if (!o.json_path.empty()) write_json(o, m, runs);
  return lost ? 1 : 0;
}
