// RdmaTransport against a real device. On a host without RDMA (the build machines) only the refusal is checked:
// open() fails with the message a TCP fallback keys on. Inside the soft-RoCE VM (run_vm_test.sh runs this
// binary there too) two transports in one process connect over rxe and exchange traffic.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "ukeeper/dataplane/rdma/rdma_transport.h"
#include "ukeeper/drivers/verbs.h"

namespace uk {
namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

RdmaTransportOptions options_for(PeerId id, PeerId other) {
  RdmaTransportOptions o;
  o.my_id = id;
  o.listen_address = "127.0.0.1";
  o.peers[other] = {"127.0.0.1", 0};
  o.cluster_token = 0x5eed;
  o.ring_bytes = 16 * 1024;
  o.spin_us = 20;
  return o;
}

TEST(RdmaTransport, OpenWithoutADeviceFailsClearly) {
  if (!verbs::device_names().empty()) GTEST_SKIP() << "this host has an RDMA device";
  std::string error;
  std::unique_ptr<RdmaTransport> t = RdmaTransport::open(options_for(1, 2), error);
  EXPECT_EQ(t, nullptr);
  EXPECT_NE(error.find("no RDMA device found"), std::string::npos) << error;
}

TEST(RdmaTransport, RejectsBadOptionsBeforeTouchingTheDevice) {
  RdmaTransportOptions o = options_for(1, 2);
  o.ring_bytes = 1000;
  std::string error;
  EXPECT_EQ(RdmaTransport::open(o, error), nullptr);
  EXPECT_NE(error.find("ring_bytes"), std::string::npos) << error;
}

struct Pair {
  std::unique_ptr<RdmaTransport> a, b;  // ids 1 and 2; 2 dials 1
  std::vector<PeerEvent> ea, eb;

