// The TCP peer transport (dataplane/src/tcp) over real loopback sockets on ephemeral ports: handshake and the dial
// rule, ordering, big messages, restarts, refusals, hostile bytes, the fault hook and counters. Every wait polls
// all transports until a condition holds or a generous deadline passes; nothing asserts a duration.
#include "ukeeper/dataplane/tcp/tcp_transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace uk {
namespace {

using Kind = PeerEvent::Kind;

constexpr uint64_t kToken = 0x1234abcd5678ef00ull;
constexpr int64_t kDeadlineMs = 10000;

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

TcpTransportOptions base_options(PeerId id) {
  TcpTransportOptions o;
  o.my_id = id;
  o.listen_address = "127.0.0.1";
  o.listen_port = 0;
  o.cluster_token = kToken;
  o.reconnect_initial_ms = 5;  // quick retries keep the tests short; the back-off logic is the same
  o.reconnect_max_ms = 50;
  return o;
}

struct Node {
  TcpTransportOptions options;
  std::unique_ptr<TcpTransport> transport;
  std::vector<PeerEvent> events;  // everything seen, in order
  int port = 0;
};

size_t count(const Node& n, Kind kind, PeerId peer) {
  return static_cast<size_t>(std::count_if(n.events.begin(), n.events.end(), [&](const PeerEvent& e) {
    return e.kind == kind && e.peer == peer;
  }));
}

std::vector<std::string> messages(const Node& n, PeerId from) {
  std::vector<std::string> out;
  for (const PeerEvent& e : n.events) {
    if (e.kind == Kind::kMessage && e.peer == from) out.push_back(e.message);
  }
  return out;
}

// Nodes on ephemeral ports; every node learns the others' ports once all listeners are bound.
class Cluster {
 public:
  using Tweak = std::function<void(TcpTransportOptions&)>;

  explicit Cluster(const std::vector<PeerId>& ids, const Tweak& tweak = nullptr) {
    for (PeerId id : ids) {
      TcpTransportOptions o = base_options(id);
      if (tweak) tweak(o);
      open(id, o);
    }
    for (auto& [id, node] : nodes_) introduce(id);
  }

  Node& operator[](PeerId id) { return nodes_.at(id); }
  TcpTransport& t(PeerId id) { return *nodes_.at(id).transport; }

  void open(PeerId id, TcpTransportOptions o) {
    std::string error;
    Node& n = nodes_[id];
    n.options = o;
    n.transport = TcpTransport::open(std::move(o), error);
    ASSERT_NE(n.transport, nullptr) << error;
    n.port = n.transport->listen_port();
    ASSERT_GT(n.port, 0);
  }

  // Tells `id` where every other live node listens.
  void introduce(PeerId id) {
    for (auto& [other, node] : nodes_) {
      if (other != id) nodes_.at(id).transport->set_peer_address(other, "127.0.0.1", node.port);
    }
  }

  void kill(PeerId id) { nodes_.at(id).transport.reset(); }

  // Reopens a killed node on its old port, as a restarted process would.
  void restart(PeerId id) {
    Node& n = nodes_.at(id);
    TcpTransportOptions o = n.options;
    o.listen_port = n.port;
    n.events.clear();
    open(id, o);
    introduce(id);
  }

  // Waits on every wait_fd (as a server nesting them in its own epoll would), bounded by next_timer_ms().
  void poll_once() {
    std::vector<pollfd> fds;
    int64_t now = now_ms();
    int64_t timeout = 5;
    for (auto& [id, n] : nodes_) {
      if (!n.transport) continue;
      fds.push_back(pollfd{n.transport->wait_fd(), POLLIN, 0});
      int64_t due = n.transport->next_timer_ms();
      if (due >= 0) timeout = std::clamp<int64_t>(due - now, 0, timeout);
    }
    ::poll(fds.data(), fds.size(), static_cast<int>(timeout));
    for (auto& [id, n] : nodes_) {
      if (n.transport) n.transport->poll(now_ms(), n.events);
    }
  }

  bool poll_until(const std::function<bool()>& done, int64_t deadline_ms = kDeadlineMs) {
    int64_t end = now_ms() + deadline_ms;
    while (!done()) {
      if (now_ms() > end) return false;
      poll_once();
    }
    return true;
  }

  void poll_for(int64_t ms) {
    int64_t end = now_ms() + ms;
    while (now_ms() < end) poll_once();
  }

