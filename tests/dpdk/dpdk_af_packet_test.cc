// Real DPDK, no hugepages, no NIC: two uk_dpdk_peer processes, each in its own network namespace created here, each
// on net_af_packet over its end of a veth pair, exchange thousands of messages (small ones and ones of up to 1 MiB,
// fragmented into hundreds of frames) both ways at once, through the transport's fault layer (frames lost on send and
// receive, corrupted, duplicated); then one side resets the channel and a new one must come up. Each peer checks
// order and every byte, and that retransmission, checksums and duplicate detection met the injected faults (see
// dpdk_peer_main.cc). Also: EAL and port failures come back as clear errors.
//
// Needs root for namespaces and raw sockets (CI runs as root). Without root these tests fail with a message
// rather than skip, so a CI that lost root does not go green silently. Namespaces are removed however a test ends.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr const char* kPeerBin = UK_DPDK_PEER_BIN;
constexpr int kRunDeadlineSeconds = 100;

// Runs a shell command; returns its exit status and output (stdout and stderr).
int sh(const std::string& cmd, std::string* output = nullptr) {
  std::string full = cmd + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[512];
  std::string out;
  while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
  int status = pclose(p);
  if (output != nullptr) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What every test here needs, checked with a message that says what to do.
std::string missing_prerequisite() {
  if (geteuid() != 0) {
    return "the DPDK tests need root (network namespaces, veth pairs, raw sockets for net_af_packet); CI runs as "
           "root — run them as root rather than skipping them";
  }
  if (sh("ip -V") != 0) return "iproute2's `ip` is missing (tools/setup.sh installs it)";
  if (access(kPeerBin, X_OK) != 0) return std::string("the test peer is not built: ") + kPeerBin;
  return "";
}

// Two namespaces joined by a veth pair with fixed MACs, no IP addresses (so the kernel stays out of our UDP) and no
// IPv6 (so it stays quiet). Names carry the pid: parallel runs do not collide. Removed in the destructor.
class VethNamespaces {
 public:
  VethNamespaces() {
    const std::string tag = std::to_string(getpid());
    ns_[0] = "ukdpdk-" + tag + "-a";
    ns_[1] = "ukdpdk-" + tag + "-b";
    if_[0] = "ukd" + tag + "a";  // interface names are at most 15 characters
    if_[1] = "ukd" + tag + "b";
  }
  ~VethNamespaces() {
    for (const std::string& ns : ns_) sh("ip netns del " + ns);  // takes the veth ends with it
    sh("ip link del " + if_[0]);  // in case setup failed before the move
  }

  bool create(std::string& error) {
    const std::vector<std::string> steps = {
        "ip netns add " + ns_[0],
        "ip netns add " + ns_[1],
        "ip link add " + if_[0] + " type veth peer name " + if_[1],
        "ip link set " + if_[0] + " netns " + ns_[0],
        "ip link set " + if_[1] + " netns " + ns_[1],
        "ip -n " + ns_[0] + " link set " + if_[0] + " address " + mac(0),
        "ip -n " + ns_[1] + " link set " + if_[1] + " address " + mac(1),
        "ip netns exec " + ns_[0] + " sysctl -qw net.ipv6.conf.all.disable_ipv6=1",
        "ip netns exec " + ns_[1] + " sysctl -qw net.ipv6.conf.all.disable_ipv6=1",
        "ip -n " + ns_[0] + " link set " + if_[0] + " up",
        "ip -n " + ns_[1] + " link set " + if_[1] + " up",
    };
    for (const std::string& step : steps) {
      std::string out;
      if (sh(step, &out) != 0) {
        error = "`" + step + "` failed: " + out;
        return false;
      }
    }
    return true;
  }

  const std::string& ns(int i) const { return ns_[i]; }
  const std::string& iface(int i) const { return if_[i]; }
  static std::string mac(int i) { return i == 0 ? "02:00:00:00:0d:01" : "02:00:00:00:0d:02"; }
  static std::string ip(int i) { return i == 0 ? "10.213.0.1" : "10.213.0.2"; }

 private:
  std::string ns_[2];
  std::string if_[2];
};

struct Child {
  pid_t pid = -1;
  std::string log;
  int status = -1;
};

// Starts argv with stdout and stderr going to `log`.
Child spawn(const std::vector<std::string>& argv, const std::string& log) {
  Child c;
  c.log = log;
  c.pid = fork();
  if (c.pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return c;
}

// Waits for every child up to the deadline; kills the rest. False on a timeout.
bool wait_all(std::vector<Child>& children, int deadline_seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(deadline_seconds);
  size_t left = children.size();
  while (left > 0) {
    for (Child& c : children) {
      if (c.pid < 0) continue;
      int status;
      if (waitpid(c.pid, &status, WNOHANG) == c.pid) {
        c.status = status;
        c.pid = -1;
        --left;
      }
    }
    if (left == 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      for (Child& c : children) {
        if (c.pid < 0) continue;
        kill(c.pid, SIGKILL);
        waitpid(c.pid, &c.status, 0);
        c.pid = -1;
      }
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

bool exited_ok(const Child& c) { return WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0; }

std::string temp_log(const std::string& name) {
  return (testing::TempDir().empty() ? std::string("/tmp/") : testing::TempDir()) + "uk_dpdk_" +
         std::to_string(getpid()) + "_" + name + ".log";
}

std::vector<std::string> peer_args(const VethNamespaces& net, int me, uint64_t messages) {
  const int other = 1 - me;
  return {
      "ip", "netns", "exec", net.ns(me), kPeerBin,
      "--id=" + std::to_string(me + 1),
      "--peer-id=" + std::to_string(other + 1),
      "--vdev=net_af_packet0,iface=" + net.iface(me),
      "--ip=" + VethNamespaces::ip(me),
      "--peer-ip=" + VethNamespaces::ip(other),
      "--peer-mac=" + VethNamespaces::mac(other),
      // lcore 0 may run on either CPU: two busy-polling processes on a 2-core machine share them.
      "--lcores=0@(0-1)",
      "--memory-mb=256",
      "--messages=" + std::to_string(messages),
      // The fault layer: 5% of sent and 3% of received frames lost, 1% corrupted, 1% duplicated.
      "--tx-drop-ppm=50000", "--rx-drop-ppm=30000", "--rx-corrupt-ppm=10000", "--rx-dup-ppm=10000",
      "--seed=" + std::to_string(100 + me),
      "--deadline-ms=" + std::to_string((kRunDeadlineSeconds - 10) * 1000),
  };
}

TEST(DpdkAfPacket, TwoProcessesExchangeInOrderIntactAndRecoverFromInjectedFaults) {
  const std::string missing = missing_prerequisite();
  ASSERT_TRUE(missing.empty()) << missing;
  VethNamespaces net;
  std::string error;
  ASSERT_TRUE(net.create(error)) << error;

  const uint64_t messages = 3000;  // 60 of them between 64 KiB and 1 MiB: about 35 MB each way
  std::vector<Child> peers = {spawn(peer_args(net, 0, messages), temp_log("peer1")),
                              spawn(peer_args(net, 1, messages), temp_log("peer2"))};
  const bool finished = wait_all(peers, kRunDeadlineSeconds);
  const std::string log1 = read_file(peers[0].log);
  const std::string log2 = read_file(peers[1].log);
  std::remove(peers[0].log.c_str());
  std::remove(peers[1].log.c_str());
  ASSERT_TRUE(finished) << "the peers did not finish in " << kRunDeadlineSeconds << " s\n--- peer 1:\n"
                        << log1 << "\n--- peer 2:\n" << log2;
  EXPECT_TRUE(exited_ok(peers[0])) << log1;
  EXPECT_TRUE(exited_ok(peers[1])) << log2;
  for (const std::string* log : {&log1, &log2}) {
    EXPECT_NE(log->find("received " + std::to_string(messages) + " messages"), std::string::npos) << *log;
    EXPECT_NE(log->find("connects 2, disconnects 1"), std::string::npos) << *log;
  }
  EXPECT_NE(log1.find("PASS node 1"), std::string::npos) << log1;
  EXPECT_NE(log2.find("PASS node 2"), std::string::npos) << log2;
  // The summary lines, for the CI log.
  for (const std::string* log : {&log1, &log2}) {
    size_t at = log->find("RESULT");
    if (at != std::string::npos) std::printf("%s\n", log->substr(at, log->find('\n', at) - at).c_str());
  }
}

TEST(DpdkAfPacket, NoPortIsAClearErrorNotACrash) {
  const std::string missing = missing_prerequisite();
  ASSERT_TRUE(missing.empty()) << missing;
  const std::string base = std::string(kPeerBin) +
                           " --id=1 --peer-id=2 --ip=10.213.0.1 --peer-ip=10.213.0.2 --peer-mac=02:00:00:00:0d:02"
                           " --memory-mb=128 --open-only=1";
  std::string out;
  EXPECT_EQ(sh(base, &out), 2) << out;
  EXPECT_NE(out.find("no DPDK port"), std::string::npos) << out;
  // An af_packet port on an interface that does not exist: the probe fails, the port is missing.
  EXPECT_EQ(sh(base + " --vdev=net_af_packet0,iface=ukdpdk-none0", &out), 2) << out;
  EXPECT_NE(out.find("no DPDK port"), std::string::npos) << out;
  // A port that exists, but not the one asked for.
  EXPECT_EQ(sh(base + " --vdev=net_null0 --device=net_af_packet0", &out), 2) << out;
  EXPECT_NE(out.find("no DPDK port named 'net_af_packet0' (ports EAL knows: net_null0)"), std::string::npos) << out;
  // EAL's own refusal of its arguments.
  EXPECT_EQ(sh(base + " --lcores=99999", &out), 2) << out;
  EXPECT_NE(out.find("DPDK EAL initialisation failed"), std::string::npos) << out;
  // A port that opens.
  EXPECT_EQ(sh(base + " --vdev=net_null0", &out), 0) << out;
  EXPECT_NE(out.find("OPENED net_null0"), std::string::npos) << out;
}

TEST(DpdkAfPacket, EalInitialisesOncePerProcess) {
  const std::string missing = missing_prerequisite();
  ASSERT_TRUE(missing.empty()) << missing;
  std::string out;
  EXPECT_EQ(sh(std::string(kPeerBin) + " --check=eal-twice --ip=10.213.0.1 --peer-ip=10.213.0.2"
                                       " --peer-mac=02:00:00:00:0d:02 --memory-mb=128",
               &out),
            0)
      << out;
  EXPECT_NE(out.find("REFUSED: DPDK EAL was already initialised in this process with different arguments"),
            std::string::npos)
      << out;
}

}  // namespace
