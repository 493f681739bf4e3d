// wal_bench: microbenchmarks of the write-ahead log (storage/src/wal) through its public API, single-threaded,
// closed loop (append one record, pump, wait on completion_fd until it is persisted, repeat).
//
//   wal_bench roll    DIR [--segment-kib N] [--record-bytes N] [--appends N] [--precreate 0|1] [--fill-percent P]
//       append -> durable latency of every append; the appends that roll to a new segment (derived from the
//       sizes) are reported apart: the segment roll stall. The very first append (it creates the log's first
//       segment) is reported on its own.
//   wal_bench sync    DIR [--record-bytes N] [--appends N] [--blocks N]
//       single-append latency of the three ways a batch is made durable: one O_DIRECT write with RWF_DSYNC
//       (dsync_direct_writes, the default), the write with a linked fdatasync (link_fdatasync), and the fdatasync
//       submitted after the write completes; alternating blocks of appends so machine noise hits all alike.
//   wal_bench overlap DIR [--clients N] [--think-us T] [--record-bytes N] [--block-ms M] [--blocks N]
//       N simulated clients in a closed loop, each with one append outstanding: when its record is persisted, a
//       client appends its next one a random 0..2T us later (T stands for the network and the client between two
//       writes: replies leave a server one by one, so clients come back spread out, not in step).
//       Compares max_batches_in_flight 1, 2 and 4 (three logs, in alternating blocks of M ms each): appends/s,
//       append -> durable latency, records per batch and the most batches seen in flight.
//   wal_bench fill    DIR [--log-mib N] [--record-bytes N] [--segment-kib N]
//       writes about N MiB of log (for recover).
//   wal_bench recover DIR [--chunk-kib N] [--cold 0|1]
//       Wal::open of DIR (the recovery scan and replay): wall time and the process's peak RSS before and after.
//       --cold 1 drops DIR's segment files from the page cache first (posix_fadvise DONTNEED).
//
// Every mode prints what it measured, on which filesystem, and how many samples. Built with -DWAL_BENCH_OLD_API
// it compiles against the Wal before segment pre-creation and chunked recovery (roll --precreate, sync, overlap
// and recover --chunk-kib are then unavailable), to measure "before" with the same code.
#include <fcntl.h>
#include <poll.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ukeeper/storage/wal/format.h"
#include "ukeeper/storage/wal/wal.h"

namespace {

using Clock = std::chrono::steady_clock;
using uk::Wal;
using uk::WalOptions;
using uk::WalRecovery;
using uk::Zxid;

struct Args {
  std::string mode;
  std::string dir;
  std::map<std::string, long long> num;
  long long get(const std::string& k, long long def) const {
    auto it = num.find(k);
    return it == num.end() ? def : it->second;
  }
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "wal_bench: %s\n", what.c_str());
  std::exit(2);
}

std::string fs_name(const std::string& dir) {
  struct statfs s{};
  if (::statfs(dir.c_str(), &s) != 0) return "?";
  switch (static_cast<unsigned long>(s.f_type)) {
    case 0x01021994: return "tmpfs";
    case 0xEF53: return "ext4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    default: {
      char b[32];
      std::snprintf(b, sizeof b, "fs 0x%lx", static_cast<unsigned long>(s.f_type));
      return b;
    }
  }
}

std::unique_ptr<Wal> open_wal(const WalOptions& o, WalRecovery& rec, uint64_t* records = nullptr,
                              uint64_t* bytes = nullptr) {
  std::string error;
  auto w = Wal::open(
      o,
      [&](Zxid, std::string_view p) {
        if (records) *records += 1;
        if (bytes) *bytes += p.size();
      },
      rec, error);
  if (!w) die("open " + o.dir + ": " + error);
  return w;
}