  bool all_connected() {
    for (auto& [id, n] : nodes_) {
      for (auto& [other, m] : nodes_) {
        if (other != id && !n.transport->connected(other)) return false;
      }
    }
    return true;
  }

 private:
  std::map<PeerId, Node> nodes_;
};

// ---------------------------------------------------------------------------------------------------------------
// A raw socket speaking (or abusing) the wire format, written from the spec in tcp_transport.h.

std::string be(uint64_t v, int bytes) {
  std::string s(static_cast<size_t>(bytes), '\0');
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) s[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
  return s;
}

std::string hello(PeerId id, uint64_t token) {
  return "UKPR" + be(1, 2) + be(1, 4) + be(static_cast<uint64_t>(id), 8) + be(token, 8);
}

std::string frame(const std::string& payload) { return be(payload.size(), 4) + payload; }

class RawSocket {
 public:
  explicit RawSocket(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    set_nonblocking(fd_.get());
  }
  explicit RawSocket(Fd fd) : fd_(std::move(fd)), connected_(fd_.valid()) {}
  bool connected() const { return connected_; }

  bool write(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_.get(), bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN) return false;
      if (n > 0) off += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads what is there; true once the other side has closed (EOF or reset).
  bool drain_and_check_closed() {
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n > 0) {
        received_.append(buf, static_cast<size_t>(n));
        continue;
      }
      return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    }
  }
  const std::string& received() const { return received_; }

 private:
  Fd fd_;
  bool connected_ = false;
  std::string received_;
};

class FaultFile {
 public:
  FaultFile() {
    char tmpl[] = "/tmp/uk-tcp-fault-XXXXXX";
    int fd = ::mkstemp(tmpl);
    if (fd >= 0) ::close(fd);
    path_ = tmpl;
    std::filesystem::remove(path_);  // a missing file cuts nothing; start from that
  }
  ~FaultFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }
  void write(const std::string& text) {
    std::string tmp = path_ + ".tmp";
    std::ofstream(tmp) << text;
    std::filesystem::rename(tmp, path_);  // atomic, so a poll never reads half a file
  }
  void remove() { std::filesystem::remove(path_); }

 private:
  std::string path_;
};

// ---------------------------------------------------------------------------------------------------------------
// Connecting

TEST(TcpTransport, TwoNodesConnectAndOnlyTheHigherIdDials) {
  Cluster c({1, 2});
  ASSERT_TRUE(c.poll_until([&] { return count(c[1], Kind::kConnected, 2) == 1 && count(c[2], Kind::kConnected, 1) == 1; }));
  EXPECT_TRUE(c.t(1).connected(2));
  EXPECT_TRUE(c.t(2).connected(1));
  EXPECT_EQ(c.t(1).stats().dials_started, 0u);
  EXPECT_GE(c.t(2).stats().dials_started, 1u);
  EXPECT_EQ(c.t(2).stats().connections_accepted, 0u);
  EXPECT_EQ(c.t(1).counters(2).connects, 1u);
  EXPECT_EQ(c.t(2).counters(1).connects, 1u);
  EXPECT_STREQ(c.t(1).name(), "tcp");
}

TEST(TcpTransport, ThreeNodesConnectPairwiseWithOneChannelEach) {
  Cluster c({1, 2, 3});
  ASSERT_TRUE(c.poll_until([&] { return c.all_connected(); }));
  c.poll_for(50);  // a duplicate channel, if one were made, would show up as extra events here
  for (PeerId a : {1, 2, 3}) {
    for (PeerId b : {1, 2, 3}) {
      if (a == b) continue;
      EXPECT_EQ(count(c[a], Kind::kConnected, b), 1u) << a << " sees " << b;
      EXPECT_EQ(count(c[a], Kind::kDisconnected, b), 0u) << a << " sees " << b;
    }
  }
  EXPECT_EQ(c.t(1).stats().connections_accepted, 2u);
  EXPECT_EQ(c.t(3).stats().connections_accepted, 0u);
  EXPECT_EQ(c.t(1).stats().dials_started, 0u);
}

// ---------------------------------------------------------------------------------------------------------------
// Messages