  bool run_until(const std::function<bool()>& done, int timeout_ms = 20000) {
    int64_t deadline = now_ms() + timeout_ms;
    while (!done()) {
      if (now_ms() > deadline) return false;
      a->poll(now_ms(), ea);
      b->poll(now_ms(), eb);
      a->wait(1);
      b->wait(1);
    }
    return true;
  }
  static size_t count(const std::vector<PeerEvent>& ev, PeerEvent::Kind kind) {
    size_t n = 0;
    for (const PeerEvent& e : ev) n += e.kind == kind ? 1 : 0;
    return n;
  }
};

TEST(RdmaTransport, LoopbackOverARealDevice) {
  if (verbs::device_names().empty()) GTEST_SKIP() << "no RDMA device (runs inside the soft-RoCE VM)";
  Pair p;
  std::string error;
  p.a = RdmaTransport::open(options_for(1, 2), error);
  ASSERT_NE(p.a, nullptr) << error;
  p.b = RdmaTransport::open(options_for(2, 1), error);
  ASSERT_NE(p.b, nullptr) << error;
  p.b->set_peer_address(1, "127.0.0.1", p.a->listen_port());
  ASSERT_TRUE(p.run_until([&] { return p.a->connected(2) && p.b->connected(1); }));

  std::vector<std::string> sent;
  for (int i = 0; i < 300; ++i) sent.push_back(std::string(static_cast<size_t>(i % 97), static_cast<char>('a' + i % 26)));
  sent.push_back(std::string(200000, 'L'));  // twelve rings' worth, in fragments
  sent.push_back("after the large one");
  for (const std::string& m : sent) ASSERT_TRUE(p.b->send(1, m));
  for (const std::string& m : sent) ASSERT_TRUE(p.a->send(2, m));
  auto messages = [](const std::vector<PeerEvent>& ev) {
    std::vector<std::string> out;
    for (const PeerEvent& e : ev) {
      if (e.kind == PeerEvent::Kind::kMessage) out.push_back(e.message);
    }
    return out;
  };
  ASSERT_TRUE(p.run_until([&] { return messages(p.ea).size() == sent.size() && messages(p.eb).size() == sent.size(); }));
  EXPECT_EQ(messages(p.ea), sent);
  EXPECT_EQ(messages(p.eb), sent);
  RdmaPeerStats s = p.b->peer_stats(1);
  EXPECT_GT(s.ring_wraps, 0u);
  EXPECT_GT(s.credit_stalls, 0u);
  EXPECT_GT(s.fragments, 0u);
  EXPECT_GT(s.credit_writes + p.a->peer_stats(2).credit_writes, 0u);

  // A local disconnect: both sides see it, the dialer comes back, and the new channel works from a clean ring.
  p.a->disconnect(2);
  ASSERT_TRUE(p.run_until([&] { return Pair::count(p.eb, PeerEvent::Kind::kDisconnected) == 1; }));
  ASSERT_TRUE(p.run_until([&] { return Pair::count(p.eb, PeerEvent::Kind::kConnected) == 2 && p.a->connected(2); }));
  size_t before = messages(p.ea).size();
  ASSERT_TRUE(p.b->send(1, "fresh channel"));
  ASSERT_TRUE(p.run_until([&] { return messages(p.ea).size() == before + 1; }));
  EXPECT_EQ(messages(p.ea).back(), "fresh channel");
  EXPECT_EQ(p.a->counters(2).connects, 2u);
  EXPECT_EQ(p.a->counters(2).disconnects, 1u);
}

std::vector<std::string> messages_in(const std::vector<PeerEvent>& ev) {
  std::vector<std::string> out;
  for (const PeerEvent& e : ev) {
    if (e.kind == PeerEvent::Kind::kMessage) out.push_back(e.message);
  }
  return out;
}

// The netdev under rxe goes down: writes exhaust their retries, the error completion closes the channel, and once
// the link is back the dialer reconnects. Only where UK_RDMA_TEST_NETDEV names a disposable netdev (the VM's
// dummy d0): never toggles a real interface.
TEST(RdmaTransport, ErrorCompletionClosesTheChannelAndItComesBack) {
  const char* netdev = std::getenv("UK_RDMA_TEST_NETDEV");
  if (netdev == nullptr || verbs::device_names().empty()) GTEST_SKIP() << "set UK_RDMA_TEST_NETDEV (inside the VM)";
  Pair p;
  std::string error;
  RdmaTransportOptions oa = options_for(1, 2);
  RdmaTransportOptions ob = options_for(2, 1);
  oa.timers.ack_timeout_exp = ob.timers.ack_timeout_exp = 10;  // ~4 ms: fail fast
  oa.timers.retry_count = ob.timers.retry_count = 2;
  p.a = RdmaTransport::open(oa, error);
  ASSERT_NE(p.a, nullptr) << error;
  p.b = RdmaTransport::open(ob, error);
  ASSERT_NE(p.b, nullptr) << error;
  p.b->set_peer_address(1, "127.0.0.1", p.a->listen_port());
  ASSERT_TRUE(p.run_until([&] { return p.a->connected(2) && p.b->connected(1); }));

  std::string down = std::string("ip link set ") + netdev + " down";
  std::string up = std::string("ip link set ") + netdev + " up";
  ASSERT_EQ(std::system(down.c_str()), 0);
  ASSERT_TRUE(p.b->send(1, "into the void"));
  bool closed = p.run_until([&] { return Pair::count(p.eb, PeerEvent::Kind::kDisconnected) >= 1; });
  ASSERT_EQ(std::system(up.c_str()), 0);
  ASSERT_TRUE(closed) << "no error completion with the link down";
  EXPECT_GT(p.b->stats().error_completions, 0u);
  // The control connection (loopback TCP) never broke: the error completion alone closed the channel.
  ASSERT_TRUE(p.run_until([&] { return p.a->connected(2) && p.b->connected(1); }, 30000));
  size_t before = messages_in(p.ea).size();
  uint64_t sent_on_channel = 0;  // one "back" per channel, in case the link is still settling
  ASSERT_TRUE(p.run_until([&] {
    uint64_t channel = p.b->counters(1).connects;
    if (p.b->connected(1) && sent_on_channel != channel) {
      sent_on_channel = channel;
      p.b->send(1, "back");
    }
    return messages_in(p.ea).size() > before;
  }, 30000));
  EXPECT_EQ(messages_in(p.ea).back(), "back");
}

// A peer that completes the handshake by the book and then writes garbage into its ring is disconnected and
// counted as dropped; the transport never delivers the garbage. The fake peer speaks the hello of
// rdma_transport.h with drivers/verbs directly.
class FakePeer {
 public:
  // Connects the control socket and sends the hello. The transport answers from its poll(): call finish() until
  // it returns true (this test runs both ends on one thread).
  bool begin(int control_port, uint32_t ring_bytes, std::string& error) {
    device_ = verbs::Device::open({}, error);
    if (!device_) return false;
    cq_ = verbs::CompletionQueue::create(*device_, 64, nullptr, this, error);
    if (!cq_) return false;
    qp_ = verbs::QueuePair::create_rc(*device_, cq_, cq_, verbs::QpCaps{16, 16, 0}, error);
    if (!qp_ || !qp_.to_init(device_->port(), IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_LOCAL_WRITE, error)) return false;
    mem_.assign(ring_bytes, 0);
    mr_ = verbs::MemoryRegion::register_memory(*device_, mem_.data(), mem_.size(),
                                               IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE, error);
    if (!mr_) return false;
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(control_port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return fail(error, "connect");
    char hello[RdmaTransport::kHelloBytes] = {};
    std::memcpy(hello, "UKRD", 4);
    put(hello + 4, 1, 2);
    put(hello + 8, 2, 8);  // server id 2 (dials 1)
    put(hello + 16, 0x5eed, 8);
    put(hello + 24, qp_.qpn(), 4);
    put(hello + 28, 0x1234, 4);
    std::memcpy(hello + 32, device_->port().gid.raw, 16);
    put(hello + 48, device_->port().lid, 2);
    hello[50] = static_cast<char>(device_->port().active_mtu);
    put(hello + 52, ring_bytes, 4);
    put(hello + 56, reinterpret_cast<uintptr_t>(mr_.addr()), 8);
    put(hello + 64, mr_.rkey(), 4);
    if (::send(fd_, hello, sizeof hello, 0) != static_cast<ssize_t>(sizeof hello)) return fail(error, "send hello");
    return true;
  }

  // Reads the transport's answer without blocking; once complete, brings the QP up and sends the ready byte.
  // Returns true when done; false with `error` empty while waiting, with `error` set on failure.
  bool finish(std::string& error) {
    while (got_ < sizeof reply_) {
      ssize_t n = ::recv(fd_, reply_ + got_, sizeof reply_ - got_, MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
      if (n <= 0) return fail(error, "recv hello");
      got_ += static_cast<size_t>(n);
    }
    verbs::RemoteQp remote;
    remote.qpn = static_cast<uint32_t>(get(reply_ + 24, 4));
    remote.psn = static_cast<uint32_t>(get(reply_ + 28, 4));
    std::memcpy(remote.gid.raw, reply_ + 32, 16);
    remote.lid = static_cast<uint16_t>(get(reply_ + 48, 2));
    remote.mtu = static_cast<ibv_mtu>(static_cast<unsigned char>(reply_[50]));
    ring_addr_ = get(reply_ + 56, 8);
    rkey_ = static_cast<uint32_t>(get(reply_ + 64, 4));
    if (!qp_.to_rtr(device_->port(), remote, verbs::RcTimers{}, error) || !qp_.to_rts(0x1234, verbs::RcTimers{}, error)) {
      return false;
    }
    return ::send(fd_, "R", 1, 0) == 1 || fail(error, "send ready");
  }

  // Writes `bytes` of memory at ring offset 0, announced by an immediate of `imm`.
  bool write_ring(const std::string& bytes, uint32_t imm) {
    std::memcpy(mem_.data(), bytes.data(), bytes.size());
    ibv_send_wr wr;
    ibv_sge sge;
    verbs::make_write(wr, sge, mr_.addr(), static_cast<uint32_t>(bytes.size()), mr_.lkey(), ring_addr_, rkey_, true,
                      imm, false, true, 1);
    if (qp_.post_send(wr) != 0) return false;
    ibv_wc wc;
    for (int i = 0; i < 200000; ++i) {  // at most a few seconds
      int n = cq_.poll(&wc, 1);
      if (n > 0) return wc.status == IBV_WC_SUCCESS;
      if (n < 0) return false;
      usleep(10);
    }
    return false;
  }

  ~FakePeer() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  static void put(char* out, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
  }
  static uint64_t get(const char* in, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
    return v;
  }
  static bool fail(std::string& error, const char* what) {
    error = std::string(what) + ": " + std::strerror(errno);
    return false;
  }

  std::unique_ptr<verbs::Device> device_;
  verbs::CompletionQueue cq_;
  verbs::QueuePair qp_;
  std::vector<char> mem_;
  verbs::MemoryRegion mr_;
  int fd_ = -1;
  char reply_[RdmaTransport::kHelloBytes] = {};
  size_t got_ = 0;
  uint64_t ring_addr_ = 0;
  uint32_t rkey_ = 0;
};

TEST(RdmaTransport, GarbageInTheRingDisconnectsThePeer) {
  if (verbs::device_names().empty()) GTEST_SKIP() << "no RDMA device (runs inside the soft-RoCE VM)";
  for (int variant = 0; variant < 2; ++variant) {
    std::string error;
    std::unique_ptr<RdmaTransport> a = RdmaTransport::open(options_for(1, 2), error);
    ASSERT_NE(a, nullptr) << error;
    FakePeer fake;
    std::vector<PeerEvent> ev;
    ASSERT_TRUE(fake.begin(a->listen_port(), 16 * 1024, error)) << error;
    int64_t deadline = now_ms() + 20000;
    bool finished = false;
    while (!a->connected(2) && now_ms() < deadline) {
      a->poll(now_ms(), ev);
      a->wait(1);
      if (!finished) {
        finished = fake.finish(error);
        ASSERT_TRUE(error.empty()) << error;
      }
    }
    ASSERT_TRUE(a->connected(2));
    // 0: a record with a broken header checksum; 1: an immediate announcing more than the ring holds.
    std::string junk(64, '\x5a');
    ASSERT_TRUE(fake.write_ring(junk, variant == 0 ? 64 : 1u << 20));
    deadline = now_ms() + 20000;
    while (Pair::count(ev, PeerEvent::Kind::kDisconnected) == 0 && now_ms() < deadline) {
      a->poll(now_ms(), ev);
      a->wait(1);
    }
    EXPECT_EQ(Pair::count(ev, PeerEvent::Kind::kDisconnected), 1u) << "variant " << variant;
    EXPECT_EQ(Pair::count(ev, PeerEvent::Kind::kMessage), 0u);
    EXPECT_EQ(a->counters(2).dropped, 1u);
  }
}

}  // namespace
}  // namespace uk
