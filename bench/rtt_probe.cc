// uk_rtt_probe: closed-loop clients on the raw ZooKeeper protocol. Measures getData and setData round trips of
// one client against a server (ukeeper or Apache ZooKeeper alike), setData throughput with N concurrent clients,
// and the floors beside them from the same run: the loopback TCP round trip of the same message size (to an
// in-process echo server) and, with --fsync-dir, the latency of a 4 KiB write + fdatasync in that directory.
// With --interleave N (and --fsync-dir) it also takes the three single-client figures in turn, N rounds of one
// echo, one setData and one fdatasync, and prints what a durable setData costs above the floors measured in the
// same moments (the machine's drift between separate runs is often larger than the difference sought).
// A precursor of ukbench (the bench suite issue); it prints what it ran and how many operations.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "ukeeper/common/jute.h"
#include "ukeeper/server/proto.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "uk_rtt_probe: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

void write_all(int fd, const std::string& b) {
  size_t off = 0;
  while (off < b.size()) {
    ssize_t n = ::write(fd, b.data() + off, b.size() - off);
    if (n <= 0) die("write");
    off += static_cast<size_t>(n);
  }
}

void read_exact(int fd, char* p, size_t len) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = ::read(fd, p + off, len - off);
    if (n <= 0) die("read");
    off += static_cast<size_t>(n);
  }
}

std::string read_frame(int fd) {
  char hdr[4];
  read_exact(fd, hdr, 4);
  uk::JuteReader r(std::string_view(hdr, 4));
  int32_t len = r.get_int();
  std::string body(static_cast<size_t>(len), '\0');
  read_exact(fd, body.data(), body.size());
  return body;
}

int connect_to(const std::string& host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

struct Summary {
  std::vector<double> us;
  void print(const char* name, const char* target) {
    std::sort(us.begin(), us.end());
    auto pct = [this](double p) { return us[std::min(us.size() - 1, static_cast<size_t>(p * us.size()))]; };
    std::printf("%-10s %-24s n=%-7zu p50=%8.1f p90=%8.1f p99=%8.1f p99.9=%8.1f max=%8.1f us\n", name, target,
                us.size(), pct(0.50), pct(0.90), pct(0.99), pct(0.999), us.back());
  }
};

// Loopback TCP echo of `bytes`-sized messages: the floor under any request/response on this machine.
class EchoPair {
 public:
  explicit EchoPair(size_t bytes) : bytes_(bytes), msg_(bytes, 'x'), back_(bytes, '\0') {
    lfd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(lfd_, 1) != 0) die("echo listen");
    socklen_t len = sizeof a;
    getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len);
    echo_ = std::thread([this] {
      int c = ::accept(lfd_, nullptr, nullptr);
      int one = 1;
      setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::string buf(bytes_, '\0');
      for (;;) {
        size_t off = 0;
        while (off < bytes_) {
          ssize_t n = ::read(c, buf.data() + off, bytes_ - off);
          if (n <= 0) {
            ::close(c);
            return;
          }
          off += static_cast<size_t>(n);
        }
        write_all(c, buf);
      }
    });
    fd_ = connect_to("127.0.0.1", ntohs(a.sin_port));
  }
  ~EchoPair() {
    ::close(fd_);
    echo_.join();
    ::close(lfd_);
  }
  // One round trip, in microseconds.
  double once() {
    auto t0 = Clock::now();
    write_all(fd_, msg_);
    read_exact(fd_, back_.data(), bytes_);
    return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  }

 private:
  size_t bytes_;
  std::string msg_;
  std::string back_;
  int lfd_ = -1;
  int fd_ = -1;
  std::thread echo_;
};

Summary echo_rtt(int ops, size_t bytes) {
  EchoPair echo(bytes);
  Summary s;
  for (int i = 0; i < ops; i++) s.us.push_back(echo.once());
  return s;
}

