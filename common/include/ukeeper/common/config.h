// ukeeper's configuration: a zoo.cfg-style file (key=value lines, '#' comments), as Apache ZooKeeper users write
// it (zookeeper-protocol.md §10), plus ukeeper's own keys. Parsing is pure: text in, a config or an error out.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace uk {

// One `server.N=host:quorumPort:electionPort[:participant|:observer][;[clientAddress:]clientPort]` line.
struct ServerSpec {
  int64_t id = 0;
  std::string host;
  int quorum_port = 0;
  int election_port = 0;
  bool observer = false;
  std::string client_address;  // empty: not given
  int client_port = 0;         // 0: not given
};

enum class Durability { kFsync, kAsync, kNone };

// How ensemble members talk to each other (`transport` key): the best both ends have (auto), or one forced.
enum class PeerTransport { kAuto, kTcp, kRdma, kDpdk };
const char* to_string(PeerTransport t);

// rdma.* keys: the RDMA lane between members (transport=rdma, or auto on a member with an RDMA device). Control
// connections use each member's electionPort (ukeeper elects over the quorum channel, so that port is free).
struct RdmaSettings {
  std::string device;            // rdma.device: verbs device name (mlx5_0, rxe0); empty = the first with an active port
  int port = 0;                  // rdma.port: 0 = the device's first active port
  int gid_index = -1;            // rdma.gidIndex: -1 = a RoCE v2 IPv4-mapped GID if there is one
  int64_t ring_bytes = 1 << 20;  // rdma.ringBytes: per peer and direction (every member must use the same)
  int spin_us = 50;              // rdma.spinUs: poll this long before blocking; -1 = never block (pinned core)
  int max_inline_bytes = 256;    // rdma.maxInlineBytes
};

// dpdk.server.N=<mac>,<ipv4>:<udpPort>: a member's replication endpoint on the DPDK medium.
struct DpdkPeerSpec {
  std::string mac;  // "02:00:00:00:0d:01"
  std::string ip;   // dotted quad
  int udp_port = 0;
};

// dpdk.* keys: the DPDK lane (transport=dpdk, or auto with a dpdk.device/dpdk.vdev configured).
struct DpdkSettings {
  std::string device;        // dpdk.device: a port name or PCI address; empty = the first port
  std::string vdev;          // dpdk.vdev: one virtual device, e.g. net_af_packet0,iface=uk1
  std::string lcores = "0";  // dpdk.lcores
  int memory_mb = 256;       // dpdk.memoryMb
  bool hugepages = true;     // dpdk.hugepages
  std::string file_prefix;   // dpdk.filePrefix
  bool no_pci = false;       // dpdk.noPci
  int mtu = 1500;            // dpdk.mtu
  std::string log_level;     // dpdk.logLevel
  std::map<int64_t, DpdkPeerSpec> servers;  // dpdk.server.N
  int64_t retransmit_timeout_us = 5000;     // dpdk.retransmitTimeoutUs
  int64_t peer_timeout_ms = 1000;           // dpdk.peerTimeoutMs
  int64_t spin_us = 200;                    // dpdk.spinUs
  int64_t idle_sleep_us = 200;              // dpdk.idleSleepUs
  bool configured() const { return !device.empty() || !vdev.empty(); }
};

