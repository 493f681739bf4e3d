// When a dialing transport tries a peer again after a failed dial or a lost channel: exponential back-off between
// the transport's initial and maximum wait, and one warning per streak of failures (the rest at debug level), so a
// member that is down for hours costs a log line, not thousands. Shared by the TCP and RDMA transports, whose
// control connections dial the same way.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "ukeeper/common/log.h"
#include "ukeeper/dataplane/transport.h"

namespace uk {

struct Redial {
  int backoff_ms = 0;
  int64_t next_dial_ms = 0;
  bool failure_logged = false;

  bool due(int64_t now_ms) const { return next_dial_ms <= now_ms; }
  // A peer learned or healed: dial at once, starting the back-off afresh.
  void restart(int64_t now_ms, int initial_ms) {
    backoff_ms = initial_ms;
    next_dial_ms = now_ms;
  }
  // A channel got established: the next loss starts from the initial wait again, and is worth a warning.
  void succeeded(int initial_ms) {
    backoff_ms = initial_ms;
    failure_logged = false;
  }
  void schedule(int64_t now_ms, int max_ms) {
    next_dial_ms = now_ms + backoff_ms;
    backoff_ms = static_cast<int>(std::min<int64_t>(int64_t{backoff_ms} * 2, max_ms));
  }
  // Logs a failed dial (`what`: "dial" or "rdma dial") and schedules the next one.
  void failed(const char* what, PeerId id, const std::string& remote, const std::string& reason, int64_t now_ms,
              int max_ms) {
    if (!failure_logged) {
      UK_WARN("%s to peer %lld at %s failed: %s (retrying with back-off up to %d ms; repeats at debug level)", what,
              static_cast<long long>(id), remote.c_str(), reason.c_str(), max_ms);
      failure_logged = true;
    } else {
      UK_DEBUG("%s to peer %lld at %s failed: %s", what, static_cast<long long>(id), remote.c_str(), reason.c_str());
    }
    schedule(now_ms, max_ms);
  }
};

}  // namespace uk