class ZkConn {
 public:
  ZkConn(const std::string& host, int port) : fd_(connect_to(host, port)) {
    std::string out;
    uk::JuteWriter w(out);
    size_t f = w.begin_frame();
    w.put_int(0);
    w.put_long(0);
    w.put_int(30000);
    w.put_long(0);
    w.put_buffer(std::string_view(std::string(16, '\0')));
    w.put_bool(false);
    w.end_frame(f);
    write_all(fd_, out);
    read_frame(fd_);
  }
  ~ZkConn() { ::close(fd_); }
  // Sends one request and waits for its reply; returns the reply's error code.
  int32_t call(int32_t type, const std::string& body) {
    std::string out;
    uk::JuteWriter w(out);
    size_t f = w.begin_frame();
    w.put_int(++xid_);
    w.put_int(type);
    out.append(body);
    w.end_frame(f);
    write_all(fd_, out);
    for (;;) {
      std::string reply = read_frame(fd_);
      uk::JuteReader r(reply);
      int32_t xid = r.get_int();
      r.get_long();
      int32_t err = r.get_int();
      if (xid == xid_) return err;
    }
  }

 private:
  int fd_;
  int32_t xid_ = 0;
};

std::string create_body(const std::string& path, const std::string& value) {
  std::string body;
  uk::JuteWriter w(body);
  w.put_string(path);
  w.put_buffer(std::string_view(value));
  w.put_int(1);  // one ACL: world:anyone, all permissions
  w.put_int(31);
  w.put_string("world");
  w.put_string("anyone");
  w.put_int(0);  // persistent
  return body;
}

std::string set_body(const std::string& path, const std::string& value) {
  std::string body;
  uk::JuteWriter w(body);
  w.put_string(path);
  w.put_buffer(std::string_view(value));
  w.put_int(-1);
  return body;
}