TEST(TcpTransport, TenThousandSmallMessagesArriveInOrderInFewSystemCalls) {
  Cluster c({1, 2});
  ASSERT_TRUE(c.poll_until([&] { return c.all_connected(); }));
  constexpr int kCount = 10000;
  uint64_t writes_before = c.t(2).stats().write_calls;
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(c.t(2).send(1, "m" + std::to_string(i)));
    ASSERT_TRUE(c.t(1).send(2, "r" + std::to_string(i)));
  }
  ASSERT_TRUE(c.poll_until([&] { return count(c[1], Kind::kMessage, 2) >= kCount && count(c[2], Kind::kMessage, 1) >= kCount; }));
  std::vector<std::string> at1 = messages(c[1], 2);
  std::vector<std::string> at2 = messages(c[2], 1);
  ASSERT_EQ(at1.size(), static_cast<size_t>(kCount));
  ASSERT_EQ(at2.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    ASSERT_EQ(at1[static_cast<size_t>(i)], "m" + std::to_string(i));
    ASSERT_EQ(at2[static_cast<size_t>(i)], "r" + std::to_string(i));
  }
  // Queued in one turn, they leave together: one immediate send plus a handful of flushes, not one per message.
  EXPECT_LT(c.t(2).stats().write_calls - writes_before, 100u);
}

TEST(TcpTransport, SixtyFourMiBMessageArrivesIntactBetweenSmallOnes) {
  Cluster c({1, 2});
  ASSERT_TRUE(c.poll_until([&] { return c.all_connected(); }));
  std::string big(64u << 20, '\0');
  uint32_t x = 12345;
  for (char& ch : big) {
    x = x * 1664525u + 1013904223u;
    ch = static_cast<char>(x >> 24);
  }
  ASSERT_TRUE(c.t(2).send(1, "before"));
  ASSERT_TRUE(c.t(2).send(1, big));
  ASSERT_TRUE(c.t(2).send(1, "after"));
  ASSERT_TRUE(c.t(1).send(2, big));  // the other direction at the same time
  ASSERT_TRUE(c.poll_until([&] { return count(c[1], Kind::kMessage, 2) >= 3 && count(c[2], Kind::kMessage, 1) >= 1; }));
  std::vector<std::string> at1 = messages(c[1], 2);
  ASSERT_EQ(at1.size(), 3u);
  EXPECT_EQ(at1[0], "before");
  EXPECT_TRUE(at1[1] == big) << "64 MiB message corrupted (size " << at1[1].size() << ")";
  EXPECT_EQ(at1[2], "after");
  EXPECT_TRUE(messages(c[2], 1).at(0) == big);
  EXPECT_EQ(c.t(1).counters(2).bytes_received, big.size() + 11);
}

TEST(TcpTransport, EmptyMessageIsAMessage) {
  Cluster c({1, 2});
  ASSERT_TRUE(c.poll_until([&] { return c.all_connected(); }));
  ASSERT_TRUE(c.t(1).send(2, ""));
  ASSERT_TRUE(c.t(1).send(2, "x"));
  ASSERT_TRUE(c.poll_until([&] { return count(c[2], Kind::kMessage, 1) >= 2; }));
  EXPECT_EQ(messages(c[2], 1), (std::vector<std::string>{"", "x"}));
}

// ---------------------------------------------------------------------------------------------------------------
// Restarts and replacement

TEST(TcpTransport, DialerRestartOnSamePortReconnects) {
  Cluster c({1, 2});
  ASSERT_TRUE(c.poll_until([&] { return c.all_connected(); }));
  c.kill(2);
  ASSERT_TRUE(c.poll_until([&] { return count(c[1], Kind::kDisconnected, 2) == 1; }));
  EXPECT_FALSE(c.t(1).connected(2));
  c.restart(2);
  ASSERT_TRUE(c.poll_until([&] { return c.all_connected(); }));
  EXPECT_EQ(count(c[1], Kind::kConnected, 2), 2u);
  ASSERT_TRUE(c.t(1).send(2, "again"));
  ASSERT_TRUE(c.t(2).send(1, "hello back"));
  ASSERT_TRUE(c.poll_until([&] { return count(c[2], Kind::kMessage, 1) > 0 && count(c[1], Kind::kMessage, 2) > 0; }));
  EXPECT_EQ(messages(c[2], 1).at(0), "again");
  EXPECT_EQ(messages(c[1], 2).at(0), "hello back");
}

