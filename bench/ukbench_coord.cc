// ukbench's coordination workloads: watch-fanout and lock-handoff.
//
// Both run their sessions as small state machines ("actors"), one per session, spread over --threads worker
// threads; each worker runs one epoll loop over its actors' connections plus an eventfd through which another
// thread can wake it. Every latency is a difference of two readings of one steady clock (since(), ns from the
// run's start) taken in this one process, possibly on two threads: the sender's and the receiver's.
//
// watch-fanout: K watcher sessions hold a data watch on one znode (getData with watch); a writer session sets its
// data. A round is: the writer sends setData; each watcher, on NodeDataChanged, records the latency from the
// send and re-arms (getData with watch again); the round ends when the writer has its reply and all K watchers
// have re-armed, so no event of the next round can be missed. Closed loop: the next round starts at once; with
// --rate R, rounds are due every 1/R s and a late round's latencies count from when it was due.
//
// lock-handoff: N contender sessions run ZooKeeper's lock recipe: create an EPHEMERAL_SEQUENTIAL child of the
// lock node, getChildren, and if not the lowest, exists-with-watch on the next lower child and wait for its
// deletion, then getChildren again. The holder releases at once (delete its child) and re-queues (a new child,
// pipelined behind the delete). Hand-off latency: the holder's delete sent -> the next holder's getChildren reply
// showing it lowest.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "ukbench.h"
#include "ukeeper/client/requests.h"

namespace ukbench {
namespace {

// Sessions still busy this long after the measured window ended: a lost event or a stuck recipe; the run fails.
constexpr auto kDrainTimeout = std::chrono::seconds(10);
// Requests in flight per session: at most two here (a holder's delete and its re-queueing create).
constexpr size_t kCoordWindow = 4;

constexpr int32_t kEventNodeDeleted = 2;
constexpr int32_t kEventNodeDataChanged = 3;

uint64_t now_ns(const RunShared& s) { return since(s, Clock::now()); }

// One worker thread's epoll set: its sessions' sockets (tag = index of the actor) and an eventfd (any thread may
// wake() the worker; the wake-up is consumed here).
class Poller {
 public:
  Poller() : ep_(::epoll_create1(EPOLL_CLOEXEC)), wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    add(wake_fd_, kWakeTag);
  }
  ~Poller() {
    ::close(wake_fd_);
    ::close(ep_);
  }
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  void add(int fd, uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  }
  void remove(int fd) { ::epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr); }
  // Thread-safe.
  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }
  // Waits until `deadline` at most; appends the tags of readable sockets to `ready`.
  void wait(Clock::time_point now, Clock::time_point deadline, std::vector<uint64_t>& ready) {
    auto wait = std::max(Nanos(0), std::chrono::duration_cast<Nanos>(deadline - now));
    timespec ts{static_cast<time_t>(wait.count() / 1'000'000'000), static_cast<long>(wait.count() % 1'000'000'000)};
    int n = ::epoll_pwait2(ep_, events_, static_cast<int>(std::size(events_)), &ts, nullptr);
    for (int i = 0; i < n; i++) {
      uint64_t tag = events_[i].data.u64;
      if (tag != kWakeTag) {
        ready.push_back(tag);
        continue;
      }
      uint64_t count;
      [[maybe_unused]] ssize_t r = ::read(wake_fd_, &count, sizeof count);
    }
  }

 private:
  static constexpr uint64_t kWakeTag = UINT64_MAX;
  int ep_;
  int wake_fd_;
  epoll_event events_[64];
};

// What an actor uses of its worker.
struct Context {
  RunShared& s;
  Progress& progress;
  Histograms& hist;
  Poller& poller;
};

// The base of both workloads' actors: the session, and recording of request latencies (the cookie of every
// request is its send time).
class Actor {
 public:
  Actor(Context ctx, int index, std::unique_ptr<uc::Connection> conn)
      : ctx_(ctx), index_(index), conn_(std::move(conn)) {}
  uc::Connection& conn() { return *conn_; }
  int index() const { return index_; }

