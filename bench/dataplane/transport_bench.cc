// uk_transport_bench: point-to-point benchmarks of the replication transports (tcp, dpdk, rdma) through the
// uk::Transport contract, with Zab's message sizes. Run by bench/dataplane/run.py; usable alone.
//
// Modes (--mode):
//   leader / follower  two processes. The follower answers what the leader sends; the leader runs the plan and
//                      prints the figures:
//       rtt   --rtt-runs R of --rtt-count N round trips (after --warmup W): a PROPOSAL-sized message to the
//             follower, an ACK-sized answer back; p50/p99/p99.9/max per run (clock: steady_clock around send and
//             the poll that returned the answer).
//       rate  for each of --rate-sizes, --rate-runs R of --rate-count N one-way messages, at most --window
//             unanswered: the follower answers each poll that delivered messages with one ACK-sized message
//             carrying the count it has (Zab's pipelined proposals and cumulative acks). Messages per second from
//             the first send to the answer covering the last.
//   pair               one process, both endpoints, one thread, for instruction counts under callgrind: --count
//                      exchanges of [leader: send PROPOSAL, kick] [follower: poll until it arrives, send ACK, kick]
//                      [leader: poll until the ACK arrives]. --collect picks what callgrind counts through client
//                      requests (run valgrind with --collect-atstart=no): leader (its steps only), follower, both,
//                      idle (--count polls of the leader with nothing in flight: the price of an empty poll),
//                      toggles (the client requests alone: two empty regions per count, what one side pays per
//                      exchange for being counted), none, or all: every one of leader, follower, toggles, idle at
//                      each of --counts=N1,N2, each closed by a callgrind dump named transport/kind/count. Polls
//                      that found nothing are counted and printed, so the driver can charge them at the idle price.
//                      Natively (no valgrind) it also gives the user and system CPU time per exchange.
//   sizes              print Zab's message sizes (from the real codec) and exit.
// Transport options: --transport=tcp|dpdk|rdma; tcp/rdma --host, --port (the leader's); dpdk --vdev (repeatable),
// --ip, --peer-ip, --peer-mac, --lcores, --memory-mb, --rto-us; dpdk pair mode: two --vdev ports, --mac-a, --mac-b.
//
// Every figure is printed as one line "RESULT {json}" (the driver's input) after a human-readable line.
// A run whose messages arrive out of order, changed or not at all fails loudly (exit 1); option errors exit 2.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_DUMP_STATS_AT(label)
#endif

#include "endpoints.h"
#include "ukeeper/common/log.h"
#include "ukeeper/consensus/messages.h"

namespace ukbench {
namespace {

using Clock = std::chrono::steady_clock;
using Kind = uk::PeerEvent::Kind;

// Bench message layout: type (1 byte), sequence number (u64), the size the answer must have (u32), filler.
constexpr size_t kHeaderBytes = 13;
constexpr char kProposal = 'P';  // rtt: answer with one message of the asked size and the same sequence number
constexpr char kData = 'D';      // rate: count it; answer once per poll with the count so far
constexpr char kAck = 'A';
constexpr char kStop = 'S';      // answer with kStop, linger, exit

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

[[noreturn]] void fail(const std::string& why) {
  std::printf("FAIL: %s\n", why.c_str());
  std::fflush(stdout);
  std::exit(1);
}

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "uk_transport_bench: %s (see the comment at the top of transport_bench.cc)\n", why.c_str());
  std::exit(2);
}

struct Args {
  std::map<std::string, std::string> kv;
  std::vector<std::string> vdevs;
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  long long num(const std::string& k, long long def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::atoll(it->second.c_str());
  }
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    size_t eq = s.find('=');
    if (s.rfind("--", 0) != 0 || eq == std::string::npos) usage("expected --key=value, got " + s);
    std::string key = s.substr(2, eq - 2);
    if (key == "vdev") {
      a.vdevs.push_back(s.substr(eq + 1));
    } else {
      a.kv[key] = s.substr(eq + 1);
    }
  }
  return a;
}

std::vector<size_t> parse_sizes(const std::string& list) {
  std::vector<size_t> out;
  size_t at = 0;
  while (at < list.size()) {
    size_t comma = list.find(',', at);
    if (comma == std::string::npos) comma = list.size();
    out.push_back(static_cast<size_t>(std::atoll(list.substr(at, comma - at).c_str())));
    at = comma + 1;
  }
  return out;
}