TEST(TcpTransport, AcceptorRestartOnSamePortIsRedialed) {
  Cluster c({1, 2});
  ASSERT_TRUE(c.poll_until([&] { return c.all_connected(); }));
  c.kill(1);
  ASSERT_TRUE(c.poll_until([&] { return count(c[2], Kind::kDisconnected, 1) == 1; }));
  // While 1 is down, 2 keeps dialing and failing (with back-off).
  ASSERT_TRUE(c.poll_until([&] { return c.t(2).stats().dials_failed >= 2; }));
  c.restart(1);
  ASSERT_TRUE(c.poll_until([&] { return c.all_connected(); }));
  EXPECT_EQ(count(c[2], Kind::kConnected, 1), 2u);
  EXPECT_EQ(c.t(2).counters(1).disconnects, 1u);
  ASSERT_TRUE(c.t(2).send(1, "after restart"));
  ASSERT_TRUE(c.poll_until([&] { return count(c[1], Kind::kMessage, 2) > 0; }));
  EXPECT_EQ(messages(c[1], 2).at(0), "after restart");
}

TEST(TcpTransport, NewConnectionFromSamePeerReplacesTheOldChannel) {
  Cluster c({1, 2});
  ASSERT_TRUE(c.poll_until([&] { return c.all_connected(); }));
  RawSocket impostor(c[1].port);
  ASSERT_TRUE(impostor.connected());
  ASSERT_TRUE(impostor.write(hello(2, kToken)));
  ASSERT_TRUE(c.poll_until([&] { return count(c[1], Kind::kConnected, 2) == 2; }));
  // Old channel out first, then the new one in.
  std::vector<Kind> seen;
  for (const PeerEvent& e : c[1].events) {
    if (e.peer == 2 && e.kind != Kind::kMessage) seen.push_back(e.kind);
  }
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen[0], Kind::kConnected);
  EXPECT_EQ(seen[1], Kind::kDisconnected);
  EXPECT_EQ(seen[2], Kind::kConnected);
  // The real node 2 lost its channel, redials, and in turn replaces the impostor's.
  ASSERT_TRUE(c.poll_until([&] { return impostor.drain_and_check_closed(); }));
  ASSERT_TRUE(c.poll_until([&] { return c.all_connected() && count(c[2], Kind::kConnected, 1) == 2; }));
}

// ---------------------------------------------------------------------------------------------------------------
// Refusals

TEST(TcpTransport, UnknownServerIdIsRefused) {
  Cluster c({1});
  TcpTransportOptions o3 = base_options(3);
  o3.peers[1] = {"127.0.0.1", c[1].port};
  c.open(3, o3);  // 3 knows 1; 1 has never heard of 3
  ASSERT_TRUE(c.poll_until([&] { return c.t(1).stats().handshakes_rejected >= 3; }));
  EXPECT_EQ(count(c[1], Kind::kConnected, 3), 0u);
  EXPECT_EQ(count(c[3], Kind::kConnected, 1), 0u);
  EXPECT_FALSE(c.t(3).connected(1));
  EXPECT_GE(c.t(3).stats().dials_failed, 2u);
}

TEST(TcpTransport, ClusterTokenMismatchIsRefused) {
  Cluster c({1, 2}, [](TcpTransportOptions& o) { o.cluster_token = kToken + static_cast<uint64_t>(o.my_id); });
  ASSERT_TRUE(c.poll_until([&] { return c.t(1).stats().handshakes_rejected >= 3; }));
  EXPECT_EQ(count(c[1], Kind::kConnected, 2), 0u);
  EXPECT_EQ(count(c[2], Kind::kConnected, 1), 0u);
}

TEST(TcpTransport, LowerIdDialingHigherIsRefused) {
  Cluster c({1, 2});
  ASSERT_TRUE(c.poll_until([&] { return c.all_connected(); }));
  RawSocket wrong_way(c[2].port);  // 1 may not dial 2
  ASSERT_TRUE(wrong_way.connected());
  ASSERT_TRUE(wrong_way.write(hello(1, kToken)));
  ASSERT_TRUE(c.poll_until([&] { return wrong_way.drain_and_check_closed(); }));
  EXPECT_TRUE(wrong_way.received().empty());  // no hello back
  EXPECT_EQ(c.t(2).stats().handshakes_rejected, 1u);
  EXPECT_EQ(count(c[2], Kind::kConnected, 1), 1u);
  EXPECT_EQ(count(c[2], Kind::kDisconnected, 1), 0u);
}

