// uk_rdma_ensemble_check: the client side of the 3-member RDMA ensemble test, run inside the soft-RoCE VM by
// vm_ensemble_init.sh (the VM has no Python, so this is the client). One run:
//   1. waits until every given member serves (srvr says leader or follower);
//   2. writes through every member: `--writes` creates each under /rdma/<prefix>, plus `--big` setData of
//      100 KiB values (several times the RDMA ring over the run: wrap-around and fragments on the real device);
//   3. on every member: sync, then the children of /rdma/<prefix> are exactly the ones written, and the big node
//      holds the last value; with --verify P:N also /rdma/P holds N children (writes made while it was down);
//   4. mntr on every member: towards every other given member that is the leader or is led by it, both directions
//      are on the rdma lane, RDMA writes were posted, and no consensus message went over TCP during the run.
// Prints "UK_RDMA_ENSEMBLE OK <prefix> ..." and exits 0, or "UK_RDMA_ENSEMBLE FAIL <prefix>: why" and exits 1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ukeeper/client/connection.h"
#include "ukeeper/client/requests.h"
#include "ukeeper/common/jute.h"

namespace {

using uk::client::Connection;

std::string g_prefix = "?";

[[noreturn]] void fail(const std::string& why) {
  std::printf("UK_RDMA_ENSEMBLE FAIL %s: %s\n", g_prefix.c_str(), why.c_str());
  std::fflush(stdout);
  std::exit(1);
}

// A four-letter word's answer ("" when the member does not answer).
std::string four(int port, const char* word) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && write(fd, word, 4) == 4) {
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

std::map<std::string, std::string> mntr(int port) {
  std::map<std::string, std::string> m;
  std::istringstream in(four(port, "mntr"));
  for (std::string line; std::getline(in, line);) {
    size_t tab = line.find('\t');
    if (tab != std::string::npos) m[line.substr(0, tab)] = line.substr(tab + 1);
  }
  return m;
}

uint64_t num(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) fail("mntr has no " + key);
  return std::strtoull(it->second.c_str(), nullptr, 10);
}

std::string mode(int port) {
  std::string s = four(port, "srvr");
  size_t at = s.find("Mode: ");
  return at == std::string::npos ? "" : s.substr(at + 6, s.find('\n', at) - at - 6);
}

std::unique_ptr<Connection> connect_to(int port) {
  Connection::Options o;
  o.port = port;
  o.session_timeout_ms = 20000;
  o.connect_timeout_ms = 20000;
  std::string error;
  std::unique_ptr<Connection> c = Connection::open(o, &error);
  if (!c) fail("connect to " + std::to_string(port) + ": " + error);
  return c;
}

int32_t create(Connection& c, const std::string& path, const std::string& data) {
  std::string body;
  uk::client::encode_create(body, path, data, uk::client::kCreatePersistent);
  return c.call(uk::client::op::kCreate, body, nullptr, 30000);
}

void sync_path(Connection& c, const std::string& path) {
  std::string body;
  uk::JuteWriter(body).put_string(path);
  if (int32_t rc = c.call(9, body, nullptr, 30000); rc != 0) fail("sync " + path + ": error " + std::to_string(rc));
}

std::vector<std::string> children(Connection& c, const std::string& path) {
  std::string body, reply;
  uk::client::encode_path_watch(body, path, false);
  if (int32_t rc = c.call(uk::client::op::kGetChildren, body, &reply, 30000); rc != 0) {
    fail("getChildren " + path + ": error " + std::to_string(rc));
  }
  std::vector<std::string> out;
  if (!uk::client::decode_children_reply(reply, out)) fail("getChildren " + path + ": bad reply");
  return out;
}

std::string get_data(Connection& c, const std::string& path) {
  std::string body, reply;
  uk::client::encode_path_watch(body, path, false);
  if (int32_t rc = c.call(uk::client::op::kGetData, body, &reply, 30000); rc != 0) {
    fail("getData " + path + ": error " + std::to_string(rc));
  }
  uk::JuteReader r(reply);
  std::optional<std::string> data = r.get_buffer();
  if (!r.ok()) fail("getData " + path + ": bad reply");
  return data.value_or("");
}

}  // namespace