// ---- Zab's sizes, from the real codecs ---------------------------------------------------------------------------

struct ZabSizes {
  size_t txn = 0;       // a setData transaction (the WAL record's payload)
  size_t proposal = 0;  // a PROPOSAL carrying it, commit piggybacked
  size_t ack = 0;
  size_t commit = 0;    // a standalone COMMIT (when no proposal follows to carry it)
};

// storage's encode_txn of a setData on a 23-character path such as ukbench's "/ukbench/kv/key-0000001" is this
// many bytes plus the value (zxid, session, cxid, time, type, path, data, version). The bench takes the number
// rather than linking uk_storage: consensus treats the payload as opaque bytes, and only its size matters here.
constexpr size_t kSetDataTxnOverheadBytes = 103;

// A setData of `value_bytes`, in the epoch/counter range of a running ensemble, through the real Zab codec.
ZabSizes zab_sizes(size_t value_bytes) {
  const uk::Zxid zxid = uk::zab::make_zxid(3, 1000);
  const std::string payload(kSetDataTxnOverheadBytes + value_bytes, 't');
  uk::zab::Message p;
  p.type = uk::zab::MsgType::kProposal;
  p.epoch = 3;
  p.attempt = 1;
  p.commit = uk::zab::make_zxid(3, 999);
  p.entries.push_back(uk::zab::Entry{zxid, payload});
  uk::zab::Message a;
  a.type = uk::zab::MsgType::kAck;
  a.epoch = 3;
  a.attempt = 1;
  a.zxid = zxid;
  uk::zab::Message c;
  c.type = uk::zab::MsgType::kCommit;
  c.epoch = 3;
  c.attempt = 1;
  c.commit = zxid;
  return ZabSizes{payload.size(), uk::zab::encode(p).size(), uk::zab::encode(a).size(), uk::zab::encode(c).size()};
}

// ---- messages -----------------------------------------------------------------------------------------------------

void put_u64(char* at, uint64_t v) { std::memcpy(at, &v, 8); }
uint64_t get_u64(const char* at) {
  uint64_t v;
  std::memcpy(&v, at, 8);
  return v;
}

// Fills `m` as a bench message; the filler bytes depend on the sequence number, so a corrupted message shows.
void make_message(std::string& m, char type, uint64_t seq, size_t bytes, uint32_t reply_bytes) {
  m.resize(std::max(bytes, kHeaderBytes));
  m[0] = type;
  put_u64(&m[1], seq);
  std::memcpy(&m[9], &reply_bytes, 4);
  for (size_t i = kHeaderBytes; i < m.size(); ++i) m[i] = static_cast<char>(seq + i);
}

void check_message(const std::string& m, char type, uint64_t seq, size_t bytes) {
  if (m.size() != std::max(bytes, kHeaderBytes) || m[0] != type || get_u64(&m[1]) != seq) {
    fail("expected message '" + std::string(1, type) + "' #" + std::to_string(seq) + " of " +
         std::to_string(bytes) + " bytes, got '" + (m.empty() ? std::string("?") : m.substr(0, 1)) + "' of " +
         std::to_string(m.size()) + " bytes");
  }
  for (size_t i = kHeaderBytes; i < m.size(); ++i) {
    if (m[i] != static_cast<char>(seq + i)) fail("message #" + std::to_string(seq) + " corrupted");
  }
}

// ---- one endpoint's loop helpers ---------------------------------------------------------------------------------

struct Side {
  Side(Endpoint* endpoint, uk::PeerId peer_id) : ep(endpoint), peer(peer_id) {}
  Endpoint* ep;
  uk::PeerId peer;
  bool block = false;  // --wait=block: wait on the transport between empty polls instead of spinning
  std::vector<uk::PeerEvent> events;
  uint64_t polls = 0;
  uint64_t empty_polls = 0;
  uint64_t empty_streak = 0;  // polls in a row that found nothing: a stalled run fails instead of hanging