 protected:
  void submit(int32_t type, const std::string& body) {
    conn_->submit(type, body, now_ns(ctx_.s));
    conn_->flush();  // at once: a request sent in reaction to an event is on the measured path
  }
  // Counts a reply; records its latency when sent inside the measured window. `ok` says whether its error code
  // is an expected outcome.
  void count_reply(const uc::Reply& r, bool ok) {
    ctx_.progress.completed.fetch_add(1, std::memory_order_relaxed);
    if (!ok) {
      ctx_.progress.errors.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    int kind = kind_of(r.op);
    if (kind >= 0 && in_window(ctx_.s, r.cookie)) ctx_.hist[kind].record(now_ns(ctx_.s) - r.cookie);
  }
  void error(const char* what) {
    ctx_.progress.errors.fetch_add(1, std::memory_order_relaxed);
    std::fprintf(stderr, "ukbench: session %d: %s\n", index_, what);
  }

  Context ctx_;
  int index_;
  std::unique_ptr<uc::Connection> conn_;
  std::string body_;
};

// Runs one worker's actors until all are done (or the run aborts or stalls). Actor needs step(now, wake): send
// whatever is due, lowering `wake` to when something next falls due; and done().
template <class A>
void run_actors(RunShared& s, Poller& poller, std::vector<std::unique_ptr<A>>& actors) {
  for (size_t i = 0; i < actors.size(); i++) poller.add(actors[i]->conn().fd(), i);
  std::vector<uint64_t> ready;
  for (;;) {
    Clock::time_point now = Clock::now();
    Clock::time_point wake = now + std::chrono::milliseconds(100);
    bool all_done = true;
    for (auto& a : actors) {
      if (!a->conn().ok()) continue;
      a->step(now, wake);
      a->conn().flush();
      if (a->conn().wants_write()) wake = std::min(wake, now + std::chrono::microseconds(200));
      a->conn().ping_if_idle(now);
      all_done &= a->done();
    }
    if (all_done || s.abort.load(std::memory_order_relaxed)) break;
    if (now > s.measure_end + kDrainTimeout) {
      std::fprintf(stderr, "ukbench: sessions still busy %lld s after the measured window (lost event?)\n",
                   static_cast<long long>(kDrainTimeout.count()));
      s.stalled.store(true);
      s.abort.store(true);
      break;
    }
    ready.clear();
    poller.wait(now, wake, ready);
    for (uint64_t tag : ready) {
      A& a = *actors[tag];
      if (a.conn().on_readable()) continue;
      poller.remove(a.conn().fd());
      s.failed_connections.fetch_add(1);
      s.abort.store(true);
      std::fprintf(stderr, "ukbench: connection %d lost\n", a.index());
    }
  }
}

// Worker threads over actors of one type; Shared is the state all the actors of one run share.
template <class A, class Shared>
class CoordWorkers final : public WorkerSet {
 public:
  CoordWorkers(RunShared& s, std::vector<std::unique_ptr<Progress>>& progress) : s_(s), shared_(s) {
    const Options& o = *s.opt;
    for (int i = 0; i < o.threads; i++) workers_.push_back(std::make_unique<Worker>());
    for (int i = 0; i < o.connections; i++) {
      size_t w = static_cast<size_t>(i % o.threads);
      Context ctx{s, *progress[w], workers_[w]->hist, workers_[w]->poller};
      workers_[w]->actors.push_back(std::make_unique<A>(ctx, shared_, i, open_or_exit(o, kCoordWindow, "session", i)));
    }
  }
  int workers() const override { return static_cast<int>(workers_.size()); }
  void run(int i) override {
    Worker& w = *workers_[static_cast<size_t>(i)];
    run_actors(s_, w.poller, w.actors);
  }
  void close_all() override {
    for (auto& w : workers_) {
      for (auto& a : w->actors) {
        if (a->conn().ok()) a->conn().close_session(2000);
      }
    }
  }
  Histograms& histograms(int i) override { return workers_[static_cast<size_t>(i)]->hist; }

