// ukeeper CONFIG: runs a ukeeper node from a zoo.cfg-style file: standalone, or an ensemble member when the file
// has server.N lines (its id comes from dataDir/myid, as with ZooKeeper).
#include <sched.h>
#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "ukeeper/common/config.h"
#include "ukeeper/common/log.h"
#include "ukeeper/server/server.h"

namespace {
uk::Server* g_server = nullptr;
void on_signal(int) {
  if (g_server != nullptr) g_server->stop();
}

// The embedded default (the same settings as configs/laptop.cfg): one node on TCP, loopback only, data under
// ./data, every four-letter word allowed.
constexpr const char* kEmbeddedDefault =
    "tickTime=2000\n"
    "dataDir=./data\n"
    "clientPort=2181\n"
    "clientPortAddress=127.0.0.1\n"
    "4lw.commands.whitelist=*\n";

int usage() {
  std::fprintf(stderr,
               "usage: ukeeper [CONFIG]\n"
               "  CONFIG  a zoo.cfg-style file (see configs/laptop.cfg and configs/README.md)\n"
               "  without CONFIG: the embedded default, a single node on 127.0.0.1:2181 with data in ./data\n");
  return 2;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc > 2 || (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0))) {
    return usage();
  }
  const char* source = argc == 2 ? argv[1] : "(embedded default)";
  if (const char* level = std::getenv("UKEEPER_LOG_LEVEL"); level != nullptr && std::strcmp(level, "debug") == 0) {
    uk::set_log_level(uk::LogLevel::kDebug);
  }
  uk::ConfigParseResult parsed =
      argc == 2 ? uk::load_config_file(argv[1]) : uk::parse_config(kEmbeddedDefault, source);
  for (const std::string& w : parsed.warnings) UK_WARN("%s", w.c_str());
  if (!parsed.config) {
    std::fprintf(stderr, "ukeeper: %s\n", parsed.error.c_str());
    return 1;
  }
  uk::ServerConfig config = std::move(*parsed.config);
  if (config.client_port == 0 && config.servers.empty()) {
    std::fprintf(stderr, "ukeeper: %s: clientPort is not set\n", source);
    return 1;
  }
  if (config.durability == uk::Durability::kNone) {
    UK_WARN("durability=none: NOTHING is written to disk; every write is lost when this process stops. "
            "For tests only.");
  } else if (config.durability == uk::Durability::kAsync) {
    UK_WARN("durability=async: writes are acknowledged before they are on disk; a crash can lose the last "
            "acknowledged writes");
  }
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    std::fprintf(stderr, "ukeeper: cannot create dataDir '%s': %s\n", config.data_dir.c_str(), ec.message().c_str());
    return 1;
  }

  if (!config.cpu_affinity.empty()) {
    // Before any thread starts (DPDK's, io_uring's workers inherit it); dpdk.lcores then pins the polling lcore.
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : config.cpu_affinity) CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
      std::fprintf(stderr, "ukeeper: %s: cpuAffinity: cannot run on those CPUs: %s\n", source, std::strerror(errno));
      return 1;
    }
    UK_INFO("cpuAffinity: pinned to %zu CPU(s)", config.cpu_affinity.size());
  }

  signal(SIGPIPE, SIG_IGN);
  // A file-size limit must fail the write (EFBIG, handled like ENOSPC: stop and say why), not kill the process.
  signal(SIGXFSZ, SIG_IGN);
  uk::Server server(std::move(config));
  std::string error;
  if (!server.start(error)) {
    std::fprintf(stderr, "ukeeper: cannot start: %s\n", error.c_str());
    return 1;
  }
  g_server = &server;
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  server.run();
  g_server = nullptr;
  if (!server.fatal_error().empty()) {
    std::fprintf(stderr, "ukeeper: stopped: %s\n", server.fatal_error().c_str());
    return 3;
  }
  return 0;
}
