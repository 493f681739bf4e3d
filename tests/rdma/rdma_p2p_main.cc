// uk_rdma_p2p: the point-to-point test of RdmaTransport between two processes, run inside the soft-RoCE VM by
// vm_init.sh (tests/rdma/run_vm_test.sh boots it). Roles:
//   a        server 1: listens; talks to b1, sees it die, talks to b2, sees it leave; checks its counters
//   b1       server 2: dials a, runs the main schedule, stalls as a slow receiver once, then kills itself (SIGKILL)
//   b2       server 2 again (a restarted peer): dials a, runs the restart schedule, exits
// Each side sends a deterministic schedule of messages (small ones, large ones spanning several rings, a burst far
// beyond the ring in one turn) and checks every message it receives against the peer's schedule: order, length
// and every byte. The end of a schedule is a "done" message; a replies with its own "done" only once it has
// everything from b, so b leaves only when nothing of its own can still be in flight.
// Exit status 0 and a line "UK_RDMA_P2P OK <role> ..." on success; "UK_RDMA_P2P FAIL <role>: why" otherwise.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "ukeeper/common/log.h"
#include "ukeeper/dataplane/rdma/rdma_transport.h"

namespace {

constexpr uint32_t kHeaderBytes = 16;
constexpr uint32_t kDoneIndex = 0xffffffff;
constexpr uint32_t kBurstMessages = 256;
constexpr uint32_t kBurstBytes = 4096;
constexpr uint32_t kRingBytes = 64 * 1024;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void fail(const char* role, const std::string& why) {
  std::printf("UK_RDMA_P2P FAIL %s: %s\n", role, why.c_str());
  std::fflush(stdout);
  std::exit(1);
}

// One planned message: its size, and whether it starts a burst (everything up to the next burst start, or the
// end, is sent in a single turn without polling).
struct Planned {
  uint32_t size;
  bool burst;
};

std::vector<Planned> schedule(const std::string& phase) {
  std::vector<Planned> s;
  auto small = [&s](int n, uint32_t salt) {
    for (int i = 0; i < n; ++i) s.push_back({kHeaderBytes + (static_cast<uint32_t>(i) * 37 + salt) % 300, false});
  };
  if (phase == "main") {
    small(3000, 0);
    // Large: one record, several records, several rings, far more than a ring; each followed by small ones.
    for (uint32_t size : {16000u, 70000u, 200000u, 1048583u, 3000000u}) {
      s.push_back({size, false});
      small(3, size);
    }
    // A burst in one turn: 1 MiB against a 64 KiB ring, so the sender must wait for credit.
    for (uint32_t i = 0; i < kBurstMessages; ++i) s.push_back({kBurstBytes, i == 0});
    small(500, 11);
  } else {
    small(500, 5);
    s.push_back({300000, false});
    small(10, 7);
  }
  return s;
}

void fill(std::string& m, uint32_t phase, uint32_t index, uint32_t size, uint32_t sender) {
  m.resize(size);
  uint32_t fields[4] = {phase, index, size, sender};
  std::memcpy(m.data(), fields, sizeof fields);
  for (uint32_t j = kHeaderBytes; j < size; ++j) m[j] = static_cast<char>((index * 131 + j * 7 + sender + (j >> 9)) & 0xff);
}

struct Side {
  const char* role;
  uint32_t my_id;
  uint32_t peer_id;
  uint32_t phase;                  // 1 main, 2 restart
  std::vector<Planned> mine;       // what I send
  std::vector<Planned> theirs;     // what I expect
  size_t sent = 0;
  size_t received = 0;
  bool peer_done = false;
  bool done_sent = false;
  std::string buf;
  std::string expect;
};

void reset_side(Side& s, uint32_t phase) {
  std::string name = phase == 1 ? "main" : "restart";
  s.phase = phase;
  s.mine = schedule(name);
  s.theirs = schedule(name);
  s.sent = s.received = 0;
  s.peer_done = s.done_sent = false;
}

// Checks one received message against the peer's schedule.
void check_message(Side& s, const std::string& m) {
  if (m.size() < kHeaderBytes) fail(s.role, "short message of " + std::to_string(m.size()) + " bytes");
  uint32_t fields[4];
  std::memcpy(fields, m.data(), sizeof fields);
  if (fields[0] != s.phase || fields[3] != s.peer_id) {
    fail(s.role, "message from phase " + std::to_string(fields[0]) + " sender " + std::to_string(fields[3]) +
                     ", expected phase " + std::to_string(s.phase));
  }
  if (fields[1] == kDoneIndex) {
    if (s.received != s.theirs.size()) {
      fail(s.role, "done after " + std::to_string(s.received) + " of " + std::to_string(s.theirs.size()));
    }
    s.peer_done = true;
    return;
  }
  if (fields[1] != s.received) {
    fail(s.role, "out of order: message " + std::to_string(fields[1]) + " where " + std::to_string(s.received) +
                     " was due");
  }
  if (s.received >= s.theirs.size()) fail(s.role, "more messages than scheduled");
  uint32_t size = s.theirs[s.received].size;
  fill(s.expect, s.phase, static_cast<uint32_t>(s.received), size, s.peer_id);
  if (m != s.expect) {
    fail(s.role, "message " + std::to_string(s.received) + " corrupted (" + std::to_string(m.size()) + " bytes, " +
                     std::to_string(size) + " expected)");
  }
  ++s.received;
}

// Sends the next batch of the schedule: up to 32 messages, or a whole burst.
void send_some(uk::RdmaTransport& t, Side& s) {
  size_t limit = s.sent + 32;
  if (s.sent < s.mine.size() && s.mine[s.sent].burst) {
    limit = s.sent + 1;
    while (limit < s.mine.size() && !s.mine[limit].burst && s.mine[limit].size == kBurstBytes) ++limit;
  }
  for (; s.sent < s.mine.size() && s.sent < limit; ++s.sent) {
    fill(s.buf, s.phase, static_cast<uint32_t>(s.sent), s.mine[s.sent].size, s.my_id);
    if (!t.send(s.peer_id, s.buf)) fail(s.role, "send refused while connected");
  }
}

void send_done(uk::RdmaTransport& t, Side& s) {
  fill(s.buf, s.phase, kDoneIndex, kHeaderBytes, s.my_id);
  if (!t.send(s.peer_id, s.buf)) fail(s.role, "send of done refused");
  s.done_sent = true;
}

std::string stats_line(uk::RdmaTransport& t, uint32_t peer) {
  uk::RdmaPeerStats r = t.peer_stats(peer);
  uk::PeerCounters c = t.counters(peer);
  const uk::RdmaTransportStats& ts = t.stats();
  char line[640];
  std::snprintf(line, sizeof line,
                "msgs_sent=%" PRIu64 " msgs_recv=%" PRIu64 " bytes_sent=%" PRIu64 " writes_posted=%" PRIu64
                " inline_writes=%" PRIu64 " flushes=%" PRIu64 " write_bytes=%" PRIu64 " credit_writes=%" PRIu64
                " credits_recv=%" PRIu64 " recv_completions=%" PRIu64 " send_completions=%" PRIu64
                " wraps=%" PRIu64 " fragments=%" PRIu64 " credit_stalls=%" PRIu64 " backlog_peak=%" PRIu64
                " connects=%" PRIu64 " disconnects=%" PRIu64 " blocks=%" PRIu64 " spin_hits=%" PRIu64,
                c.messages_sent, c.messages_received, c.bytes_sent, r.writes_posted, r.inline_writes, r.flushes,
                r.write_bytes, r.credit_writes, r.credits_received, r.recv_completions, r.send_completions,
                r.ring_wraps, r.fragments, r.credit_stalls, r.backlog_peak_bytes, c.connects, c.disconnects,
                ts.blocks, ts.spin_hits);
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  std::string role_name;
  std::string host = "192.0.2.1";
  int port = 18515;
  int timeout_s = 120;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--role") role_name = argv[i + 1];
    else if (k == "--host") host = argv[i + 1];
    else if (k == "--port") port = std::atoi(argv[i + 1]);
    else if (k == "--timeout") timeout_s = std::atoi(argv[i + 1]);
  }
  if (role_name != "a" && role_name != "b1" && role_name != "b2") {
    std::fprintf(stderr, "usage: uk_rdma_p2p --role a|b1|b2 [--host IP] [--port N] [--timeout S]\n");
    return 2;
  }
  const char* role = role_name.c_str();
  const bool is_a = role_name == "a";
  Side s;
  s.role = role;
  s.my_id = is_a ? 1 : 2;
  s.peer_id = is_a ? 2 : 1;
  reset_side(s, role_name == "b2" ? 2 : 1);

