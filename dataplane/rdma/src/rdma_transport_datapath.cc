// RdmaTransport data path: send, flush (RDMA WRITE WITH IMMEDIATE from the staging ring), completions, delivery
// from the receive ring, credit return, the poll loop and spin-then-block waiting. Setup and the handshake are in
// rdma_transport.cc. No allocation here except the backlog (only while a peer's ring is full) and the delivered
// messages themselves (PeerEvent owns a std::string).
#include <arpa/inet.h>
#include <errno.h>
#include <sys/epoll.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "ukeeper/common/log.h"
#include "ukeeper/dataplane/rdma/rdma_transport.h"

namespace uk {
namespace {

constexpr int kCompletionBatch = 32;
constexpr int kMaxEventsPerPoll = 64;
constexpr uint64_t kListenerTag = 0;
constexpr uint64_t kCompletionChannelTag = 1;
// While spinning, control sockets are checked (a system call) once per this many completion-queue polls.
constexpr uint64_t kSpinPollsPerSocketCheck = 64;

const char* opcode_name(ibv_wc_opcode op) {
  switch (op) {
    case IBV_WC_RDMA_WRITE: return "RDMA WRITE";
    case IBV_WC_RECV_RDMA_WITH_IMM: return "RECV RDMA WITH IMM";
    case IBV_WC_RECV: return "RECV";
    default: return "other";
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Sending

bool RdmaTransport::send(PeerId peer, std::string_view message) {
  Peer* p = find_peer(peer);
  Channel* c = p != nullptr ? find_chan(p->channel) : nullptr;
  if (c == nullptr || c->state != ChanState::kUp) {
    if (p != nullptr) ++p->counters.dropped;
    return false;
  }
  if (message.size() > options_.max_message_bytes) {
    ++p->counters.dropped;
    UK_WARN("not sending a %zu-byte message to peer %lld: above max_message_bytes %zu", message.size(),
            static_cast<long long>(peer), options_.max_message_bytes);
    return false;
  }
  ++p->counters.messages_sent;
  p->counters.bytes_sent += message.size();
  bool idle = !p->writer->has_unposted();
  size_t offset = 0;
  if (!p->backlog.empty() || !p->writer->append(message, offset)) {
    // The peer's ring is full: the rest waits for credit. Whole messages are kept (the writer needs the total
    // length and offset to frame the remaining fragments).
    if (p->backlog.empty()) p->backlog_offset = offset;
    p->backlog.emplace_back(message);
    p->backlog_bytes += message.size() - offset;
    ++p->stats.credit_stalls;
    p->stats.backlog_peak_bytes = std::max<uint64_t>(p->stats.backlog_peak_bytes, p->backlog_bytes);
  }
  if (idle && c->immediate_turn != turn_) {
    c->immediate_turn = turn_;
    flush(*c, *p);  // a lone message pays no batching delay; if the channel broke here, kDisconnected follows
  }
  return true;
}

void RdmaTransport::drain_backlog(Peer& p) {
  while (!p.backlog.empty()) {
    const std::string& m = p.backlog.front();
    size_t before = p.backlog_offset;
    bool done = p.writer->append(m, p.backlog_offset);
    p.backlog_bytes -= p.backlog_offset - before;
    if (!done) return;
    p.backlog.pop_front();
    p.backlog_offset = 0;
  }
}

bool RdmaTransport::send_queue_room(const Channel& c, uint32_t wrs) const {
  return c.wr_posted + wrs - c.wr_retired <= c.qp.caps().max_send_wr;
}

// One signalled work request per quarter of the send queue: the queue cannot fill up without one in flight,
// whose completion retires everything posted before it.
bool RdmaTransport::should_signal(const Channel& c) const {
  return c.wr_posted + 1 - c.last_signalled >= c.qp.caps().max_send_wr / 4;
}

// Posts everything appended to the peer's ring since the last flush: one RDMA WRITE WITH IMMEDIATE, or a plain
// WRITE and one with the immediate when the bytes wrap. Returns false when the channel closed.
bool RdmaTransport::flush(Channel& c, Peer& p) {
  if (!p.writer->has_unposted()) return true;
  rdma::FlushPlan plan = p.writer->plan_flush(!p.backlog.empty());
  if (!send_queue_room(c, static_cast<uint32_t>(plan.count))) {
    ++p.stats.send_queue_full;  // retried once a signalled completion retires work requests
    return true;
  }
  ibv_send_wr wrs[2];
  ibv_sge sges[2];
  for (int i = 0; i < plan.count; ++i) {
    const rdma::WriteSpan& span = plan.spans[i];
    // Never outside the ring the peer registered for us.
    if (uint64_t{span.offset} + span.bytes > options_.ring_bytes) std::abort();
    bool last = i == plan.count - 1;
    bool inline_ok = span.bytes <= c.qp.caps().max_inline_data;
    bool signalled = should_signal(c);
    uint64_t id = ++c.wr_posted;
    if (signalled) c.last_signalled = id;
    verbs::make_write(wrs[i], sges[i], p.staging_mr.addr() + span.offset, span.bytes, p.staging_mr.lkey(),
                      c.remote_ring_addr + span.offset, c.remote_rkey, last, rdma::data_imm(plan.total_bytes),
                      inline_ok, signalled, id);
    if (i > 0) wrs[i - 1].next = &wrs[i];
    ++p.stats.writes_posted;
    if (inline_ok) ++p.stats.inline_writes;
  }
  if (int rc = c.qp.post_send(wrs[0]); rc != 0) {
    close_chan(c, std::string("ibv_post_send (ring write): ") + std::strerror(rc));
    return false;
  }
  p.writer->mark_posted(plan);
  p.stats.write_bytes += plan.total_bytes;
  ++p.stats.flushes;
  return true;
}

// Returns ring space to the peer: a zero-length RDMA WRITE WITH IMMEDIATE carrying the consumed counter.
bool RdmaTransport::return_credit(Channel& c, Peer& p) {
  if (!p.reader->credit_due() || !send_queue_room(c, 1)) return true;
  uint64_t consumed = p.reader->consumed();
  ibv_send_wr wr;
  ibv_sge sge;
  bool signalled = should_signal(c);
  uint64_t id = ++c.wr_posted;
  if (signalled) c.last_signalled = id;
  verbs::make_write(wr, sge, nullptr, 0, 0, c.remote_ring_addr, c.remote_rkey, true, rdma::credit_imm(consumed),
                    false, signalled, id);
  if (int rc = c.qp.post_send(wr); rc != 0) {
    close_chan(c, std::string("ibv_post_send (credit): ") + std::strerror(rc));
    return false;
  }
  p.reader->take_credit();
  ++p.stats.credit_writes;
  return true;
}

bool RdmaTransport::repost_receives(Channel& c) {
  uint32_t n = c.recv_to_repost;
  if (n == 0) return true;
  for (uint32_t i = 0; i < n; ++i) {
    recv_wrs_[i] = ibv_recv_wr{};  // no scatter entries: writes with immediate consume a receive, not its memory
    recv_wrs_[i].next = i + 1 < n ? &recv_wrs_[i + 1] : nullptr;
  }
  if (c.qp.post_recv(recv_wrs_[0]) != 0) return false;
  c.recv_to_repost = 0;
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// Completions

int RdmaTransport::poll_completions() {
  int total = 0;
  ibv_wc wcs[kCompletionBatch];
  for (auto& [id, p] : peers_) {
    Channel* c = find_chan(p.channel);
    if (c == nullptr || !c->cq) continue;
    ++stats_.cq_polls;
    int n = c->cq.poll(wcs, kCompletionBatch);
    if (n < 0) {
      close_chan(*c, "completion queue polling failed");
      continue;
    }
    stats_.completions += static_cast<uint64_t>(n);
    total += n;
    bool open = true;
    for (int i = 0; i < n && open; ++i) open = on_completion(*c, wcs[i]);
    if (open && !repost_receives(*c)) close_chan(*c, "ibv_post_recv failed");
  }
  return total;
}

// Returns false when the channel closed.
bool RdmaTransport::on_completion(Channel& c, const ibv_wc& wc) {
  Peer& p = *find_peer(c.peer);
  if (wc.status != IBV_WC_SUCCESS) {
    ++stats_.error_completions;
    char why[160];
    std::snprintf(why, sizeof why, "error completion: %s (%s, vendor error 0x%x)", ibv_wc_status_str(wc.status),
                  opcode_name(wc.opcode), wc.vendor_err);
    close_chan(c, why);
    return false;
  }
  if (wc.opcode == IBV_WC_RDMA_WRITE) {
    ++p.stats.send_completions;
    c.wr_retired = std::max<uint64_t>(c.wr_retired, wc.wr_id);
    return true;
  }
  if (wc.opcode != IBV_WC_RECV_RDMA_WITH_IMM || (wc.wc_flags & IBV_WC_WITH_IMM) == 0) {
    close_chan(c, std::string("unexpected completion ") + opcode_name(wc.opcode));
    return false;
  }
  ++p.stats.recv_completions;
  ++c.recv_to_repost;
  uint32_t imm = ntohl(wc.imm_data);
  if ((imm & rdma::kImmCreditBit) != 0) {
    uint64_t consumed = 0;
    if (!rdma::consumed_from_credit_imm(imm, p.writer->consumed_known(), p.writer->posted(), consumed) ||
        !p.writer->on_credit(consumed)) {
      ++p.counters.dropped;
      close_chan(c, "peer returned credit for bytes never written");
      return false;
    }
    ++p.stats.credits_received;
    return true;
  }
  if (!p.reader->on_write(imm)) {
    ++p.counters.dropped;
    close_chan(c, "peer announced " + std::to_string(imm) + " ring bytes, more than the ring has room for");
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// Delivery and the poll loop

void RdmaTransport::deliver(Channel& c, Peer& p) {
  std::string message;
  for (;;) {
    rdma::RingReader::Result r = p.reader->next(message);
    if (r == rdma::RingReader::Result::kEmpty) break;
    if (r == rdma::RingReader::Result::kCorrupt) {
      ++p.counters.dropped;
      UK_WARN("peer %lld wrote a malformed record into its rdma ring (%s); disconnecting",
              static_cast<long long>(c.peer), p.reader->error().c_str());
      close_chan(c, "malformed ring record");
      return;
    }
    ++p.counters.messages_received;
    p.counters.bytes_received += message.size();
    events_.push_back(PeerEvent{PeerEvent::Kind::kMessage, c.peer, std::move(message)});
    message = std::string();
  }
  return_credit(c, p);
}

void RdmaTransport::handle_ready_fds() {
  epoll_event evs[kMaxEventsPerPoll];
  int n = epoll_wait(epoll_fd_.get(), evs, kMaxEventsPerPoll, 0);
  for (int i = 0; i < n; ++i) {
    uint64_t tag = evs[i].data.u64;
    if (tag == kListenerTag) {
      accept_pending();
    } else if (tag == kCompletionChannelTag) {
      take_cq_events();
    } else if (Channel* c = find_chan(tag)) {
      on_control(*c, evs[i].events);
    }
  }
}

// Events only wake us; which queue they name does not matter, every queue is polled next.
void RdmaTransport::take_cq_events() {
  while (comp_channel_.take_event() != nullptr) ++stats_.cq_events;
}

void RdmaTransport::poll(int64_t now_ms, std::vector<PeerEvent>& out) {
  now_ms_ = now_ms;
  ++turn_;
  handle_ready_fds();
  expire_handshakes();
  start_due_dials();
  if (poll_completions() > 0) last_work_us_ = monotonic_us();
  for (auto& [id, p] : peers_) {
    Channel* c = find_chan(p.channel);
    if (c == nullptr || c->state != ChanState::kUp) continue;
    deliver(*c, p);
    c = find_chan(p.channel);
    if (c == nullptr) continue;
    drain_backlog(p);
    flush(*c, p);
  }
  out.insert(out.end(), std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
  events_.clear();
}

bool RdmaTransport::has_queued_work() const {
  if (!events_.empty()) return true;
  for (const auto& [id, p] : peers_) {
    auto it = chans_.find(p.channel);
    if (p.channel == 0 || it == chans_.end() || it->second->state != ChanState::kUp) continue;
    const Channel& c = *it->second;
    if (p.reader->tail() > p.reader->consumed()) return true;  // bytes to deliver
    if ((p.writer->has_unposted() || p.reader->credit_due()) && send_queue_room(c, 2)) return true;
    if (!p.backlog.empty() && p.writer->free_bytes() >= p.writer->ring_bytes() / 2) return true;
  }
  return false;
}

bool RdmaTransport::arm_for_wait() {
  for (auto& [id, p] : peers_) {
    Channel* c = find_chan(p.channel);
    if (c == nullptr || !c->cq) continue;
    if (int rc = c->cq.arm(); rc != 0) close_chan(*c, std::string("ibv_req_notify_cq: ") + std::strerror(rc));
  }
  // A completion that arrived before the arm raises no event: look once more.
  return poll_completions() == 0 && !has_queued_work();
}

int64_t RdmaTransport::monotonic_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

int64_t RdmaTransport::block_budget_us() {
  if (has_queued_work() || options_.spin_us < 0) return 0;
  if (monotonic_us() - last_work_us_ < options_.spin_us) return 0;
  return arm_for_wait() ? -1 : 0;
}

void RdmaTransport::wait(int timeout_ms) {
  ++stats_.waits;
  if (has_queued_work()) return;
  // Spin for spin_us, but never past the caller's timeout; spin_us < 0 spins the whole timeout and never blocks.
  using Clock = std::chrono::steady_clock;
  const int64_t timeout_us = timeout_ms < 0 ? INT64_MAX : int64_t{timeout_ms} * 1000;
  const int64_t spin_us = options_.spin_us < 0 ? timeout_us : std::min<int64_t>(options_.spin_us, timeout_us);
  const auto start = Clock::now();
  for (uint64_t i = 1; spin_us > 0; ++i) {
    if (poll_completions() > 0 || has_queued_work()) {
      ++stats_.spin_hits;
      return;
    }
    if (i % kSpinPollsPerSocketCheck == 0) {
      epoll_event ev;
      if (epoll_wait(epoll_fd_.get(), &ev, 1, 0) > 0) {
        ++stats_.spin_hits;
        return;
      }
      if (std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count() >= spin_us) break;
    }
  }
  if (options_.spin_us < 0 || !arm_for_wait()) return;
  ++stats_.blocks;
  epoll_event ev;
  epoll_wait(epoll_fd_.get(), &ev, 1, timeout_ms);  // level-triggered: poll() sees the same readiness
}

}  // namespace uk
