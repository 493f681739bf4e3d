// uk_tree_bench: the lock-free znode store (storage/include/ukeeper/storage/tree/data_tree.h) on its own, no
// server: read throughput with 1 and 2 reader threads with and without a concurrent writer, getData-style lookup
// latency (p50/p99/p99.9) with and without writes, the writer's cost of a create under a parent with few and with
// many children, the path hash and writer-side lookup costs, and resident memory per znode at --znodes znodes
// with 100-byte values.
// Every read is what an I/O thread would do per request: enter a guard, look the path up, copy the data out.
// Latencies are timed per lookup with steady_clock (its own ~20-30 ns are included).
//   uk_tree_bench [--znodes N] [--seconds S]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ukeeper/storage/tree/data_tree.h"

namespace {

using Clock = std::chrono::steady_clock;
using uk::DataTree;
using uk::Txn;
using uk::TxnOp;
using uk::TxnType;
using uk::Zxid;

const uk::AclList kOpen = {uk::Acl{uk::perm::kAll, uk::Id{"world", "anyone"}}};
constexpr size_t kFanout = 1000;  // znodes per parent in the big tree

int64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

std::string node_path(size_t i) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "/bench/p%04zu/n%06zu", i / kFanout, i);
  return buf;
}

TxnOp create_op(std::string path, std::string data, int32_t parent_cversion) {
  return uk::create_txn_op(std::move(path), std::move(data), kOpen, parent_cversion);
}

struct Built {
  Zxid zxid = 0;
  double seconds = 0;
};

Built build(DataTree& t, size_t znodes) {
  Built b;
  const auto start = Clock::now();
  t.apply(uk::single_op_txn(++b.zxid, create_op("/bench", "", 1)));
  const std::string value(100, 'v');
  for (size_t i = 0; i < znodes; ++i) {
    if (i % kFanout == 0) {
      t.apply(uk::single_op_txn(++b.zxid,
                                create_op(node_path(i).substr(0, 12), "", static_cast<int32_t>(i / kFanout + 1))));
    }
    t.apply(uk::single_op_txn(++b.zxid, create_op(node_path(i), value, static_cast<int32_t>(i % kFanout + 1))));
  }
  b.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return b;
}

// The writer load: setData of random znodes plus create+delete of a scratch znode, flat out (or until stop).
struct WriterLoad {
  DataTree& tree;
  Zxid zxid;
  size_t znodes;
  std::atomic<bool>& stop;
  uint64_t txns = 0;
  void run() {
    std::mt19937_64 rng(7);
    std::vector<int32_t> versions(znodes, 0);
    const std::string value(100, 'w');
    int32_t cversion = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      for (int i = 0; i < 16; ++i) {
        const size_t k = rng() % znodes;
        tree.apply(uk::single_op_txn(++zxid, uk::set_data_txn_op(node_path(k), value, ++versions[k])));
        txns++;
      }
      tree.apply(uk::single_op_txn(++zxid, create_op("/bench/scratch", value, ++cversion)));
      tree.apply(uk::single_op_txn(++zxid, uk::delete_txn_op("/bench/scratch")));
      txns += 2;
    }
  }
};

struct ReadResult {
  uint64_t ops = 0;
  std::vector<uint32_t> latencies_ns;  // a sample of lookups
};

void read_loop(const DataTree& tree, size_t znodes, const std::atomic<bool>& stop, ReadResult& out, bool timed,
               uint64_t seed) {
  uk::TreeReader reader(tree);
  std::mt19937_64 rng(seed);
  std::vector<std::string> paths;
  for (int i = 0; i < 4096; ++i) paths.push_back(node_path(rng() % znodes));
  std::string copy;
  size_t i = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    const std::string& p = paths[i++ & 4095];
    const auto t0 = timed ? Clock::now() : Clock::time_point{};
    {
      uk::ReadGuard g = reader.guard();
      const uk::Node* n = g.get(p);
      if (n == nullptr || !n->data) std::abort();
      copy.assign(*n->data);  // what a getData reply does with the bytes
    }
    if (timed && out.latencies_ns.size() < 20'000'000) {
      out.latencies_ns.push_back(
          static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count()));
    }
    out.ops++;
  }
}