// Appends one record and waits until it is durable; returns the latency in microseconds.
double append_durable(Wal& w, Zxid z, const std::string& payload) {
  const auto t0 = Clock::now();
  w.append(z, payload);
  w.pump();
  while (w.persisted_zxid() < z) {
    if (!w.failure().empty()) die("wal failed: " + w.failure());
    pollfd p{w.completion_fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    w.reap();
  }
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void print_row(const char* name, const std::vector<double>& v) {
  std::printf("  %-34s n=%-6zu p50=%9.1f  p99=%9.1f  p99.9=%9.1f  max=%9.1f us\n", name, v.size(), pct(v, 50),
              pct(v, 99), pct(v, 99.9), pct(v, 100));
}

std::string payload_of(size_t bytes, Zxid z) { return std::string(bytes, static_cast<char>('a' + z % 26)); }

void fresh_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  if (ec) die("create " + dir + ": " + ec.message());
}

void roll_mode(const Args& a) {
  WalOptions o;
  o.dir = a.dir + "/roll";
  o.segment_bytes = static_cast<uint64_t>(a.get("segment-kib", 1024)) * 1024;
#ifndef WAL_BENCH_OLD_API
  o.precreate_segments = a.get("precreate", 1) != 0;
  o.precreate_at_fill_percent = static_cast<int>(a.get("fill-percent", o.precreate_at_fill_percent));
#endif
  const size_t record = static_cast<size_t>(a.get("record-bytes", 1000));
  const long long appends = a.get("appends", 20000);
  fresh_dir(o.dir);
  WalRecovery rec;
  auto w = open_wal(o, rec);
  const uint64_t per_segment = (o.segment_bytes - uk::wal::kSegmentHeaderBlockBytes) / uk::wal::record_bytes(record);
  // The first append creates the log's first segment (start-up work, blocking in both versions): apart.
  std::vector<double> first, roll, other;
  for (long long i = 0; i < appends; ++i) {
    const double us = append_durable(*w, i + 1, payload_of(record, i + 1));
    (i == 0 ? first : static_cast<uint64_t>(i) % per_segment == 0 ? roll : other).push_back(us);
  }
  std::printf("roll: %s (%s, O_DIRECT %s), segment %" PRIu64 " KiB, %zu-byte records (%" PRIu64
              " per segment), %lld appends closed loop",
              o.dir.c_str(), fs_name(o.dir).c_str(), rec.direct_io ? "yes" : "no", o.segment_bytes / 1024, record,
              per_segment, appends);
#ifndef WAL_BENCH_OLD_API
  std::printf(", precreate %s at %d%%\n", o.precreate_segments ? "on" : "off", o.precreate_at_fill_percent);
#else
  std::printf(", code before pre-creation\n");
#endif
  print_row("first append (first segment)", first);
  print_row("appends that roll to a new segment", roll);
  print_row("other appends", other);
  w.reset();
  std::filesystem::remove_all(o.dir);
}

#ifndef WAL_BENCH_OLD_API
// Variants of the log measured side by side (sync and overlap modes): one Wal each in a fresh directory of its
// own under the bench directory, taking turns in blocks so that the machine's drift hits all of them alike;
// closed and removed at the end.
class LogVariants {
 public:
  struct Log {
    std::string dir;
    std::unique_ptr<Wal> wal;
    std::vector<double> latencies;  // microseconds, every block's samples
    Zxid next = 1;
  };

  // configure(i, options) sets variant i's options beyond its directory and the 64 MiB segments.
  template <typename Configure>
  LogVariants(const std::string& root, const std::vector<std::string>& names, Configure configure) {
    for (size_t i = 0; i < names.size(); ++i) {
      Log& l = logs_.emplace_back();
      WalOptions o;
      o.dir = l.dir = root + "/" + names[i];
      o.segment_bytes = 64ull << 20;
      configure(i, o);
      fresh_dir(o.dir);
      WalRecovery rec;
      l.wal = open_wal(o, rec);
      direct_ = rec.direct_io;
    }
  }

  ~LogVariants() {
    for (Log& l : logs_) {
      l.wal.reset();
      std::filesystem::remove_all(l.dir);
    }
  }

  // Runs block(log) for every variant in turn, `blocks` times.
  template <typename Block>
  void alternate(long long blocks, Block block) {
    for (long long b = 0; b < blocks; ++b) {
      for (Log& l : logs_) block(l);
    }
  }

  std::vector<Log>& logs() { return logs_; }
  bool direct() const { return direct_; }  // the segments are written with O_DIRECT (the same for all)

 private:
  std::vector<Log> logs_;
  bool direct_ = false;
};

void sync_mode(const Args& a) {
  const size_t record = static_cast<size_t>(a.get("record-bytes", 100));
  const long long appends = a.get("appends", 500);
  const long long blocks = a.get("blocks", 10);
  struct Variant {
    const char* dir;
    const char* title;
    bool dsync;
    bool linked;
  };
  const Variant variants[] = {
      {"sync-dsync", "(a) one RWF_DSYNC write", true, true},
      {"sync-linked", "(b) write linked to fdatasync", false, true},
      {"sync-after-write", "(c) fdatasync after the write", false, false},
  };
  LogVariants logs(a.dir, {variants[0].dir, variants[1].dir, variants[2].dir}, [&](size_t i, WalOptions& o) {
    o.dsync_direct_writes = variants[i].dsync;
    o.link_fdatasync = variants[i].linked;
  });
  logs.alternate(1, [&](LogVariants::Log& l) {
    for (int i = 0; i < 20; ++i) append_durable(*l.wal, l.next++, payload_of(record, 1));  // warm-up
  });
  logs.alternate(blocks, [&](LogVariants::Log& l) {
    for (long long i = 0; i < appends; ++i) {
      l.latencies.push_back(append_durable(*l.wal, l.next, payload_of(record, l.next)));
      ++l.next;
    }
  });
  std::printf("sync: %s (%s, O_DIRECT %s), %zu-byte records, %lld blocks of %lld appends per variant, alternating\n",
              a.dir.c_str(), fs_name(a.dir).c_str(), logs.direct() ? "yes" : "no", record, blocks, appends);
  if (!logs.direct()) std::printf("(without O_DIRECT, (a) is (b): RWF_DSYNC applies to O_DIRECT segments only)\n");
  for (size_t v = 0; v < logs.logs().size(); ++v) print_row(variants[v].title, logs.logs()[v].latencies);
}

// One block of the overlap mode: `clients` closed-loop clients against the log for `ms` milliseconds.
void overlap_block(LogVariants::Log& log, int clients, long long think_us, size_t record, long long ms) {
  Wal& w = *log.wal;
  struct Out {
    Zxid zxid;
    Clock::time_point sent;
    int client;
  };
  std::vector<Out> out;  // in zxid order
  std::vector<Clock::time_point> ready(static_cast<size_t>(clients), Clock::now());
  std::vector<bool> waiting(static_cast<size_t>(clients), false);
  size_t head = 0;
  const auto end = Clock::now() + std::chrono::milliseconds(ms);
  const std::string payload = payload_of(record, 1);
  std::mt19937 rng(static_cast<uint32_t>(log.next));
  std::uniform_int_distribution<long long> think(0, 2 * think_us);
  for (;;) {
    auto now = Clock::now();
    const bool stopping = now >= end;
    auto wake = now + std::chrono::milliseconds(100);
    for (int c = 0; c < clients && !stopping; ++c) {
      if (waiting[static_cast<size_t>(c)]) continue;
      if (ready[static_cast<size_t>(c)] <= now) {
        w.append(log.next, payload);
        out.push_back(Out{log.next++, now, c});
        waiting[static_cast<size_t>(c)] = true;
      } else {
        wake = std::min(wake, ready[static_cast<size_t>(c)]);
      }
    }
    w.pump();
    if (stopping && head == out.size()) break;
    const auto left = std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(wake - now).count());
    timespec ts{static_cast<time_t>(left / 1000000000), static_cast<long>(left % 1000000000)};
    pollfd p{w.completion_fd(), POLLIN, 0};
    ::ppoll(&p, 1, &ts, nullptr);
    w.reap();
    if (!w.failure().empty()) die("wal failed: " + w.failure());
    now = Clock::now();
    while (head < out.size() && out[head].zxid <= w.persisted_zxid()) {
      log.latencies.push_back(std::chrono::duration<double, std::micro>(now - out[head].sent).count());
      waiting[static_cast<size_t>(out[head].client)] = false;
      ready[static_cast<size_t>(out[head].client)] = now + std::chrono::microseconds(think(rng));
      ++head;
    }
  }
}