  // Polls once; returns the messages (other events fail the run: a channel must not drop in a benchmark).
  std::vector<uk::PeerEvent>& poll_once() {
    events.clear();
    if (!early.empty()) {  // what arrived with the channel (the peer may send at once) comes first
      events.swap(early);
      return events;
    }
    ep->transport().poll(now_ms(), events);
    ++polls;
    for (const uk::PeerEvent& e : events) {
      if (e.kind == Kind::kDisconnected) fail("the channel dropped during the run");
    }
    std::erase_if(events, [](const uk::PeerEvent& e) { return e.kind != Kind::kMessage; });
    if (!events.empty()) {
      empty_streak = 0;
      return events;
    }
    ++empty_polls;
    if (++empty_streak % 65536 == 0) check_not_stalled();
    if (block) ep->wait(1);
    return events;
  }
  // Fails (with this side's counters) once nothing has arrived for kStallMs: a lost message would otherwise hang
  // the run, and a benchmark that hangs says nothing about why.
  void check_not_stalled() {
    const int64_t now = now_ms();
    if (empty_streak == 65536) stall_since_ms = now;
    if (now - stall_since_ms > kStallMs) {
      fail("nothing arrived for " + std::to_string(kStallMs) + " ms (" + std::to_string(empty_streak) +
           " empty polls); " + ep->transport().name() + " counters: {" + ep->counters_json() + "}");
    }
  }
  static constexpr int64_t kStallMs = 20000;
  int64_t stall_since_ms = 0;

  void send(const std::string& m) {
    if (!ep->transport().send(peer, m)) fail("send refused on an up channel");
  }
  // Messages polled in the same turn as kConnected are kept for the first poll_once(): the peer may send as soon
  // as its end is up, and its first message can arrive with our kConnected.
  void await_connected(int64_t deadline_ms) {
    while (!ep->transport().connected(peer)) {
      if (now_ms() > deadline_ms) fail("no channel to the peer");
      events.clear();
      ep->transport().poll(now_ms(), events);
      for (uk::PeerEvent& e : events) {
        if (e.kind == Kind::kMessage) early.push_back(std::move(e));
      }
      ep->wait(1);
    }
  }
  std::vector<uk::PeerEvent> early;
  // Keeps polling for `ms` (acks and retransmissions the peer may still need), ignoring messages.
  void linger(int64_t ms) {
    for (int64_t end = now_ms() + ms; now_ms() < end;) {
      events.clear();
      ep->transport().poll(now_ms(), events);
      ep->wait(1);
    }
  }
};

// ---- statistics ---------------------------------------------------------------------------------------------------

struct LatencySummary {
  double p50_us, p99_us, p999_us, min_us, max_us, mean_us;
};

LatencySummary summarise(std::vector<int64_t>& ns) {
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    size_t i = std::min(ns.size() - 1, static_cast<size_t>(q * static_cast<double>(ns.size())));
    return static_cast<double>(ns[i]) / 1000.0;
  };
  double sum = 0;
  for (int64_t v : ns) sum += static_cast<double>(v);
  return {at(0.50), at(0.99), at(0.999), static_cast<double>(ns.front()) / 1000.0,
          static_cast<double>(ns.back()) / 1000.0, sum / static_cast<double>(ns.size()) / 1000.0};
}

void print_result(const std::string& human, const std::string& json) {
  std::printf("%s\nRESULT {%s}\n", human.c_str(), json.c_str());
  std::fflush(stdout);
}

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

// ---- leader plan (two processes) ---------------------------------------------------------------------------------

struct Plan {
  size_t proposal_bytes, ack_bytes;
  int rtt_runs, rtt_count, warmup;
  std::vector<size_t> rate_sizes;
  int rate_runs, rate_count, window;
};

// One round trip: PROPOSAL out, spin (or block) until the ACK is back. Returns its duration in ns.
int64_t round_trip(Side& s, std::string& buf, uint64_t seq, const Plan& p) {
  make_message(buf, kProposal, seq, p.proposal_bytes, static_cast<uint32_t>(p.ack_bytes));
  const Clock::time_point t0 = Clock::now();
  s.send(buf);
  s.ep->kick();
  for (;;) {
    std::vector<uk::PeerEvent>& ev = s.poll_once();
    if (ev.empty()) continue;
    const Clock::time_point t1 = Clock::now();
    if (ev.size() != 1) fail("more than one answer to a round trip");
    check_message(ev[0].message, kAck, seq, p.ack_bytes);
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
  }
}