 private:
  struct Worker {
    Poller poller;
    Histograms hist;
    std::vector<std::unique_ptr<A>> actors;
  };
  RunShared& s_;
  Shared shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

// ---------------------------------------------------------------------------------------------------------------
// watch-fanout

// The round state the writer and the K watchers share. One round at a time: the writer resets and publishes a
// round's fields before it sends the setData, and the watchers read them only on that round's event, which the
// server sends after it applied that setData.
struct FanoutShared {
  explicit FanoutShared(RunShared& s) : watchers(s.opt->watchers) {}
  const int watchers;
  std::atomic<uint64_t> sent_ns{0};        // the round's setData: intended send time
  std::atomic<bool> record{false};         // the round counts (sent inside the measured window)
  std::atomic<int> events{0};              // watchers that saw this round's event
  std::atomic<uint64_t> last_event_ns{0};  // the latest of their arrival times
  std::atomic<int> armed{0};               // watchers whose watch is set for the next round
  std::atomic<bool> writer_done{false};
  Poller* writer_poller = nullptr;  // woken when `armed` reaches `watchers`
};

class FanoutSession : public Actor {
 public:
  // Session 0 is the writer, the others watch.
  FanoutSession(Context ctx, FanoutShared& shared, int index, std::unique_ptr<uc::Connection> conn)
      : Actor(ctx, index, std::move(conn)), sh_(shared), writer_(index == 0) {
    if (writer_) sh_.writer_poller = &ctx.poller;
    conn_->set_reply_handler([this](const uc::Reply& r) { on_reply(r); });
    if (!writer_) conn_->set_watch_handler([this](const uc::WatchEvent& e) { on_event(e); });
  }

  void step(Clock::time_point now, Clock::time_point& wake) {
    if (writer_) {
      writer_step(now, wake);
    } else if (!armed_once_) {
      armed_once_ = true;
      arm();
    }
  }

  bool done() const {
    if (writer_) return writer_done_ && conn_->in_flight() == 0;
    return sh_.writer_done.load() && conn_->in_flight() == 0;
  }

 private:
  void arm() {
    body_.clear();
    uc::encode_path_watch(body_, ctx_.s.fanout_path, true);
    submit(uc::op::kGetData, body_);
  }

  void writer_step(Clock::time_point now, Clock::time_point& wake) {
    if (writer_done_) return;
    if (in_round_ && !(set_replied_ && sh_.armed.load() == sh_.watchers)) return;
    if (!in_round_ && sh_.armed.load() < sh_.watchers) return;  // the first arming
    in_round_ = false;
    const Options& o = *ctx_.s.opt;
    if (now >= ctx_.s.measure_end || ctx_.s.abort.load(std::memory_order_relaxed)) {
      writer_done_ = true;
      sh_.writer_done.store(true);
      ctx_.s.unsent.fetch_add(schedule_.unsent_at_end(ctx_.s));
      return;
    }
    Clock::time_point intended = now;
    if (o.rate > 0) {
      if (!schedule_.active()) schedule_.start(ctx_.s.start, Nanos(static_cast<int64_t>(1e9 / o.rate)));
      std::optional<Clock::time_point> due = schedule_.take(ctx_.s, now, wake);
      if (!due) return;
      intended = *due;
    }
    uint64_t sent = since(ctx_.s, intended);
    sh_.events.store(0);
    sh_.armed.store(0);
    sh_.last_event_ns.store(0);
    sh_.record.store(in_window(ctx_.s, sent));
    sh_.sent_ns.store(sent);
    body_.clear();
    uc::encode_set_data(body_, ctx_.s.fanout_path, ctx_.s.value);
    conn_->submit(uc::op::kSetData, body_, sent);
    conn_->flush();
    in_round_ = true;
    set_replied_ = false;
  }

  void on_reply(const uc::Reply& r) {
    count_reply(r, r.err == uc::err::kOk);
    if (r.err != uc::err::kOk) {
      error("fan-out request failed");
      ctx_.s.abort.store(true);
      return;
    }
    if (writer_) {
      set_replied_ = true;
      return;
    }
    if (sh_.armed.fetch_add(1) + 1 == sh_.watchers) sh_.writer_poller->wake();
  }