TEST(TcpTransport, DialerRefusesAnAnswerFromTheWrongServer) {
  std::string error;
  Fd listener = tcp_listen("127.0.0.1", 0, error);
  ASSERT_TRUE(listener.valid()) << error;
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
  Cluster c({2});
  c.t(2).set_peer_address(1, "127.0.0.1", ntohs(a.sin_port));  // but server 5 answers there
  std::vector<RawSocket> accepted;
  ASSERT_TRUE(c.poll_until([&] {
    std::string ip;
    int port = 0;
    Fd fd = tcp_accept(listener.get(), ip, port);
    if (fd.valid()) {
      accepted.emplace_back(std::move(fd));
      accepted.back().write(hello(5, kToken));
    }
    return c.t(2).stats().dials_failed >= 2;
  }));
  EXPECT_GE(accepted.size(), 2u);
  EXPECT_EQ(count(c[2], Kind::kConnected, 1), 0u);
  EXPECT_EQ(count(c[2], Kind::kConnected, 5), 0u);
  ASSERT_TRUE(c.poll_until([&] { return accepted.at(0).drain_and_check_closed(); }));
  EXPECT_EQ(accepted.at(0).received(), hello(2, kToken));
}

// ---------------------------------------------------------------------------------------------------------------
// Hostile bytes

TEST(TcpTransport, GarbageAndSilenceAtTheListenerAreClosedAndTheTransportKeepsWorking) {
  Cluster c({1, 2}, [](TcpTransportOptions& o) { o.handshake_timeout_ms = 200; });
  ASSERT_TRUE(c.poll_until([&] { return c.all_connected(); }));
  RawSocket http(c[1].port);
  RawSocket short_garbage(c[1].port);
  RawSocket silent(c[1].port);
  ASSERT_TRUE(http.connected() && short_garbage.connected() && silent.connected());
  ASSERT_TRUE(http.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  ASSERT_TRUE(short_garbage.write(std::string("\xff\x00\x13", 3) + "zz"));
  ASSERT_TRUE(c.poll_until([&] { return http.drain_and_check_closed() && short_garbage.drain_and_check_closed(); }));
  ASSERT_TRUE(c.poll_until([&] { return silent.drain_and_check_closed(); }));  // the handshake deadline
  EXPECT_EQ(c.t(1).stats().handshakes_rejected, 3u);
  EXPECT_TRUE(http.received().empty());
  // The real channel never noticed.
  EXPECT_EQ(count(c[1], Kind::kDisconnected, 2), 0u);
  ASSERT_TRUE(c.t(2).send(1, "still here"));
  ASSERT_TRUE(c.poll_until([&] { return count(c[1], Kind::kMessage, 2) > 0; }));
  EXPECT_EQ(messages(c[1], 2).at(0), "still here");
}

// Whatever follows a valid hello, the channel either carries it as frames or closes; nothing crashes, and the
// transport takes the next connection.
TEST(TcpTransport, RandomBytesAfterAValidHelloNeverBreakTheTransport) {
  Cluster c({1}, [](TcpTransportOptions& o) { o.max_message_bytes = 1 << 16; });
  c.t(1).set_peer_address(2, "127.0.0.1", 0);
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::string junk(4096, '\0');
    uint32_t x = seed;
    for (char& ch : junk) {
      x = x * 1103515245u + 12345u;
      ch = static_cast<char>(x >> 16);
    }
    {
      RawSocket fake2(c[1].port);
      ASSERT_TRUE(fake2.connected());
      ASSERT_TRUE(fake2.write(hello(2, kToken) + junk));
      ASSERT_TRUE(c.poll_until([&] { return count(c[1], Kind::kConnected, 2) == seed; })) << seed;
    }  // closed here, if the transport has not closed it already
    ASSERT_TRUE(c.poll_until([&] { return count(c[1], Kind::kDisconnected, 2) == seed; })) << seed;
  }
  EXPECT_GE(c.t(1).counters(2).dropped, 1u);  // most seeds start with a length far above 64 KiB
}