// 4 KiB pwrite + fdatasync in `dir`: the floor under one durable commit there.
class FsyncProbe {
 public:
  explicit FsyncProbe(const std::string& dir) : path_(dir + "/uk-rtt-probe-fsync.tmp"), block_(4096, 'f') {
    fd_ = ::open(path_.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
    if (fd_ < 0) die("open fsync probe file");
  }
  ~FsyncProbe() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  // One pwrite + fdatasync, in microseconds.
  double once() {
    auto t0 = Clock::now();
    if (::pwrite(fd_, block_.data(), block_.size(), static_cast<off_t>(next_++ % 256) * 4096) != 4096) die("pwrite");
    if (::fdatasync(fd_) != 0) die("fdatasync");
    return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  }

 private:
  std::string path_;
  std::string block_;
  int fd_ = -1;
  uint64_t next_ = 0;
};

Summary fsync_floor(const std::string& dir, int ops) {
  FsyncProbe probe(dir);
  Summary s;
  for (int i = 0; i < ops; i++) s.us.push_back(probe.once());
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int port = 2181;
  int ops = 20000;
  int warmup = 2000;
  size_t value_bytes = 100;
  std::string label = "server";
  std::string fsync_dir;
  std::vector<int> client_counts;
  double seconds = 5.0;
  int interleave = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    std::string v = argv[i + 1];
    if (k == "--port") port = std::atoi(v.c_str());
    else if (k == "--host") host = v;
    else if (k == "--ops") ops = std::atoi(v.c_str());
    else if (k == "--warmup") warmup = std::atoi(v.c_str());
    else if (k == "--value-bytes") value_bytes = static_cast<size_t>(std::atoi(v.c_str()));
    else if (k == "--label") label = v;
    else if (k == "--fsync-dir") fsync_dir = v;
    else if (k == "--seconds") seconds = std::atof(v.c_str());
    else if (k == "--interleave") interleave = std::atoi(v.c_str());
    else if (k == "--clients") {
      // comma-separated client counts for the setData throughput runs, e.g. 1,16,64
      for (size_t at = 0; at <= v.size();) {
        size_t comma = v.find(',', at);
        if (comma == std::string::npos) comma = v.size();
        client_counts.push_back(std::atoi(v.substr(at, comma - at).c_str()));
        at = comma + 1;
      }
    } else {
      std::fprintf(stderr, "usage: uk_rtt_probe [--host H] [--port P] [--ops N] [--warmup N] [--value-bytes B] "
                           "[--label NAME] [--fsync-dir DIR] [--clients 1,16,64] [--seconds S] [--interleave N]\n");
      return 2;
    }
  }
  const std::string path = "/uk-rtt-probe";
  const std::string value(value_bytes, 'v');
  ZkConn zk(host, port);
  zk.call(1, create_body(path, value));  // NODEEXISTS from an earlier run is fine
  std::string get;
  uk::JuteWriter(get).put_string(path);
  get.push_back('\0');
  std::string set = set_body(path, value);
  // One request's round trip, in microseconds; a failed request ends the probe.
  auto timed_call = [&](int32_t type, const std::string& body) {
    auto t0 = Clock::now();
    if (zk.call(type, body) != 0) {
      std::fprintf(stderr, "uk_rtt_probe: request type %d failed\n", type);
      std::exit(1);
    }
    return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  };
  auto measure = [&](int32_t type, const std::string& body) {
    for (int i = 0; i < warmup; i++) zk.call(type, body);
    Summary s;
    for (int i = 0; i < ops; i++) s.us.push_back(timed_call(type, body));
    return s;
  };
  std::printf("# one client, closed loop, %zu-byte values, %d warm-up + %d measured ops each\n", value_bytes, warmup,
              ops);
  Summary floor = echo_rtt(ops, value_bytes + 40);
  floor.print("tcp-echo", "loopback");
  measure(4, get).print("getData", (label + " " + host + ":" + std::to_string(port)).c_str());
  measure(5, set).print("setData", (label + " " + host + ":" + std::to_string(port)).c_str());
  if (!fsync_dir.empty()) fsync_floor(fsync_dir, std::max(200, ops / 20)).print("fdatasync", fsync_dir.c_str());
  if (interleave > 0 && !fsync_dir.empty()) {
    // The same three measurements taken in turn, N times (order rotating each iteration), so that the machine's
    // drift hits all three alike: what a durable setData costs above its two floors in the same moments.
    EchoPair echo(value_bytes + 40);
    FsyncProbe fsync(fsync_dir);
    Summary e, w, f;
    std::vector<double> over_fsync, over_both;
    for (int i = 0; i < interleave; i++) {
      double te = 0, tw = 0, tf = 0;
      for (int k = 0; k < 3; k++) {
        switch ((i + k) % 3) {
          case 0: te = echo.once(); break;
          case 1: tw = timed_call(5, set); break;
          default: tf = fsync.once(); break;
        }
      }
      e.us.push_back(te);
      w.us.push_back(tw);
      f.us.push_back(tf);
      over_fsync.push_back(tw - tf);
      over_both.push_back(tw - tf - te);
    }
    std::printf("# interleaved: %d rounds of one loopback echo, one setData, one 4 KiB pwrite + fdatasync in %s\n",
                interleave, fsync_dir.c_str());
    const std::string target = label + " " + host + ":" + std::to_string(port);
    e.print("tcp-echo", "loopback");
    w.print("setData", target.c_str());
    f.print("fdatasync", fsync_dir.c_str());
    std::printf("%-10s %-24s setData - fdatasync: median %.1f us (p50s: %.1f); setData - fdatasync - echo: median "
                "%.1f us\n", "overhead", label.c_str(), median(over_fsync), median(w.us) - median(f.us),
                median(over_both));
  }
  for (int n : client_counts) {
    // N connections, each closed loop on its own node; throughput over `seconds`, latency of every op.
    std::atomic<bool> go{false};
    std::atomic<bool> done{false};
    std::vector<Summary> per(static_cast<size_t>(n));
    std::vector<std::thread> threads;
    for (int t = 0; t < n; t++) {
      threads.emplace_back([&, t] {
        ZkConn conn(host, port);
        std::string my_path = path + "-" + std::to_string(t);
        conn.call(1, create_body(my_path, value));
        std::string my_set = set_body(my_path, value);
        while (!go.load()) std::this_thread::yield();
        while (!done.load()) {
          auto t0 = Clock::now();
          if (conn.call(5, my_set) != 0) break;
          per[static_cast<size_t>(t)].us.push_back(
              std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    go.store(true);
    auto start = Clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    done.store(true);
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    for (auto& th : threads) th.join();
    Summary all;
    for (auto& p : per) all.us.insert(all.us.end(), p.us.begin(), p.us.end());
    char name[64];
    std::snprintf(name, sizeof name, "set x%d", n);
    std::printf("%-10s %-24s %.0f ops/s over %.1f s\n", name, label.c_str(), static_cast<double>(all.us.size()) / elapsed,
                elapsed);
    if (!all.us.empty()) all.print(name, label.c_str());
  }
  return 0;
}