int main(int argc, char** argv) {
  std::map<int, int> ids;  // client port -> member id
  int writes = 30, big = 12;
  std::string verify;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--members") {  // id:port,id:port,...
      std::istringstream in(v);
      for (std::string item; std::getline(in, item, ',');) {
        size_t colon = item.find(':');
        ids[std::atoi(item.substr(colon + 1).c_str())] = std::atoi(item.substr(0, colon).c_str());
      }
    } else if (k == "--prefix") {
      g_prefix = v;
    } else if (k == "--writes") {
      writes = std::atoi(v.c_str());
    } else if (k == "--big") {
      big = std::atoi(v.c_str());
    } else if (k == "--verify") {
      verify = v;
    } else {
      fail("unknown argument " + k);
    }
  }
  if (ids.empty()) fail("usage: --members id:port,... --prefix P [--writes N] [--big N] [--verify P:N]");

  // 1. Serving, with one leader.
  int leader_port = 0;
  for (int attempt = 0; attempt < 600 && leader_port == 0; ++attempt) {
    int leaders = 0, serving = 0, candidate = 0;
    for (const auto& [port, id] : ids) {
      std::string m = mode(port);
      if (m == "leader") ++leaders, candidate = port;
      if (m == "leader" || m == "follower") ++serving;
    }
    if (leaders == 1 && serving == static_cast<int>(ids.size())) leader_port = candidate;
    if (leader_port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (leader_port == 0) fail("the members did not serve with one leader within 60 s");
  const int leader_id = ids[leader_port];

  // Serving comes before the lanes move: a channel starts on TCP and moves to rdma once both sides' RDMA
  // connection is up. Wait for that on every leader-follower pair, both directions, so the count of TCP messages
  // below covers only the run (a heartbeat sent on TCP just before the move is no failure).
  auto lanes_on_rdma = [&] {
    for (const auto& [port, id] : ids) {
      auto m = mntr(port);
      for (const auto& [other_port, other] : ids) {
        if (other == id || (id != leader_id && other != leader_id)) continue;
        const std::string p = "zk_ukeeper_peer_" + std::to_string(other) + "_";
        if (m[p + "lane"] != "rdma" || m[p + "in_lane"] != "rdma") return false;
      }
    }
    return true;
  };
  for (int attempt = 0; attempt < 300 && !lanes_on_rdma(); ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  std::map<int, std::map<std::string, std::string>> before;
  for (const auto& [port, id] : ids) before[port] = mntr(port);

  // 2. Writes through every member.
  std::map<int, std::unique_ptr<Connection>> conns;
  for (const auto& [port, id] : ids) conns[port] = connect_to(port);
  for (const std::string& p : std::vector<std::string>{"/rdma", "/rdma/" + g_prefix, "/rdma/big"}) {
    int32_t rc = create(*conns[leader_port], p, "");
    if (rc != 0 && rc != uk::client::err::kNodeExists) fail("create " + p + ": error " + std::to_string(rc));
  }
  std::set<std::string> written;
  for (int k = 0; k < writes; ++k) {
    for (auto& [port, c] : conns) {
      std::string name = "n-" + std::to_string(ids[port]) + "-" + std::to_string(k);
      std::string data(static_cast<size_t>(k * 37 % 2000), static_cast<char>('a' + k % 26));
      if (int32_t rc = create(*c, "/rdma/" + g_prefix + "/" + name, data); rc != 0) {
        fail("create " + name + " via member " + std::to_string(ids[port]) + ": error " + std::to_string(rc));
      }
      written.insert(name);
    }
  }
  std::string last_big;
  for (int k = 0; k < big; ++k) {
    last_big.assign(100 * 1024, static_cast<char>('A' + k % 26));
    std::string body;
    uk::client::encode_set_data(body, "/rdma/big", last_big);
    Connection& c = *conns[std::next(conns.begin(), k % static_cast<int>(conns.size()))->first];
    if (int32_t rc = c.call(uk::client::op::kSetData, body, nullptr, 30000); rc != 0) {
      fail("setData /rdma/big: error " + std::to_string(rc));
    }
  }

  // 3. Every member has every write.
  for (auto& [port, c] : conns) {
    sync_path(*c, "/rdma");
    std::vector<std::string> kids = children(*c, "/rdma/" + g_prefix);
    if (std::set<std::string>(kids.begin(), kids.end()) != written) {
      fail("member " + std::to_string(ids[port]) + " has " + std::to_string(kids.size()) + " children, expected " +
           std::to_string(written.size()));
    }
    if (big > 0 && get_data(*c, "/rdma/big") != last_big) fail("member " + std::to_string(ids[port]) + ": /rdma/big");
    if (!verify.empty()) {
      size_t colon = verify.find(':');
      std::string other = verify.substr(0, colon);
      size_t want = std::strtoul(verify.substr(colon + 1).c_str(), nullptr, 10);
      size_t got = children(*c, "/rdma/" + other).size();
      if (got != want) {
        fail("member " + std::to_string(ids[port]) + " has " + std::to_string(got) + " children of /rdma/" + other +
             ", expected " + std::to_string(want));
      }
    }
  }
  for (auto& [port, c] : conns) c->close_session();

  // 4. The replication went over RDMA.
  uint64_t rdma_writes = 0;
  for (const auto& [port, id] : ids) {
    auto m = mntr(port);
    for (const auto& [other_port, other] : ids) {
      if (other == id || (id != leader_id && other != leader_id)) continue;  // followers talk to the leader only
      const std::string p = "zk_ukeeper_peer_" + std::to_string(other) + "_";
      if (m[p + "lane"] != "rdma" || m[p + "in_lane"] != "rdma") {
        fail("member " + std::to_string(id) + " talks to " + std::to_string(other) + " over " + m[p + "lane"] +
             " (in " + m[p + "in_lane"] + "), not rdma");
      }
      uint64_t posted = num(m, p + "rdma_writes_posted") - num(before[port], p + "rdma_writes_posted");
      uint64_t tcp = num(m, p + "tcp_messages_sent") - num(before[port], p + "tcp_messages_sent");
      if (posted == 0) fail("member " + std::to_string(id) + " posted no RDMA write to " + std::to_string(other));
      if (tcp != 0) {
        fail("member " + std::to_string(id) + " sent " + std::to_string(tcp) + " messages to " +
             std::to_string(other) + " over TCP during the run");
      }
      rdma_writes += posted;
    }
  }
  std::printf("UK_RDMA_ENSEMBLE OK %s: %zu members, leader %d, %zu creates + %d x 100 KiB setData committed on "
              "every member, %llu RDMA writes posted, 0 consensus messages over TCP\n",
              g_prefix.c_str(), ids.size(), leader_id, written.size(), big,
              static_cast<unsigned long long>(rdma_writes));
  return 0;
}