TEST(TcpTransport, OversizedLengthPrefixClosesTheChannelAndCountsDropped) {
  Cluster c({1}, [](TcpTransportOptions& o) { o.max_message_bytes = 1 << 20; });
  c.t(1).set_peer_address(2, "127.0.0.1", 0);  // 2 is known but not yet running
  RawSocket fake2(c[1].port);
  ASSERT_TRUE(fake2.connected());
  ASSERT_TRUE(fake2.write(hello(2, kToken) + frame("valid first")));
  ASSERT_TRUE(c.poll_until([&] {
    fake2.drain_and_check_closed();
    return count(c[1], Kind::kMessage, 2) > 0 && fake2.received().size() >= TcpTransport::kHelloBytes;
  }));
  EXPECT_EQ(fake2.received(), hello(1, kToken));
  EXPECT_EQ(messages(c[1], 2).at(0), "valid first");
  ASSERT_TRUE(fake2.write(be((1u << 20) + 1, 4) + "x"));
  ASSERT_TRUE(c.poll_until([&] { return count(c[1], Kind::kDisconnected, 2) == 1; }));
  EXPECT_EQ(c.t(1).counters(2).dropped, 1u);
  ASSERT_TRUE(c.poll_until([&] { return fake2.drain_and_check_closed(); }));
  // A real node 2 connects afterwards and messages flow.
  TcpTransportOptions o2 = base_options(2);
  o2.peers[1] = {"127.0.0.1", c[1].port};
  c.open(2, o2);
  ASSERT_TRUE(c.poll_until([&] { return c.all_connected(); }));
  ASSERT_TRUE(c.t(2).send(1, "real"));
  ASSERT_TRUE(c.poll_until([&] { return count(c[1], Kind::kMessage, 2) >= 2; }));
  EXPECT_EQ(messages(c[1], 2).at(1), "real");
}

// ---------------------------------------------------------------------------------------------------------------
// Dropping, counters

TEST(TcpTransport, SendWithoutAChannelReturnsFalseAndCountsDropped) {
  Cluster c({1, 2}, [](TcpTransportOptions& o) { o.max_message_bytes = 1024; });
  EXPECT_FALSE(c.t(2).send(1, "too early"));  // before the first poll nothing is connected
  EXPECT_EQ(c.t(2).counters(1).dropped, 1u);
  EXPECT_FALSE(c.t(2).send(99, "nobody"));
  ASSERT_TRUE(c.poll_until([&] { return c.all_connected(); }));
  EXPECT_FALSE(c.t(2).send(1, std::string(1025, 'x')));  // above max_message_bytes
  EXPECT_EQ(c.t(2).counters(1).dropped, 2u);
  c.t(2).disconnect(1);
  EXPECT_FALSE(c.t(2).connected(1));
  EXPECT_FALSE(c.t(2).send(1, "after disconnect"));
  EXPECT_EQ(c.t(2).counters(1).dropped, 3u);
  EXPECT_EQ(c.t(2).counters(1).messages_sent, 0u);
}

TEST(TcpTransport, CountersAddUp) {
  Cluster c({1, 2});
  ASSERT_TRUE(c.poll_until([&] { return c.all_connected(); }));
  uint64_t bytes_1to2 = 0;
  uint64_t bytes_2to1 = 0;
  for (int i = 0; i < 100; ++i) {
    std::string m(static_cast<size_t>(i * 37), 'a');
    ASSERT_TRUE(c.t(1).send(2, m));
    bytes_1to2 += m.size();
    if (i % 2 == 0) {
      ASSERT_TRUE(c.t(2).send(1, m + "b"));
      bytes_2to1 += m.size() + 1;
    }
  }
  ASSERT_TRUE(c.poll_until([&] { return count(c[2], Kind::kMessage, 1) >= 100 && count(c[1], Kind::kMessage, 2) >= 50; }));
  PeerCounters at1 = c.t(1).counters(2);
  PeerCounters at2 = c.t(2).counters(1);
  EXPECT_EQ(at1.messages_sent, 100u);
  EXPECT_EQ(at2.messages_received, 100u);
  EXPECT_EQ(at1.bytes_sent, bytes_1to2);
  EXPECT_EQ(at2.bytes_received, bytes_1to2);
  EXPECT_EQ(at2.messages_sent, 50u);
  EXPECT_EQ(at1.messages_received, 50u);
  EXPECT_EQ(at2.bytes_sent, bytes_2to1);
  EXPECT_EQ(at1.bytes_received, bytes_2to1);
  EXPECT_EQ(at1.connects, 1u);
  EXPECT_EQ(at1.disconnects, 0u);
  EXPECT_EQ(at1.dropped + at2.dropped, 0u);
  // A local disconnect is seen on both sides and counted; the dialer comes back.
  c.t(1).disconnect(2);
  ASSERT_TRUE(c.poll_until([&] { return count(c[2], Kind::kDisconnected, 1) == 1 && c.all_connected(); }));
  EXPECT_EQ(c.t(1).counters(2).disconnects, 1u);
  EXPECT_EQ(c.t(1).counters(2).connects, 2u);
  EXPECT_EQ(c.t(2).counters(1).disconnects, 1u);
  EXPECT_EQ(c.t(2).counters(1).connects, 2u);
  EXPECT_EQ(count(c[1], Kind::kDisconnected, 2), 1u);
}