struct RunResult {
  double reads_per_s = 0;
  double writes_per_s = 0;
  uint32_t p50 = 0, p99 = 0, p999 = 0;
};

RunResult run(DataTree& tree, Zxid& zxid, size_t znodes, int readers, bool writer, bool timed, double seconds) {
  std::atomic<bool> stop{false};
  std::vector<ReadResult> results(static_cast<size_t>(readers));
  std::vector<std::thread> threads;
  WriterLoad w{tree, zxid, znodes, stop};
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      read_loop(tree, znodes, stop, results[static_cast<size_t>(r)], timed, 100 + static_cast<uint64_t>(r));
    });
  }
  std::thread wt;
  if (writer) wt = std::thread([&w] { w.run(); });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true);
  for (std::thread& t : threads) t.join();
  if (writer) wt.join();
  zxid = w.zxid;

  RunResult rr;
  uint64_t ops = 0;
  std::vector<uint32_t> all;
  for (ReadResult& r : results) {
    ops += r.ops;
    all.insert(all.end(), r.latencies_ns.begin(), r.latencies_ns.end());
  }
  rr.reads_per_s = static_cast<double>(ops) / seconds;
  rr.writes_per_s = static_cast<double>(w.txns) / seconds;
  if (!all.empty()) {
    std::sort(all.begin(), all.end());
    rr.p50 = all[all.size() / 2];
    rr.p99 = all[all.size() * 99 / 100];
    rr.p999 = all[all.size() * 999 / 1000];
  }
  return rr;
}

// The writer's cost of one create+delete under a parent with `children` children (µs per txn).
double child_churn_us(size_t children) {
  DataTree t;
  Zxid z = 0;
  t.apply(uk::single_op_txn(++z, create_op("/p", "", 1)));
  for (size_t i = 0; i < children; ++i) {
    t.apply(uk::single_op_txn(
        ++z, create_op("/p/member-" + std::to_string(i * 2654435761u % 1000000007u), "", static_cast<int32_t>(i + 1))));
  }
  constexpr int kRounds = 20000;
  const auto start = Clock::now();
  for (int i = 0; i < kRounds; ++i) {
    t.apply(uk::single_op_txn(++z, create_op("/p/churn-" + std::to_string(i), "",
                                             static_cast<int32_t>(children + 1 + static_cast<size_t>(i)))));
    t.apply(uk::single_op_txn(++z, uk::delete_txn_op("/p/churn-" + std::to_string(i))));
  }
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / (2.0 * kRounds);
}

// The writer's cost of one lookup (DataTree::get(): hash the path, walk the trie, compare the path) over 4096
// known paths in a tree of `znodes`, in ns; a small tree keeps the trie in cache, so the path hash is most of it.
double lookup_ns(const DataTree& tree, size_t znodes) {
  std::mt19937_64 rng(11);
  std::vector<std::string> paths;
  for (int i = 0; i < 4096; ++i) paths.push_back(node_path(rng() % znodes));
  constexpr int kRounds = 2'000'000;
  size_t found = 0;
  const auto start = Clock::now();
  for (int i = 0; i < kRounds; ++i) found += tree.get(paths[static_cast<size_t>(i) & 4095]) != nullptr;
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count() / kRounds;
  if (found != kRounds) std::abort();
  return ns;
}

