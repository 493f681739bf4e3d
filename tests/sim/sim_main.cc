// uk_sim: runs the deterministic cluster simulator over a range of seeds.
//   uk_sim --seeds 1..200 [--voters 3] [--observers 0] [--lanes 1] [--clients 4] [--duration-ms 20000]
//   uk_sim --seed 1234 --verbose          replays one seed with a trace of every note and fault
//   uk_sim --seeds 1.. --for-minutes 60   the long mode: new seeds until the time is up
// Exit status 1 when any seed fails; each failure prints the seed and the broken invariant.
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cluster.h"
#include "ukeeper/common/log.h"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: uk_sim (--seed N | --seeds A..B | --seeds A..) [--voters N] [--observers N] [--lanes N] [--clients N]\n"
               "              [--duration-ms N] [--for-minutes N] [--no-faults] [--verbose]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  uk::sim::SimOptions base;
  uint64_t first = 1;
  uint64_t last = 1;
  double for_minutes = 0;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--seed") {
      first = last = std::strtoull(next().c_str(), nullptr, 10);
    } else if (a == "--seeds") {
      std::string r = next();
      size_t dots = r.find("..");
      if (dots == std::string::npos) return usage();
      first = std::strtoull(r.substr(0, dots).c_str(), nullptr, 10);
      std::string hi = r.substr(dots + 2);
      last = hi.empty() ? UINT64_MAX : std::strtoull(hi.c_str(), nullptr, 10);
    } else if (a == "--voters") {
      base.voters = std::atoi(next().c_str());
    } else if (a == "--observers") {
      base.observers = std::atoi(next().c_str());
    } else if (a == "--lanes") {
      base.lanes = std::atoi(next().c_str());
    } else if (a == "--clients") {
      base.clients = std::atoi(next().c_str());
    } else if (a == "--duration-ms") {
      base.duration_us = std::atoll(next().c_str()) * 1000;
    } else if (a == "--for-minutes") {
      for_minutes = std::atof(next().c_str());
    } else if (a == "--no-faults") {
      base.faults = false;
    } else if (a == "--verbose") {
      base.verbose = true;
    } else {
      return usage();
    }
  }
  // The transports' own log lines (MultiTransport's opens and switches) only with --verbose.
  if (!base.verbose) uk::set_log_level(uk::LogLevel::kWarn);
  if (base.voters < 1 || base.lanes < 1 || base.lanes > 8 || first > last) return usage();
  if (last == UINT64_MAX && for_minutes <= 0) for_minutes = 1;
  auto started = std::chrono::steady_clock::now();
  uint64_t runs = 0;
  uint64_t failures = 0;
  uk::sim::SimResult total;
  for (uint64_t seed = first; seed <= last; seed++) {
    if (for_minutes > 0 && std::chrono::steady_clock::now() - started > std::chrono::duration<double>(for_minutes * 60)) {
      break;
    }
    uk::sim::SimOptions o = base;
    o.seed = seed;
    uk::sim::SimResult r = uk::sim::run_simulation(o);
    runs++;
    total.events += r.events;
    total.committed += r.committed;
    total.client_ops += r.client_ops;
    total.elections += r.elections;
    total.crashes += r.crashes;
    total.diff_syncs += r.diff_syncs;
    total.trunc_syncs += r.trunc_syncs;
    total.snap_syncs += r.snap_syncs;
    if (!r.ok) {
      failures++;
      std::printf("seed %" PRIu64 " FAILED (%d voters, %d observers, %d lanes): %s\n  replay: uk_sim --seed %" PRIu64
                  " --voters %d --observers %d --lanes %d --verbose\n",
                  seed, o.voters, o.observers, o.lanes, r.failure.c_str(), seed, o.voters, o.observers, o.lanes);
    } else if (first == last) {
      std::printf("seed %" PRIu64 ": %s\n", seed, r.summary().c_str());
    }
    std::fflush(stdout);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("%" PRIu64 " seeds, %" PRIu64 " failed, %.1f s (%d voters, %d observers, %d clients)\n  all seeds: %s\n",
              runs, failures, secs, base.voters, base.observers, base.clients, total.summary().c_str() + 4);
  return failures == 0 ? 0 : 1;
}