void overlap_mode(const Args& a) {
  const int clients = static_cast<int>(a.get("clients", 64));
  const long long think_us = a.get("think-us", 100);
  const size_t record = static_cast<size_t>(a.get("record-bytes", 200));
  const long long block_ms = a.get("block-ms", 2000);
  const long long blocks = a.get("blocks", 5);
  const int in_flight[] = {1, 2, 4};
  LogVariants logs(a.dir, {"overlap-1", "overlap-2", "overlap-4"},
                   [&](size_t i, WalOptions& o) { o.max_batches_in_flight = in_flight[i]; });
  logs.alternate(1, [&](LogVariants::Log& l) {
    overlap_block(l, clients, think_us, record, 300);  // warm-up
    l.latencies.clear();
  });
  logs.alternate(blocks, [&](LogVariants::Log& l) { overlap_block(l, clients, think_us, record, block_ms); });
  std::printf("overlap: %s (%s, O_DIRECT %s), %d clients closed loop, think %lld us, %zu-byte records, %lld blocks "
              "of %lld ms per variant, alternating\n",
              a.dir.c_str(), fs_name(a.dir).c_str(), logs.direct() ? "yes" : "no", clients, think_us, record, blocks,
              block_ms);
  if (!logs.direct()) std::printf("(without O_DIRECT, batches never overlap: the three variants are the same)\n");
  for (size_t v = 0; v < logs.logs().size(); ++v) {
    const LogVariants::Log& l = logs.logs()[v];
    char title[64];
    std::snprintf(title, sizeof title, "max_batches_in_flight=%d", in_flight[v]);
    const double secs = static_cast<double>(blocks * block_ms) / 1000.0;
    std::printf("  %-26s %8.0f appends/s  %6.1f records/batch  peak %" PRIu64 " in flight\n", title,
                static_cast<double>(l.latencies.size()) / secs,
                static_cast<double>(l.wal->records_written()) / static_cast<double>(l.wal->batches_written()),
                l.wal->peak_batches_in_flight());
    print_row("  append -> durable", l.latencies);
  }
}
#endif