  void on_event(const uc::WatchEvent& e) {
    if (e.type != kEventNodeDataChanged || e.path != ctx_.s.fanout_path) return;
    uint64_t arrived = now_ns(ctx_.s);
    uint64_t sent = sh_.sent_ns.load();
    bool record = sh_.record.load();
    ctx_.progress.completed.fetch_add(1, std::memory_order_relaxed);
    if (record) ctx_.hist[kWatchEvent].record(arrived - std::min(arrived, sent));
    // The latest arrival must be published before this watcher counts itself: the one that counts last reads it.
    uint64_t last = sh_.last_event_ns.load();
    while (last < arrived && !sh_.last_event_ns.compare_exchange_weak(last, arrived)) {
    }
    if (sh_.events.fetch_add(1) + 1 == sh_.watchers && record) {
      uint64_t latest = sh_.last_event_ns.load();
      ctx_.hist[kLastWatcher].record(latest - std::min(latest, sent));
    }
    arm();
  }

  FanoutShared& sh_;
  const bool writer_;
  // Watcher: whether the first getData with watch went out.
  bool armed_once_ = false;
  // Writer: the round in progress, and the open-loop schedule.
  bool in_round_ = false;
  bool set_replied_ = false;
  bool writer_done_ = false;
  OpenLoopSchedule schedule_;
};

// ---------------------------------------------------------------------------------------------------------------
// lock-handoff

struct LockShared {
  explicit LockShared(RunShared& s) : child_prefix(s.lock_dir + "/n-") {}
  const std::string child_prefix;
  // When the last holder's delete was sent; 0: no holder yet. Written by the holder before its delete goes out,
  // read by the next holder after the server applied that delete, so one variable serves the whole run.
  std::atomic<uint64_t> release_ns{0};
};

// The children in a getChildren reply, as views into it; false if malformed.
template <class F>
bool for_each_child(std::string_view body, F&& f) {
  auto be32 = [&body](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) v = (v << 8) | static_cast<uint8_t>(body[at + i]);
    return static_cast<int32_t>(v);
  };
  if (body.size() < 4) return false;
  int32_t n = be32(0);
  size_t at = 4;
  for (int32_t i = 0; i < n; i++) {
    if (body.size() - at < 4) return false;
    int32_t len = be32(at);
    at += 4;
    if (len < 0 || body.size() - at < static_cast<size_t>(len)) return false;
    f(body.substr(at, static_cast<size_t>(len)));
    at += static_cast<size_t>(len);
  }
  return true;
}

class Contender : public Actor {
 public:
  Contender(Context ctx, LockShared& shared, int index, std::unique_ptr<uc::Connection> conn)
      : Actor(ctx, index, std::move(conn)), sh_(shared) {
    conn_->set_reply_handler([this](const uc::Reply& r) { on_reply(r); });
    conn_->set_watch_handler([this](const uc::WatchEvent& e) { on_event(e); });
  }

  void step(Clock::time_point now, Clock::time_point&) {
    if (state_ != State::kStart) return;
    if (now < ctx_.s.measure_end && !ctx_.s.abort.load(std::memory_order_relaxed)) {
      enqueue();
    } else {
      state_ = State::kDone;
    }
  }

  bool done() const { return state_ == State::kDone && conn_->in_flight() == 0; }

 private:
  enum class State {
    kStart,      // nothing sent yet
    kCreating,   // create of our child sent
    kListing,    // getChildren sent
    kChecking,   // exists with watch on the predecessor sent
    kWaiting,    // the predecessor's deletion is awaited
    kReleasing,  // the last release: delete sent, no re-queueing
    kDone,
  };

  void enqueue() {
    body_.clear();
    uc::encode_create(body_, sh_.child_prefix, "", uc::kCreateEphemeralSequential);
    submit(uc::op::kCreate, body_);
    state_ = State::kCreating;
  }

  void list() {
    body_.clear();
    uc::encode_path_watch(body_, ctx_.s.lock_dir, false);
    submit(uc::op::kGetChildren, body_);
    state_ = State::kListing;
  }