void run_rtt(Side& s, const Plan& p, const std::string& transport, uint64_t& seq) {
  std::string buf;
  for (int w = 0; w < p.warmup; ++w) round_trip(s, buf, ++seq, p);
  for (int run = 1; run <= p.rtt_runs; ++run) {
    std::vector<int64_t> ns;
    ns.reserve(static_cast<size_t>(p.rtt_count));
    for (int i = 0; i < p.rtt_count; ++i) ns.push_back(round_trip(s, buf, ++seq, p));
    LatencySummary l = summarise(ns);
    print_result(fmt("%s rtt run %d: %d round trips of %zu B out, %zu B back: p50 %.1f us, p99 %.1f us, "
                     "p99.9 %.1f us, max %.1f us",
                     transport.c_str(), run, p.rtt_count, p.proposal_bytes, p.ack_bytes, l.p50_us, l.p99_us,
                     l.p999_us, l.max_us),
                 fmt("\"transport\": \"%s\", \"mode\": \"rtt\", \"run\": %d, \"count\": %d, \"bytes\": %zu, "
                     "\"reply_bytes\": %zu, \"p50_us\": %.2f, \"p99_us\": %.2f, \"p999_us\": %.2f, "
                     "\"min_us\": %.2f, \"max_us\": %.2f, \"mean_us\": %.2f",
                     transport.c_str(), run, p.rtt_count, p.proposal_bytes, p.ack_bytes, l.p50_us, l.p99_us,
                     l.p999_us, l.min_us, l.max_us, l.mean_us));
  }
}