void fill_mode(const Args& a) {
  WalOptions o;
  o.dir = a.dir;
  o.segment_bytes = static_cast<uint64_t>(a.get("segment-kib", 64 * 1024)) * 1024;
  const size_t record = static_cast<size_t>(a.get("record-bytes", 1000));
  const uint64_t target = static_cast<uint64_t>(a.get("log-mib", 1024)) << 20;
  fresh_dir(o.dir);
  WalRecovery rec;
  auto w = open_wal(o, rec);
  uint64_t bytes = 0;
  Zxid z = 0;
  const auto t0 = Clock::now();
  while (bytes < target) {
    for (int i = 0; i < 1000; ++i) {
      ++z;
      w->append(z, payload_of(record, z));
      bytes += uk::wal::record_bytes(record);
    }
    if (!w->sync_all()) die(w->failure());
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("fill: %s (%s): %" PRId64 " records, %.1f MiB of records in %.1f s\n", o.dir.c_str(),
              fs_name(o.dir).c_str(), static_cast<int64_t>(z), static_cast<double>(bytes) / (1 << 20), s);
}

long long status_kib(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::atoll(line.c_str() + std::strlen(key));
  }
  return -1;
}

void recover_mode(const Args& a) {
  WalOptions o;
  o.dir = a.dir;
#ifndef WAL_BENCH_OLD_API
  o.recovery_chunk_bytes = static_cast<uint64_t>(a.get("chunk-kib", 1024)) * 1024;
#endif
  uint64_t files = 0, file_bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(o.dir)) {
    if (!uk::wal::parse_segment_file_name(e.path().filename().string())) continue;
    files += 1;
    file_bytes += std::filesystem::file_size(e.path());
    if (a.get("cold", 0) != 0) {
      int fd = ::open(e.path().c_str(), O_RDONLY);
      if (fd >= 0) {
        ::fdatasync(fd);
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        ::close(fd);
      }
    }
  }
  const long long rss_before = status_kib("VmRSS:");
  const long long hwm_before = status_kib("VmHWM:");
  uint64_t records = 0, bytes = 0;
  WalRecovery rec;
  const auto t0 = Clock::now();
  auto w = open_wal(o, rec, &records, &bytes);
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  const long long hwm_after = status_kib("VmHWM:");
  std::printf("recover: %s (%s), %" PRIu64 " segment files, %.1f MiB of files, %s cache", o.dir.c_str(),
              fs_name(o.dir).c_str(), files, static_cast<double>(file_bytes) / (1 << 20),
              a.get("cold", 0) != 0 ? "cold" : "warm");
#ifndef WAL_BENCH_OLD_API
  std::printf(", chunk %" PRIu64 " KiB\n", o.recovery_chunk_bytes / 1024);
#else
  std::printf(", code before chunked recovery\n");
#endif
  std::printf("  Wal::open: %" PRIu64 " records (%.1f MiB of payload) in %.1f ms; RSS before open %lld KiB, peak RSS "
              "before %lld KiB, after %lld KiB (+%lld KiB)\n",
              records, static_cast<double>(bytes) / (1 << 20), ms, rss_before, hwm_before, hwm_after,
              hwm_after - hwm_before);
}

Args parse(int argc, char** argv) {
  if (argc < 3) {
    die("usage: wal_bench roll|sync|overlap|fill|recover DIR [--key value ...] (see the comment at the top of wal_bench.cc)");
  }
  Args a;
  a.mode = argv[1];
  a.dir = argv[2];
  for (int i = 3; i + 1 < argc; i += 2) {
    if (std::strncmp(argv[i], "--", 2) != 0) die(std::string("bad option ") + argv[i]);
    a.num[argv[i] + 2] = std::atoll(argv[i + 1]);
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  std::printf("wal_bench %s: single thread, closed loop; machine: %ld online cores (shared: numbers are noisy)\n",
              a.mode.c_str(), ::sysconf(_SC_NPROCESSORS_ONLN));
  if (a.mode == "roll") {
    roll_mode(a);
#ifndef WAL_BENCH_OLD_API
  } else if (a.mode == "sync") {
    sync_mode(a);
  } else if (a.mode == "overlap") {
    overlap_mode(a);
#endif
  } else if (a.mode == "fill") {
    fill_mode(a);
  } else if (a.mode == "recover") {
    recover_mode(a);
  } else {
    die("unknown mode " + a.mode);
  }
  return 0;
}