  uk::RdmaTransportOptions o;
  o.my_id = s.my_id;
  o.listen_address = is_a ? host : "127.0.0.1";
  o.listen_port = is_a ? port : 0;
  o.peers[s.peer_id] = {host, is_a ? 0 : port};
  o.cluster_token = 0x70327032;
  o.ring_bytes = kRingBytes;
  o.spin_us = 100;
  std::string error;
  std::unique_ptr<uk::RdmaTransport> t = uk::RdmaTransport::open(o, error);
  if (!t) fail(role, error);

  // a's life: 0 wait for b1, 1 main, 2 wait for b1 to die, 3 wait for b2, 4 restart, 5 wait for b2 to leave.
  int stage = 0;
  bool slow_receiver_done = false;
  const int64_t deadline = now_ms() + int64_t{timeout_s} * 1000;
  std::vector<uk::PeerEvent> events;
  for (;;) {
    if (now_ms() > deadline) {
      fail(role, "timed out at stage " + std::to_string(stage) + " (sent " + std::to_string(s.sent) + ", received " +
                     std::to_string(s.received) + ")");
    }
    events.clear();
    t->poll(now_ms(), events);
    for (const uk::PeerEvent& e : events) {
      switch (e.kind) {
        case uk::PeerEvent::Kind::kConnected:
          if (stage == 0 || stage == 3) {
            ++stage;
          } else {
            fail(role, "unexpected connect at stage " + std::to_string(stage));
          }
          break;
        case uk::PeerEvent::Kind::kDisconnected:
          if (is_a && stage == 2) {
            stage = 3;
            reset_side(s, 2);
          } else if (is_a && stage == 5) {
            std::printf("UK_RDMA_P2P OK a %s\n", stats_line(*t, 2).c_str());
            uk::RdmaPeerStats r = t->peer_stats(2);
            uk::PeerCounters c = t->counters(2);
            if (c.connects != 2 || c.disconnects != 2) fail(role, "expected two channels, both ended");
            if (r.ring_wraps == 0 || r.credit_stalls == 0 || r.fragments == 0 || r.inline_writes == 0 ||
                r.credit_writes == 0 || r.credits_received == 0) {
              fail(role, "a counter that the schedule must move stayed at zero");
            }
            return 0;
          } else {
            fail(role, "unexpected disconnect at stage " + std::to_string(stage));
          }
          break;
        case uk::PeerEvent::Kind::kMessage:
          if (stage != 1 && stage != 4) fail(role, "message outside a phase");
          // b1 plays a slow receiver once: at a's burst it stops polling, so a runs out of credit and blocks.
          if (role_name == "b1" && !slow_receiver_done && s.received < s.theirs.size() &&
              s.theirs[s.received].burst) {
            slow_receiver_done = true;
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
          }
          check_message(s, e.message);
          break;
      }
    }
    if (stage == 1 || stage == 4) {
      if (!t->connected(s.peer_id)) fail(role, "channel lost during a phase");
      send_some(*t, s);
      bool everything_sent = s.sent == s.mine.size();
      if (!is_a && everything_sent && !s.done_sent) send_done(*t, s);
      if (is_a && everything_sent && s.peer_done && s.received == s.theirs.size() && !s.done_sent) {
        send_done(*t, s);
        ++stage;  // 2 or 5: b leaves once it has our done
      }
      if (!is_a && s.peer_done && s.done_sent) {
        std::printf("UK_RDMA_P2P OK %s %s\n", role, stats_line(*t, 1).c_str());
        std::fflush(stdout);
        if (role_name == "b1") raise(SIGKILL);  // a crash: no goodbye, the kernel tears the QP and socket down
        return 0;
      }
    }
    t->wait(5);
  }
}