// The path hash alone over the same kind of paths, in ns: the keyed one the trie uses (tree_path_hash, SipHash-2-4)
// against the unkeyed std::hash it replaced.
template <class Hash>
double hash_ns(Hash&& hash) {
  std::vector<std::string> paths;
  for (size_t i = 0; i < 4096; ++i) paths.push_back(node_path(i * 7919 % 1'000'000));
  constexpr int kRounds = 20'000'000;
  uint64_t sum = 0;
  const auto start = Clock::now();
  for (int i = 0; i < kRounds; ++i) sum += hash(std::string_view(paths[static_cast<size_t>(i) & 4095]));
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count() / kRounds;
  if (sum == 42) std::printf(" ");  // keeps the sum (and so the hashing) live
  return ns;
}

}  // namespace

int main(int argc, char** argv) {
  size_t znodes = 1'000'000;
  double seconds = 2.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--znodes") == 0) znodes = std::strtoull(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::strtod(argv[i + 1], nullptr);
  }
  double load[3] = {0, 0, 0};
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1;
    std::fclose(f);
  }
  std::printf(
      "uk_tree_bench: %zu znodes (100-byte values, %zu per parent), %.1f s per run, %u CPUs, load avg %.2f "
      "(a shared machine: other builds run beside this)\n",
      znodes, kFanout, seconds, std::thread::hardware_concurrency(), load[0]);

  const int64_t rss0 = rss_bytes();
  DataTree tree;
  Built b = build(tree, znodes);
  const int64_t rss1 = rss_bytes();
  const size_t n = tree.node_count();
  std::printf(
      "build: %.2f s (%.2f us per create); RSS %.1f MiB more = %.0f bytes/znode; accounting says %.0f "
      "bytes/znode (memory_bytes %" PRId64 ")\n",
      b.seconds, b.seconds * 1e6 / static_cast<double>(znodes), static_cast<double>(rss1 - rss0) / 1048576.0,
      static_cast<double>(rss1 - rss0) / static_cast<double>(n),
      static_cast<double>(tree.memory_bytes()) / static_cast<double>(n), tree.memory_bytes());

  std::printf("lookup (writer-side get, path hash + trie walk): %.1f ns in this tree", lookup_ns(tree, znodes));
  {
    DataTree small;
    build(small, 1000);
    std::printf(", %.1f ns in a 1000-znode tree\n", lookup_ns(small, 1000));
  }

  std::printf("path hash of a %zu-byte path: keyed (SipHash-2-4) %.1f ns, unkeyed std::hash %.1f ns\n",
              node_path(0).size(), hash_ns([](std::string_view p) { return uk::tree_path_hash(p); }),
              hash_ns([](std::string_view p) { return std::hash<std::string_view>{}(p); }));

  Zxid zxid = b.zxid;
  std::printf("%-34s %14s %12s %8s %8s %8s\n", "run", "reads/s", "writes/s", "p50 ns", "p99 ns", "p99.9 ns");
  struct Case {
    const char* name;
    int readers;
    bool writer;
    bool timed;
  };
  const Case cases[] = {
      {"1 reader, no writes", 1, false, false},
      {"2 readers, no writes", 2, false, false},
      {"1 reader + writer", 1, true, false},
      {"2 readers + writer (3 thr/2 CPU)", 2, true, false},
      {"latency: 1 reader, no writes", 1, false, true},
      {"latency: 1 reader + writer", 1, true, true},
  };
  for (const Case& c : cases) {
    RunResult r = run(tree, zxid, znodes, c.readers, c.writer, c.timed, seconds);
    if (c.timed) {
      std::printf("%-34s %14.0f %12.0f %8u %8u %8u\n", c.name, r.reads_per_s, r.writes_per_s, r.p50, r.p99, r.p999);
    } else {
      std::printf("%-34s %14.0f %12.0f %8s %8s %8s\n", c.name, r.reads_per_s, r.writes_per_s, "-", "-", "-");
    }
  }
  std::printf("retired bytes still held after the runs: %" PRId64 "\n", tree.retired_bytes());
  for (size_t children : {size_t{10}, size_t{100'000}, size_t{1'000'000}}) {
    std::printf("create+delete under a parent with %7zu children: %.2f us per txn\n", children,
                child_churn_us(children));
  }
  return 0;
}