struct ServerConfig {
  int tick_time_ms = 2000;
  std::string data_dir;      // required by ZooKeeper; ukeeper's embedded default sets ./data
  std::string data_log_dir;  // empty: same as data_dir
  // 0 after parsing when the file had no clientPort but its server.N lines give client ports: the server then
  // listens on the client port of its own server.N line (known once dataDir/myid is read), as ZooKeeper does.
  int client_port = 2181;
  std::string client_port_address = "0.0.0.0";
  int secure_client_port = 0;  // accepted for compatibility; TLS is not served yet
  int init_limit = 10;
  int sync_limit = 5;
  int max_client_cnxns = 60;  // per client IP; 0 = unlimited
  // ioThreads: client I/O threads (connections are spread over them; each serves reads from the lock-free
  // store). The pipeline thread (consensus, log, apply) is one more. The default 2 was measured best of 0, 1 and 2
  // on 2 cores for reads, the 90/10 mix and 64-connection writes (bench/README.md, "ioThreads 0, 1 and 2").
  // 0: no I/O thread; the pipeline thread runs the same client I/O code itself (no hand-off between threads on a
  // write: the lowest write latency where waking another core is slow, at the cost of read throughput).
  int io_threads = 2;
  // walMaxBatchesInFlight: with O_DIRECT and durability=fsync, how many group-commit writes may be in flight at
  // once (1-4): records that arrive while one is on its way go out in the next without waiting for it. See
  // WalOptions::max_batches_in_flight for the default.
  int wal_max_batches_in_flight = 1;
  // -1 until resolved: resolve() sets them to 2x and 20x tickTime when the file did not.
  int min_session_timeout_ms = -1;
  int max_session_timeout_ms = -1;
  std::set<std::string> four_letter_whitelist = {"srvr"};  // contains "*" when all are allowed
  int jute_max_buffer = 1048575;
  bool extended_types_enabled = false;
  std::string super_digest;  // "super:<base64 sha1>"; empty = no super user
  int autopurge_snap_retain_count = 3;
  int autopurge_purge_interval_hours = 0;
  int64_t snap_count = 100000;
  int64_t prealloc_size_kb = 65536;
  Durability durability = Durability::kFsync;  // `durability` key; forceSync=no maps to kAsync
  PeerTransport transport = PeerTransport::kAuto;  // `transport` key
  RdmaSettings rdma;
  DpdkSettings dpdk;
  bool standalone_enabled = true;
  bool reconfig_enabled = false;
  bool local_sessions_enabled = false;
  int global_outstanding_limit = 1000;
  std::map<int64_t, ServerSpec> servers;  // empty in standalone mode

  // Further ZooKeeper 3.8 keys, parsed and kept so the server can honour them (or report them in `conf`).
  bool local_sessions_upgrading_enabled = false;
  bool quorum_listen_on_all_ips = false;
  bool sync_enabled = true;            // observers log transactions to disk
  bool peer_type_observer = false;     // peerType=observer
  bool skip_acl = false;               // skipACL=yes: every ACL check passes
  bool audit_enabled = false;          // audit.enable
  bool leader_serves = true;           // leaderServes: the leader accepts client connections
  bool snapshot_trust_empty = false;   // snapshot.trust.empty
  bool tcp_keep_alive = false;         // tcpKeepAlive (quorum sockets)
  bool client_tcp_keep_alive = false;  // clientTcpKeepAlive
  int max_cnxns = 0;                   // all client connections together; 0 = unlimited
  int connect_to_learner_master_limit = 0;  // ticks; 0 = use initLimit
  int client_port_listen_backlog = -1;      // -1 = the OS default
  int observer_master_port = 0;             // 0: not given
  int cnx_timeout_ms = 5000;                // leader-election connect timeout
  int64_t fsync_warning_threshold_ms = 1000;  // fsync.warningthresholdms
  // cpuAffinity: the CPUs the whole process may run on (bare metal: an isolated core for a spinning member);
  // empty = the scheduler's choice.
  std::vector<int> cpu_affinity;

  // True when a four-letter word may run (the whitelist holds it or "*").
  bool four_letter_allowed(std::string_view cmd) const;
};

struct ConfigParseResult {
  std::optional<ServerConfig> config;  // set on success
  std::string error;                   // set on failure: names the source, line, key and value
  std::vector<std::string> warnings;   // one per unknown key (and per ignored-but-known key family)
};

// Parses zoo.cfg text. `source` names the file in messages ("zoo.cfg:12: ...").
ConfigParseResult parse_config(std::string_view text, std::string_view source);

// Reads and parses a file; an unreadable file is an error naming the path and errno text.
ConfigParseResult load_config_file(const std::string& path);

}  // namespace uk