  void on_reply(const uc::Reply& r) {
    // exists answering NONODE is the recipe's normal race (the predecessor left between getChildren and exists).
    bool expected = r.err == uc::err::kOk || (r.op == uc::op::kExists && r.err == uc::err::kNoNode);
    count_reply(r, expected);
    if (!expected) return fail("lock recipe request failed");
    switch (r.op) {
      case uc::op::kCreate: {
        std::string path = uc::decode_create_reply(r.body);
        if (path.size() <= ctx_.s.lock_dir.size() + 1) return fail("bad create reply");
        mine_.assign(path, ctx_.s.lock_dir.size() + 1);
        list();
        return;
      }
      case uc::op::kGetChildren: return decide(r.body);
      case uc::op::kExists:
        if (r.err == uc::err::kNoNode || predecessor_gone_) return list();
        state_ = State::kWaiting;
        return;
      case uc::op::kDelete:
        if (state_ == State::kReleasing) state_ = State::kDone;
        return;
      default: return;
    }
  }

  void on_event(const uc::WatchEvent& e) {
    if (e.type != kEventNodeDeleted || e.path != watched_) return;
    ctx_.progress.completed.fetch_add(1, std::memory_order_relaxed);
    watched_.clear();
    if (state_ == State::kWaiting) return list();
    if (state_ == State::kChecking) predecessor_gone_ = true;  // the exists reply comes first; act on it then
  }

  // getChildren answered: holds the lock if our child is the lowest, else watch the next lower one.
  void decide(std::string_view body) {
    bool found = false;
    predecessor_.clear();
    bool ok = for_each_child(body, [&](std::string_view name) {
      if (name == mine_) {
        found = true;
      } else if (name < mine_ && (predecessor_.empty() || name > predecessor_)) {
        predecessor_.assign(name);  // children are "n-" + 10 digits: string order is sequence order
      }
    });
    if (!ok || !found) return fail(ok ? "our lock child is gone" : "bad getChildren reply");
    if (predecessor_.empty()) return acquired();
    watched_.assign(ctx_.s.lock_dir).append("/").append(predecessor_);
    predecessor_gone_ = false;
    body_.clear();
    uc::encode_path_watch(body_, watched_, true);
    submit(uc::op::kExists, body_);
    state_ = State::kChecking;
  }

  // Holds the lock: records the hand-off, then releases at once and re-queues (while the window lasts).
  void acquired() {
    uint64_t t = now_ns(ctx_.s);
    uint64_t released = sh_.release_ns.load();
    if (released != 0 && in_window(ctx_.s, released)) ctx_.hist[kHandoff].record(t - std::min(t, released));
    if (released != 0) ctx_.progress.completed.fetch_add(1, std::memory_order_relaxed);
    path_.assign(ctx_.s.lock_dir).append("/").append(mine_);
    body_.clear();
    uc::encode_delete(body_, path_);
    sh_.release_ns.store(now_ns(ctx_.s));
    submit(uc::op::kDelete, body_);
    if (Clock::now() < ctx_.s.measure_end && !ctx_.s.abort.load(std::memory_order_relaxed)) {
      enqueue();
    } else {
      state_ = State::kReleasing;
    }
  }

  void fail(const char* what) {
    error(what);
    ctx_.s.abort.store(true);
    state_ = State::kDone;
  }

  LockShared& sh_;
  State state_ = State::kStart;
  std::string mine_;         // our child's name (without the lock node's path)
  std::string predecessor_;  // the next lower child's name
  std::string watched_;      // the full path whose deletion we wait for
  std::string path_;         // our child's full path, for the delete
  bool predecessor_gone_ = false;
};

}  // namespace

std::unique_ptr<WorkerSet> open_watch_fanout(RunShared& s, std::vector<std::unique_ptr<Progress>>& progress) {
  return std::make_unique<CoordWorkers<FanoutSession, FanoutShared>>(s, progress);
}

std::unique_ptr<WorkerSet> open_lock_handoff(RunShared& s, std::vector<std::unique_ptr<Progress>>& progress) {
  return std::make_unique<CoordWorkers<Contender, LockShared>>(s, progress);
}

}  // namespace ukbench