// `count` one-way messages of `bytes`, at most p.window unanswered. Returns the elapsed seconds.
double stream(Side& s, const Plan& p, size_t bytes, int count) {
  std::string buf;
  uint64_t sent = 0;
  uint64_t answered = 0;
  const uint64_t total = static_cast<uint64_t>(count);
  const Clock::time_point t0 = Clock::now();
  while (answered < total) {
    bool any = false;
    while (sent < total && sent - answered < static_cast<uint64_t>(p.window)) {
      make_message(buf, kData, ++sent, bytes, 0);
      s.send(buf);
      any = true;
    }
    if (any) s.ep->kick();
    for (const uk::PeerEvent& e : s.poll_once()) {
      if (e.message.size() < kHeaderBytes || e.message[0] != kAck) fail("unexpected answer in a rate run");
      uint64_t n = get_u64(&e.message[1]);
      if (n < answered || n > sent) fail("the follower counted " + std::to_string(n) + " of " + std::to_string(sent));
      answered = n;
    }
  }
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void run_rate(Side& s, const Plan& p, const std::string& transport) {
  for (size_t bytes : p.rate_sizes) {
    stream(s, p, bytes, std::max(p.window * 4, p.rate_count / 10));  // warm-up
    for (int run = 1; run <= p.rate_runs; ++run) {
      double sec = stream(s, p, bytes, p.rate_count);
      double mps = p.rate_count / sec;
      print_result(fmt("%s rate run %d: %d messages of %zu B one way (window %d): %.0f msg/s, %.1f MB/s",
                       transport.c_str(), run, p.rate_count, bytes, p.window, mps,
                       mps * static_cast<double>(bytes) / 1e6),
                   fmt("\"transport\": \"%s\", \"mode\": \"rate\", \"run\": %d, \"count\": %d, \"bytes\": %zu, "
                       "\"window\": %d, \"seconds\": %.6f, \"msgs_per_s\": %.1f, \"mb_per_s\": %.3f",
                       transport.c_str(), run, p.rate_count, bytes, p.window, sec, mps,
                       mps * static_cast<double>(bytes) / 1e6));
    }
  }
}

void stop_follower(Side& s, uint64_t seq) {
  std::string buf;
  make_message(buf, kStop, seq, kHeaderBytes, 0);
  s.send(buf);
  s.ep->kick();
  const int64_t deadline = now_ms() + 10000;
  for (bool stopped = false; !stopped;) {
    if (now_ms() > deadline) fail("the follower did not confirm the stop");
    for (const uk::PeerEvent& e : s.poll_once()) stopped = stopped || e.message[0] == kStop;
  }
  s.linger(300);
}

// ---- follower (two processes) ------------------------------------------------------------------------------------

void run_follower(Side& s) {
  std::string buf;
  uint64_t data_seen = 0;
  for (;;) {
    bool data = false;
    for (const uk::PeerEvent& e : s.poll_once()) {
      const std::string& m = e.message;
      if (m.size() < kHeaderBytes) fail("short message from the leader");
      const uint64_t seq = get_u64(&m[1]);
      if (m[0] == kProposal) {
        uint32_t reply;
        std::memcpy(&reply, &m[9], 4);
        make_message(buf, kAck, seq, reply, 0);
        s.send(buf);
      } else if (m[0] == kData) {
        if (seq != data_seen + 1 && seq != 1) fail("rate message out of order");
        data_seen = seq;
        data = true;
      } else if (m[0] == kStop) {
        make_message(buf, kStop, seq, kHeaderBytes, 0);
        s.send(buf);
        s.ep->kick();
        s.linger(1000);
        return;
      } else {
        fail("unknown message type from the leader");
      }
    }
    if (data) {
      make_message(buf, kAck, data_seen, 26, 0);
      s.send(buf);
    }
    s.ep->kick();
  }
}

// ---- pair mode (one process, for callgrind) ----------------------------------------------------------------------

// Counts what --collect asks for: callgrind's collection state flips at each toggle (a handful of instructions
// each, outside any transport function).
struct Collector {
  bool leader, follower;
  void leader_on() { if (leader) CALLGRIND_TOGGLE_COLLECT; }
  void follower_on() { if (follower) CALLGRIND_TOGGLE_COLLECT; }
};

// The bench's own work (building and checking messages) stays outside the counted regions; each side has two
// regions per exchange (post, take), so four toggles.
void pair_exchange(Side& l, Side& f, std::string& prop, std::string& ack, uint64_t seq, const Plan& p,
                   Collector& c) {
  make_message(prop, kProposal, seq, p.proposal_bytes, static_cast<uint32_t>(p.ack_bytes));
  make_message(ack, kAck, seq, p.ack_bytes, 0);
  c.leader_on();
  l.send(prop);
  l.ep->kick();
  c.leader_on();  // off again
  c.follower_on();
  while (f.poll_once().empty()) {
  }
  c.follower_on();
  check_message(f.events[0].message, kProposal, seq, p.proposal_bytes);
  c.follower_on();
  f.send(ack);
  f.ep->kick();
  c.follower_on();
  c.leader_on();
  while (l.poll_once().empty()) {
  }
  c.leader_on();
  check_message(l.events[0].message, kAck, seq, p.ack_bytes);
}

double cpu_us(const timeval& tv) { return static_cast<double>(tv.tv_sec) * 1e6 + static_cast<double>(tv.tv_usec); }

// One measured stretch of pair mode: `count` exchanges (or idle polls, or empty toggle pairs) with what --collect
// names counted, and its wall-clock and CPU time.
struct Segment {
  std::string transport, kind;
  int count;
  double us = 0, user_us = 0, sys_us = 0;

  std::string human(const Side& l, const Side& f) const {
    return fmt("%s pair (%s): %d %s, %.2f us each (CPU: user %.2f us, system %.2f us); leader %" PRIu64
               " polls (%" PRIu64 " empty), follower %" PRIu64 " polls (%" PRIu64 " empty)",
               transport.c_str(), kind.c_str(), count, kind == "idle" ? "idle polls" : "exchanges", us / count,
               user_us / count, sys_us / count, l.polls, l.empty_polls, f.polls, f.empty_polls);
  }
  std::string json(const Side& l, const Side& f, const Plan& p) const {
    return fmt("\"transport\": \"%s\", \"mode\": \"pair\", \"collect\": \"%s\", \"count\": %d, \"bytes\": %zu, "
               "\"reply_bytes\": %zu, \"us_each\": %.3f, \"user_us_each\": %.3f, \"sys_us_each\": %.3f, "
               "\"leader_polls\": %" PRIu64 ", \"leader_empty_polls\": %" PRIu64 ", \"follower_polls\": %" PRIu64
               ", \"follower_empty_polls\": %" PRIu64,
               transport.c_str(), kind.c_str(), count, p.proposal_bytes, p.ack_bytes, us / count, user_us / count,
               sys_us / count, l.polls, l.empty_polls, f.polls, f.empty_polls);
  }
};

void measure_segment(Side& l, Side& f, Segment& sg, std::string& prop, std::string& ack, uint64_t& seq,
                     const Plan& p) {
  Collector c{sg.kind == "leader" || sg.kind == "both", sg.kind == "follower"};
  if (sg.kind == "idle") l.linger(200);  // whatever is still due (link acks, credit) goes first
  l.polls = l.empty_polls = f.polls = f.empty_polls = 0;
  rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  const Clock::time_point t0 = Clock::now();
  if (sg.kind == "idle") {
    CALLGRIND_TOGGLE_COLLECT;
    for (int i = 0; i < sg.count; ++i) l.poll_once();
    CALLGRIND_TOGGLE_COLLECT;
  } else if (sg.kind == "toggles") {
    for (int i = 0; i < 2 * sg.count; ++i) {  // what one side's two regions per exchange cost with nothing inside
      CALLGRIND_TOGGLE_COLLECT;
      CALLGRIND_TOGGLE_COLLECT;
    }
  } else {
    for (int i = 0; i < sg.count; ++i) pair_exchange(l, f, prop, ack, ++seq, p, c);
  }
  sg.us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  getrusage(RUSAGE_SELF, &ru1);
  sg.user_us = cpu_us(ru1.ru_utime) - cpu_us(ru0.ru_utime);
  sg.sys_us = cpu_us(ru1.ru_stime) - cpu_us(ru0.ru_stime);
}

int run_pair(const Args& a, const EndpointSpec& base, const Plan& p) {
  EndpointSpec ls = base, fs = base;
  ls.me = fs.peer = 1;
  ls.peer = fs.me = 2;
  ls.device = "net_af_packet0";  // dpdk: the two --vdev ports, in order
  fs.device = "net_af_packet1";
  ls.ip = "10.214.0.1";
  fs.ip = ls.peer_ip = "10.214.0.2";
  fs.peer_ip = "10.214.0.1";
  ls.peer_mac = a.get("mac-b");
  fs.peer_mac = a.get("mac-a");
  std::string error;
  std::unique_ptr<Endpoint> le = open_endpoint(ls, error);
  if (le == nullptr) usage("cannot open the leader endpoint: " + error);
  fs.port = le->listen_port();
  std::unique_ptr<Endpoint> fe = open_endpoint(fs, error);
  if (fe == nullptr) usage("cannot open the follower endpoint: " + error);
  Side l(le.get(), 2), f(fe.get(), 1);
  const int64_t deadline = now_ms() + 30000;
  while (!l.ep->transport().connected(2) || !f.ep->transport().connected(1)) {
    if (now_ms() > deadline) fail("the pair did not connect");
    l.events.clear();
    f.events.clear();
    l.ep->transport().poll(now_ms(), l.events);
    f.ep->transport().poll(now_ms(), f.events);
  }
  std::string prop, ack;
  uint64_t seq = 0;
  Collector off{false, false};
  for (int w = 0; w < p.warmup; ++w) pair_exchange(l, f, prop, ack, ++seq, p, off);
  // --collect=all: every region kind at every --counts value in one process, each closed by a callgrind dump
  // named after it (one valgrind start instead of eight: it matters inside the emulated VM).
  const std::string collect = a.get("collect", "none");
  const std::vector<size_t> counts = parse_sizes(a.get("counts", std::to_string(a.num("count", 1000))));
  const std::vector<std::string> kinds =
      collect == "all" ? std::vector<std::string>{"leader", "follower", "toggles", "idle"}
                       : std::vector<std::string>{collect};
  for (const std::string& kind : kinds) {
    for (size_t count : counts) {
      Segment sg{base.transport, kind, static_cast<int>(count)};
      measure_segment(l, f, sg, prop, ack, seq, p);
      const std::string label = base.transport + "/" + kind + "/" + std::to_string(count);
      if (collect == "all") CALLGRIND_DUMP_STATS_AT(label.c_str());
      print_result(sg.human(l, f), sg.json(l, f, p) + ", \"label\": \"" + label + "\", \"leader\": {" +
                                       le->counters_json() + "}, \"follower\": {" + fe->counters_json() + "}");
    }
  }
  return 0;
}

// ---- main ---------------------------------------------------------------------------------------------------------

EndpointSpec endpoint_spec(const Args& a) {
  EndpointSpec s;
  s.transport = a.get("transport", "tcp");
  s.me = a.get("mode") == "follower" ? 2 : 1;
  s.peer = 3 - s.me;
  s.host = a.get("host", "127.0.0.1");
  s.port = static_cast<int>(a.num("port", 0));
  s.vdevs = a.vdevs;
  s.device = a.get("device");
  s.ip = a.get("ip");
  s.peer_ip = a.get("peer-ip");
  s.peer_mac = a.get("peer-mac");
  s.lcores = a.get("lcores", s.lcores);
  s.memory_mb = static_cast<int>(a.num("memory-mb", s.memory_mb));
  s.rto_us = a.num("rto-us", 0);
  return s;
}

Plan plan_from(const Args& a, const ZabSizes& z) {
  Plan p;
  p.proposal_bytes = static_cast<size_t>(a.num("proposal-bytes", static_cast<long long>(z.proposal)));
  p.ack_bytes = static_cast<size_t>(a.num("ack-bytes", static_cast<long long>(z.ack)));
  p.rtt_runs = static_cast<int>(a.num("rtt-runs", 5));
  p.rtt_count = static_cast<int>(a.num("rtt-count", 10000));
  p.warmup = static_cast<int>(a.num("warmup", 1000));
  p.rate_sizes = parse_sizes(a.get("rate-sizes", std::to_string(z.ack) + "," + std::to_string(z.proposal) + ",4096"));
  p.rate_runs = static_cast<int>(a.num("rate-runs", 3));
  p.rate_count = static_cast<int>(a.num("rate-count", 200000));
  p.window = static_cast<int>(a.num("window", 256));
  if (p.proposal_bytes < kHeaderBytes || p.ack_bytes < kHeaderBytes) usage("messages are at least 13 bytes");
  if (p.rtt_count < 1 || p.rate_count < 1 || p.window < 1) usage("counts and the window must be positive");
  return p;
}

int run(const Args& a) {
  const std::string mode = a.get("mode");
  const ZabSizes z = zab_sizes(static_cast<size_t>(a.num("value-bytes", 100)));
  const Plan p = plan_from(a, z);
  const EndpointSpec spec = endpoint_spec(a);
  print_result(fmt("zab sizes: setData of %lld B -> txn %zu B, PROPOSAL %zu B, ACK %zu B, COMMIT %zu B; built: %s",
                   a.num("value-bytes", 100), z.txn, z.proposal, z.ack, z.commit, built_transports().c_str()),
               fmt("\"mode\": \"sizes\", \"value_bytes\": %lld, \"txn\": %zu, \"proposal\": %zu, \"ack\": %zu, "
                   "\"commit\": %zu",
                   a.num("value-bytes", 100), z.txn, z.proposal, z.ack, z.commit));
  if (mode == "sizes") return 0;
  if (mode == "pair") return run_pair(a, spec, p);
  if (mode != "leader" && mode != "follower") usage("--mode=leader|follower|pair|sizes");
  std::string error;
  std::unique_ptr<Endpoint> ep = open_endpoint(spec, error);
  if (ep == nullptr) usage("cannot open the " + spec.transport + " transport: " + error);
  Side s(ep.get(), spec.peer);
  s.block = a.get("wait", "spin") == "block";
  s.await_connected(now_ms() + a.num("connect-timeout-ms", 30000));
  if (mode == "follower") {
    run_follower(s);
    return 0;
  }
  uint64_t seq = 0;
  const std::string what = a.get("run", "rtt,rate");
  if (what.find("rtt") != std::string::npos) run_rtt(s, p, spec.transport, seq);
  if (what.find("rate") != std::string::npos) run_rate(s, p, spec.transport);
  stop_follower(s, ++seq);
  print_result(spec.transport + " leader counters", "\"mode\": \"counters\", \"transport\": \"" + spec.transport +
                                                        "\", " + ep->counters_json());
  return 0;
}

}  // namespace
}  // namespace ukbench

int main(int argc, char** argv) {
  uk::set_log_level(uk::LogLevel::kInfo);  // connects and disconnects, with reasons: a few lines per run
  return ukbench::run(ukbench::parse_args(argc, argv));
}
