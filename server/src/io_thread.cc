#include "io_thread.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "clock.h"
#include "ukeeper/common/log.h"
#include "ukeeper/server/proto.h"

namespace uk {
namespace {

constexpr uint64_t kWakeTag = 0;  // connection ids start far above
constexpr size_t kReadChunk = 64 * 1024;
// A client that stops reading its replies stops being read from once this much is queued for it.
constexpr size_t kOutputHighWater = 4 * 1024 * 1024;
constexpr size_t kQueueSlots = 4096;

int32_t be32(const char* p) {
  return static_cast<int32_t>((static_cast<uint32_t>(static_cast<uint8_t>(p[0])) << 24) |
                              (static_cast<uint32_t>(static_cast<uint8_t>(p[1])) << 16) |
                              (static_cast<uint32_t>(static_cast<uint8_t>(p[2])) << 8) |
                              static_cast<uint32_t>(static_cast<uint8_t>(p[3])));
}

int64_t be64(const char* p) {
  return static_cast<int64_t>((static_cast<uint64_t>(static_cast<uint32_t>(be32(p))) << 32) |
                              static_cast<uint32_t>(be32(p + 4)));
}

void store_min(std::atomic<int64_t>& a, int64_t v) {
  int64_t cur = a.load(std::memory_order_relaxed);
  if (cur < 0 || v < cur) a.store(v, std::memory_order_relaxed);
}

void store_max(std::atomic<int64_t>& a, int64_t v) {
  if (v > a.load(std::memory_order_relaxed)) a.store(v, std::memory_order_relaxed);
}

void bump(std::atomic<uint64_t>& a) { a.store(a.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }

}  // namespace

void ConnStats::reset() {
  packets_received = 0;
  packets_sent = 0;
  requests = 0;
  last_latency_us = 0;
  latency_min_us = -1;
  latency_max_us = 0;
  latency_sum_us = 0;
}

void IoCounters::reset_latency() {
  packets_received = 0;
  packets_sent = 0;
  requests = 0;
  latency_min_us = -1;
  latency_max_us = 0;
  latency_sum_us = 0;
}

bool is_four_letter_word(std::string_view w) {
  static constexpr std::string_view kWords[] = {"ruok", "srvr", "stat", "mntr", "conf", "cons", "wchs", "wchc",
                                                "wchp", "dump", "envi", "isro", "dirs", "crst", "srst", "gtmk",
                                                "stmk", "hash"};
  return std::find(std::begin(kWords), std::end(kWords), w) != std::end(kWords);
}

struct IoThread::Conn {
  uint64_t id = 0;
  Fd fd;
  std::string peer_ip;
  std::shared_ptr<ConnStats> stats;
  std::vector<Id> auth_ids;
  std::string in;
  size_t in_pos = 0;  // bytes of `in` already consumed
  std::string out;
  size_t out_pos = 0;            // bytes of `out` already written
  std::deque<int64_t> waiting;   // arrival times of the frames the pipeline has not answered, oldest first
  uint32_t watch_regs = 0;       // watch registrations the pipeline has not acknowledged
  bool seen_first = false;       // the first frame (or four-letter word) arrived
  bool handshake_answered = false;
  bool may_have_watches = false;  // the pipeline may hold watches of this connection
  bool four_letter = false;       // a four-letter-word connection: raw text back, then close
  bool eof = false;               // the client closed its side
  bool close_after_flush = false;
  bool stalled = false;  // framed input waits for the backlog towards the pipeline to drain
  bool closed = false;
  uint32_t epoll_events = EPOLLIN | EPOLLRDHUP;
};

IoThread::IoThread(int index, const ServerConfig& config, const DataTree& tree, int pipeline_wake)
    : index_(index),
      config_(config),
      reader_(tree),
      pipeline_wake_(pipeline_wake),
      to_io_(kQueueSlots),
      to_pipeline_(kQueueSlots),
      wake_fd_(make_wake_fd()),
      read_buf_(std::make_unique<char[]>(kReadChunk)) {
  epoll_.add(wake_fd_.get(), EPOLLIN, kWakeTag);
}

IoThread::~IoThread() { stop(); }

void IoThread::start() { thread_ = std::thread([this] { run(); }); }

void IoThread::stop() {
  if (inline_) {
    close_all();
    return;
  }
  if (!thread_.joinable()) return;
  stopping_.store(true);
  wake();
  thread_.join();
}

void IoThread::wake() {
  if (!inline_) signal_wake_fd(wake_fd_.get());
}

uint64_t IoThread::in_flight(const Conn& c) const { return c.waiting.size() + c.watch_regs; }

void IoThread::run() {
  while (!stopping_.load(std::memory_order_relaxed)) {
    poll_sockets(wanted_wait_us());
    finish_turn();
  }
  close_all();
}

int64_t IoThread::wanted_wait_us() const {
  // With a backlog towards the pipeline, come back soon to push it even if nothing else happens; with output
  // still to send, do not wait at all.
  return !dirty_.empty() ? 0 : backlog_.empty() ? 100'000 : 200;
}

void IoThread::poll_sockets(int64_t wait_us) {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  int n = epoll_.wait_us(events, kMaxEvents, wait_us);
  turn_wall_ms_ = wall_ms();
  for (int i = 0; i < n; i++) {
    uint64_t tag = events[i].data.u64;
    if (tag == kWakeTag) {
      drain_wake_fd(wake_fd_.get());
      continue;
    }
    auto it = conns_.find(tag);
    if (it == conns_.end() || it->second->closed) continue;
    Conn& c = *it->second;
    if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) on_readable(c);
    if (!c.closed && (events[i].events & EPOLLOUT)) flush(c);
  }
}

bool IoThread::finish_turn() {
  turn_wall_ms_ = wall_ms();  // (inline, a reply may come turns after the last poll)
  drain_inbound();
  push_backlog();
  flush_dirty();
  for (uint64_t id : dead_) conns_.erase(id);
  dead_.clear();
  if (!pushed_) return false;
  pushed_ = false;
  if (!inline_) signal_wake_fd(pipeline_wake_);
  return true;
}

void IoThread::close_all() {
  for (auto& [id, c] : conns_) close(*c, "server shutting down", false);
  conns_.clear();
}

void IoThread::flush_dirty() {
  std::vector<uint64_t> ids;
  ids.swap(dirty_);
  for (uint64_t id : ids) {
    auto it = conns_.find(id);
    if (it != conns_.end() && !it->second->closed) flush(*it->second);
  }
}

void IoThread::drain_inbound() {
  ToIo m;
  while (to_io_.try_pop(m)) on_inbound(m);
}

void IoThread::on_inbound(ToIo& m) {
  if (m.kind == ToIo::Kind::kAdopt) {
    auto c = std::make_unique<Conn>();
    c->id = m.conn;
    c->fd = std::move(m.fd);
    c->peer_ip = std::move(m.peer_ip);
    c->stats = std::move(m.stats);
    c->auth_ids = std::move(m.auth_ids);
    c->stats->last_heard_ms.store(mono_ms(), std::memory_order_relaxed);
    if (!epoll_.add(c->fd.get(), c->epoll_events, c->id)) {
      UK_WARN("io thread %d: epoll add of a new connection failed: %s", index_, std::strerror(errno));
      ToPipeline gone;
      gone.kind = ToPipeline::Kind::kClosed;
      gone.conn = c->id;
      gone.bytes = "epoll_ctl failed";
      forward(std::move(gone));
      return;
    }
    // Bytes may already be waiting: level-triggered epoll reports them on the next wait.
    conns_.emplace(m.conn, std::move(c));
    return;
  }
  auto it = conns_.find(m.conn);
  if (it == conns_.end() || it->second->closed) return;  // closed here first; the pipeline hears of it
  Conn& c = *it->second;
  if (m.kind == ToIo::Kind::kClose) {
    close(c, "closed by the server", false);
    return;
  }
  apply_output(c, m);
  // Flushed at the end of the turn, never from here: this may run inside process_input() of the same connection.
  dirty_.push_back(c.id);
}

void IoThread::apply_output(Conn& c, ToIo& m) {
  c.watch_regs -= std::min(c.watch_regs, m.watch_acks);
  if (m.auth_changed) c.auth_ids = std::move(m.auth_ids);
  ConnStats& s = *c.stats;
  if (!c.four_letter) {
    // Count the replies: every frame answers one request, but a watch event (xid -1); the first answers the
    // handshake (a ConnectResponse has no reply header).
    const std::string& b = m.bytes;
    size_t pos = 0;
    while (pos + 4 <= b.size()) {
      int32_t len = be32(b.data() + pos);
      if (len < 0 || pos + 4 + static_cast<size_t>(len) > b.size()) break;  // never: the pipeline frames whole
      const char* body = b.data() + pos + 4;
      bool answers = true;
      if (!c.handshake_answered) {
        c.handshake_answered = true;
      } else if (len >= 16) {
        answers = be32(body) != kXidWatchEvent;
        s.last_zxid.store(be64(body + 4), std::memory_order_relaxed);
      }
      if (answers && !c.waiting.empty()) {
        int64_t start = c.waiting.front();
        c.waiting.pop_front();
        note_answer(c, start);
      } else {
        bump(s.packets_sent);
        bump(counters_.packets_sent);
      }
      pos += 4 + static_cast<size_t>(len);
    }
  }
  c.out.append(m.bytes);
  if (m.close_after) c.close_after_flush = true;
  // With nothing in flight the pipeline's word is the whole truth; otherwise a request still with it may add one.
  if (in_flight(c) == 0) {
    c.may_have_watches = m.has_watches;
  } else {
    c.may_have_watches = c.may_have_watches || m.has_watches;
  }
}

void IoThread::note_answer(Conn& c, int64_t start_us) {
  ConnStats& s = *c.stats;
  int64_t lat = mono_us() - start_us;
  bump(s.packets_sent);
  bump(s.requests);
  s.outstanding.store(static_cast<uint32_t>(in_flight(c)), std::memory_order_relaxed);
  s.last_latency_us.store(lat, std::memory_order_relaxed);
  s.latency_sum_us.store(s.latency_sum_us.load(std::memory_order_relaxed) + lat, std::memory_order_relaxed);
  store_max(s.latency_max_us, lat);
  store_min(s.latency_min_us, lat);
  s.last_response_wall_ms.store(turn_wall_ms_, std::memory_order_relaxed);
  bump(counters_.packets_sent);
  bump(counters_.requests);
  counters_.latency_sum_us.store(counters_.latency_sum_us.load(std::memory_order_relaxed) + lat,
                                 std::memory_order_relaxed);
  store_max(counters_.latency_max_us, lat);
  store_min(counters_.latency_min_us, lat);
}

void IoThread::on_readable(Conn& c) {
  if (c.stalled) return;
  if (c.eof) {
    // Only hang-ups arrive here once the client closed its side and reading stopped.
    close(c, "client closed the connection", true);
    return;
  }
  for (;;) {
    ssize_t n = ::read(c.fd.get(), read_buf_.get(), kReadChunk);
    if (n > 0) {
      c.in.append(read_buf_.get(), static_cast<size_t>(n));
      if (static_cast<size_t>(n) < kReadChunk) break;
      continue;
    }
    if (n == 0) {
      // The client closed its side. Answer what already arrived (a 4lw client may half-close), then go.
      c.eof = true;
      process_input(c);
      if (!c.closed) flush(c);
      return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    if (errno == EINTR) continue;
    close(c, std::strerror(errno), true);
    return;
  }
  process_input(c);
  // Send the replies served here at once: waiting for EPOLLOUT would cost two epoll_ctl calls and a loop turn.
  if (!c.closed) flush(c);
}

void IoThread::process_input(Conn& c) {
  // One clock reading for every frame taken in this call: they arrived together.
  const int64_t now_us = mono_us();
  while (!c.closed && !c.close_after_flush && !c.four_letter) {
    size_t avail = c.in.size() - c.in_pos;
    if (avail < 4) break;
    if (!backlog_.empty()) {
      // The pipeline is behind: leave the rest in the buffer and stop reading this client until it catches up.
      c.stalled = true;
      stalled_.push_back(c.id);
      break;
    }
    std::string_view head(c.in.data() + c.in_pos, 4);
    if (!c.seen_first && is_four_letter_word(head)) {
      c.seen_first = true;
      c.four_letter = true;
      c.in_pos += 4;
      c.waiting.push_back(now_us);
      ToPipeline m;
      m.kind = ToPipeline::Kind::kFourLetter;
      m.conn = c.id;
      m.bytes = std::string(head);
      forward(std::move(m));
      break;
    }
    int32_t len = be32(head.data());
    if (len < 0 || len > config_.jute_max_buffer) {
      bump(counters_.bad_frames);
      UK_WARN("connection from %s: frame length %d outside 0..%d (jute.maxbuffer), closing", c.peer_ip.c_str(), len,
              config_.jute_max_buffer);
      close(c, "bad frame length", true);
      return;
    }
    if (avail < 4 + static_cast<size_t>(len)) break;
    std::string_view frame(c.in.data() + c.in_pos + 4, static_cast<size_t>(len));
    c.in_pos += 4 + static_cast<size_t>(len);
    c.seen_first = true;
    ConnStats& s = *c.stats;
    bump(s.packets_received);
    bump(counters_.packets_received);
    s.last_heard_ms.store(now_us / 1000, std::memory_order_relaxed);
    int32_t op = 0;
    if (c.handshake_answered && frame.size() >= 8) {
      op = be32(frame.data() + 4);
      s.last_cxid.store(be32(frame.data()), std::memory_order_relaxed);
      s.last_op.store(op, std::memory_order_relaxed);
    }
    if (try_serve(c, frame, now_us)) continue;
    if (is_snapshot_read(static_cast<OpCode>(op))) bump(counters_.reads_forwarded);
    ToPipeline m;
    m.kind = ToPipeline::Kind::kFrame;
    m.conn = c.id;
    m.bytes = std::string(frame);
    c.waiting.push_back(now_us);
    s.outstanding.store(static_cast<uint32_t>(in_flight(c)), std::memory_order_relaxed);
    bump(counters_.forwarded);
    forward(std::move(m));
  }
  if (c.in_pos > 0) {
    c.in.erase(0, c.in_pos);
    c.in_pos = 0;
  }
}

bool IoThread::try_serve(Conn& c, std::string_view frame, int64_t start_us) {
  if (!c.handshake_answered || in_flight(c) != 0 || c.eof) return false;
  JuteReader r(frame);
  RequestHeader h;
  if (!decode(r, h)) return false;  // the pipeline answers malformed input
  auto op = static_cast<OpCode>(h.type);
  bool ping = op == OpCode::kPing;
  if (!ping && !is_snapshot_read(op)) return false;
  ReadGuard g = reader_.guard();
  Zxid zxid = g.last_zxid();
  if (c.may_have_watches && !ping) {
    // An event for a txn this snapshot shows must reach the client first: it must already be here.
    if (shipped_through_.load(std::memory_order_acquire) < zxid) return false;
    drain_inbound();  // only answers and events: nothing new is in flight after it
    if (c.closed) return true;
  }
  std::string body;
  JuteWriter bw(body);
  ReadResult res;
  if (!ping) res = serve_snapshot_read(g, c.auth_ids, op, r, bw);
  JuteWriter w(c.out);
  size_t f = w.begin_frame();
  encode(w, ReplyHeader{h.xid, zxid, to_wire(res.err)});
  if (res.err == Err::kOk) c.out.append(body);
  w.end_frame(f);
  c.stats->last_zxid.store(zxid, std::memory_order_relaxed);
  note_answer(c, start_us);
  if (!ping) bump(counters_.reads_served);
  if (res.watch != ReadWatch::kNone) {
    ToPipeline m;
    m.kind = ToPipeline::Kind::kWatch;
    m.watch = res.watch;
    m.conn = c.id;
    m.zxid = zxid;
    m.bytes = std::move(res.path);
    c.watch_regs++;
    c.may_have_watches = true;
    forward(std::move(m));
  }
  return true;
}

void IoThread::forward(ToPipeline m) {
  if (backlog_.empty() && to_pipeline_.try_push(m)) {
    pushed_ = true;
    return;
  }
  backlog_.push_back(std::move(m));
  if (backlog_.size() > counters_.backlog_peak.load(std::memory_order_relaxed)) {
    counters_.backlog_peak.store(backlog_.size(), std::memory_order_relaxed);
  }
}

void IoThread::push_backlog() {
  while (!backlog_.empty() && to_pipeline_.try_push(backlog_.front())) {
    backlog_.pop_front();
    pushed_ = true;
  }
  if (!backlog_.empty() || stalled_.empty()) return;
  std::vector<uint64_t> resume;
  resume.swap(stalled_);
  for (uint64_t id : resume) {
    auto it = conns_.find(id);
    if (it == conns_.end() || it->second->closed) continue;
    Conn& c = *it->second;
    c.stalled = false;
    process_input(c);
    if (!c.closed) flush(c);
  }
}

void IoThread::flush(Conn& c) {
  while (c.out_pos < c.out.size()) {
    ssize_t n = ::send(c.fd.get(), c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_pos += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    close(c, n < 0 ? std::strerror(errno) : "send returned 0", true);
    return;
  }
  if (c.out_pos == c.out.size()) {
    c.out.clear();
    c.out_pos = 0;
    if (c.close_after_flush) {
      close(c, "closed after reply", true);
      return;
    }
    if (c.eof && in_flight(c) == 0) {
      close(c, "client closed the connection", true);
      return;
    }
  } else if (c.out_pos > (1u << 20)) {
    c.out.erase(0, c.out_pos);
    c.out_pos = 0;
  }
  update_interest(c);
}

void IoThread::update_interest(Conn& c) {
  size_t queued = c.out.size() - c.out_pos;
  bool want_read = !c.close_after_flush && !c.eof && !c.stalled && !c.four_letter && queued < kOutputHighWater;
  uint32_t ev = 0;
  if (want_read) ev |= EPOLLIN | EPOLLRDHUP;
  if (queued > 0) ev |= EPOLLOUT;
  bool was_reading = (c.epoll_events & EPOLLIN) != 0;
  if (ev != c.epoll_events) {
    epoll_.modify(c.fd.get(), ev, c.id);
    c.epoll_events = ev;
  }
  // Input left in the buffer while reading was paused (output over the high-water mark): serve it now that
  // reading resumes; what it answers goes out at the end of the turn.
  if (want_read && !was_reading && c.in.size() > c.in_pos) {
    process_input(c);
    dirty_.push_back(c.id);
  }
}

void IoThread::close(Conn& c, const char* why, bool tell_pipeline) {
  if (c.closed) return;
  c.closed = true;
  UK_DEBUG("io thread %d: closing connection %" PRIu64 " from %s: %s", index_, c.id, c.peer_ip.c_str(), why);
  epoll_.remove(c.fd.get());
  c.fd.reset();
  dead_.push_back(c.id);
  if (!tell_pipeline) return;
  ToPipeline m;
  m.kind = ToPipeline::Kind::kClosed;
  m.conn = c.id;
  m.bytes = why;
  forward(std::move(m));
}

}  // namespace uk