// ---------------------------------------------------------------------------------------------------------------
// Fault hook

TEST(TcpTransport, FaultFileCutOnTheAcceptorClosesRefusesAndHeals) {
  FaultFile fault;
  Cluster c({1, 2}, [&](TcpTransportOptions& o) {
    if (o.my_id == 1) o.fault_file = fault.path();
  });
  ASSERT_TRUE(c.poll_until([&] { return c.all_connected(); }));
  fault.write("2\n");
  ASSERT_TRUE(c.poll_until([&] {
    return count(c[1], Kind::kDisconnected, 2) == 1 && count(c[2], Kind::kDisconnected, 1) == 1;
  }));
  // 2 keeps dialing; 1 keeps refusing while the cut lasts.
  uint64_t rejected = c.t(1).stats().handshakes_rejected;
  ASSERT_TRUE(c.poll_until([&] { return c.t(1).stats().handshakes_rejected >= rejected + 3; }));
  EXPECT_EQ(count(c[1], Kind::kConnected, 2), 1u);
  EXPECT_EQ(count(c[2], Kind::kConnected, 1), 1u);
  EXPECT_FALSE(c.t(2).send(1, "into the void"));
  fault.remove();
  ASSERT_TRUE(c.poll_until([&] { return c.all_connected(); }));
  ASSERT_TRUE(c.t(2).send(1, "healed"));
  ASSERT_TRUE(c.poll_until([&] { return count(c[1], Kind::kMessage, 2) > 0; }));
  EXPECT_EQ(messages(c[1], 2).at(0), "healed");
}

TEST(TcpTransport, FaultFileCutOnTheDialerStopsDialingUntilHealed) {
  FaultFile fault;
  Cluster c({1, 2, 3}, [&](TcpTransportOptions& o) {
    if (o.my_id == 2) o.fault_file = fault.path();
  });
  ASSERT_TRUE(c.poll_until([&] { return c.all_connected(); }));
  fault.write("  1 junk 77\t");  // junk and unknown ids are ignored
  ASSERT_TRUE(c.poll_until([&] { return count(c[1], Kind::kDisconnected, 2) == 1; }));
  uint64_t dials = c.t(2).stats().dials_started;
  uint64_t accepted = c.t(1).stats().connections_accepted;
  c.poll_for(300);  // many back-off periods (at most 50 ms each): a dial would have happened by now
  EXPECT_EQ(c.t(2).stats().dials_started, dials);
  EXPECT_EQ(c.t(1).stats().connections_accepted, accepted);
  EXPECT_FALSE(c.t(2).connected(1));
  EXPECT_TRUE(c.t(2).connected(3));  // only 1 was cut
  EXPECT_TRUE(c.t(3).connected(2));
  fault.write("");
  ASSERT_TRUE(c.poll_until([&] { return c.all_connected(); }));
  EXPECT_EQ(count(c[2], Kind::kConnected, 1), 2u);
}

TEST(TcpTransport, OpenReportsBindFailureWithAddressAndReason) {
  Cluster c({1});
  TcpTransportOptions o = base_options(2);
  o.listen_port = c[1].port;  // taken
  std::string error;
  EXPECT_EQ(TcpTransport::open(o, error), nullptr);
  EXPECT_NE(error.find("127.0.0.1:" + std::to_string(c[1].port)), std::string::npos) << error;
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
  o.listen_port = 0;
  o.max_message_bytes = size_t{1} << 33;
  EXPECT_EQ(TcpTransport::open(o, error), nullptr);
}

}  // namespace
}  // namespace uk
