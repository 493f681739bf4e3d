// The deterministic cluster simulator: N ZAB nodes (consensus/zab.h, the production state machine), a simulated
// network, simulated disks and simulated clients in one process, driven by one seed.
//
// - Network: one channel per node pair honouring the dataplane contract (reliable FIFO while up), reached through
//   a SimTransport per member that implements uk::Transport as the TCP transport does. Every message
//   gets a random delay (FIFO kept), channels break at random (in-flight messages lost, both ends told) and come
//   back after a while, partitions cut a random minority off for a while, and, as a contract violation the nodes
//   must survive, a stale message of an earlier channel is sometimes delivered again after a reconnect.
// - Disks: appends become durable by group commit after a random latency; a crash keeps only a random prefix of
//   what was not yet synced (the torn tail record is what recovery drops); epochs, truncations and installed
//   snapshots are synchronous. Nodes snapshot their state now and then and compact their log, so lagging nodes
//   need SNAP synchronization.
// - Nodes crash and restart (recovering from their disk), and the zxid counter limit is low in some runs so that
//   epochs roll over.
// - Clients issue create/delete/setData and sync+getData on a few paths through any node (followers forward writes
//   to the leader as the server does) and record a history for the linearizability checker.
// - After every event the invariants hold: at most one established leader per epoch; every node applies the same
//   sequence of committed records and reaches the same state after each; applied zxids only grow; a record is
//   committed only once a quorum holds it durably; a completed write is in the committed sequence. At the end all
//   faults heal and the cluster must converge (liveness), then the history must be linearizable.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "linearizability.h"
#include "ukeeper/consensus/zab.h"

namespace uk::sim {

struct SimOptions {
  uint64_t seed = 1;
  int voters = 3;
  int observers = 0;
  int clients = 4;
  int64_t duration_us = 10'000'000;  // fault phase
  int64_t settle_us = 10'000'000;    // after healing: the cluster must converge within this
  int64_t tick_us = 10'000;          // one consensus tick
  bool faults = true;
  bool verbose = false;              // print every note and fault
  // > 1: members talk through a MultiTransport over this many simulated lanes, each with its own channels,
  // delays and breaks (as RDMA/DPDK beside TCP); 1: straight over one lane.
  int lanes = 1;
};

struct SimResult {
  bool ok = true;
  std::string failure;  // the first broken invariant, with time and node
  uint64_t events = 0;
  uint64_t committed = 0;
  uint64_t client_ops = 0;
  uint64_t elections = 0;
  uint64_t crashes = 0;
  uint64_t snap_syncs = 0;
  uint64_t trunc_syncs = 0;
  uint64_t diff_syncs = 0;
  std::string summary() const;
};

SimResult run_simulation(const SimOptions& options);

}  // namespace uk::sim
