// Vocabulary types shared by every layer: transaction ids, session ids and ZooKeeper error codes.
#pragma once

#include <cstdint>
#include <string_view>

namespace uk {

// zxid = (epoch << 32) | counter. Standalone mode uses epoch 0.
using Zxid = int64_t;
using SessionId = int64_t;

inline constexpr int64_t kTimeNone = 0;

// ZooKeeper error codes exactly as they travel in ReplyHeader.err (zookeeper-protocol.md §8).
enum class Err : int32_t {
  kOk = 0,
  kSystemError = -1,
  kRuntimeInconsistency = -2,
  kDataInconsistency = -3,
  kConnectionLoss = -4,
  kMarshallingError = -5,
  kUnimplemented = -6,
  kOperationTimeout = -7,
  kBadArguments = -8,
  kUnknownSession = -12,
  kNewConfigNoQuorum = -13,
  kReconfigInProgress = -14,
  kApiError = -100,
  kNoNode = -101,
  kNoAuth = -102,
  kBadVersion = -103,
  kNoChildrenForEphemerals = -108,
  kNodeExists = -110,
  kNotEmpty = -111,
  kSessionExpired = -112,
  kInvalidCallback = -113,
  kInvalidAcl = -114,
  kAuthFailed = -115,
  kSessionMoved = -118,
  kNotReadOnly = -119,
  kEphemeralOnLocalSession = -120,
  kNoWatcher = -121,
  kRequestTimeout = -122,
  kReconfigDisabled = -123,
  kSessionClosedRequireSaslAuth = -124,
  kQuotaExceeded = -125,
  kThrottledOp = -127,
};

std::string_view err_name(Err e);

inline constexpr int32_t to_wire(Err e) { return static_cast<int32_t>(e); }

}  // namespace uk
