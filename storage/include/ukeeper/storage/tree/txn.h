// Transactions: the validated, fully-determined changes that the store applies in zxid order. The request
// pipeline (server/) turns a client request into a Txn after checking it against the store and the writes
// not yet applied; applying a Txn never fails and needs nothing but the Txn itself, so the same Txn can be
// written to the WAL, replicated, replayed after a crash, and applied on every ensemble member alike.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ukeeper/common/types.h"
#include "ukeeper/common/znode.h"

namespace uk {

enum class TxnType : int32_t {
  kCreate = 1,
  kDelete = 2,
  kSetData = 5,
  kSetAcl = 7,
  kCheck = 13,
  kMulti = 14,
  kCreateSession = -10,
  kCloseSession = -11,
  kError = -1,
};

// One change. Fields unused by a type keep their defaults.
struct TxnOp {
  TxnType type = TxnType::kError;
  std::string path;                 // final path (sequential suffix already appended)
  std::optional<std::string> data;  // create, setData (nullopt: null data)
  AclList acl;                      // create, setAcl
  int64_t ephemeral_owner = 0;      // create: 0, session id, container or TTL encoding
  int32_t parent_cversion = 0;      // create: the parent's cversion after this create
  int32_t version = 0;              // setData: new version; setAcl: new aversion; check: expected version
  int32_t timeout_ms = 0;           // createSession
  Err err = Err::kOk;               // error
  bool operator==(const TxnOp&) const = default;
};

struct Txn {
  Zxid zxid = 0;
  SessionId session = 0;
  int32_t cxid = 0;
  int64_t time_ms = 0;  // wall clock of the node that created the txn; becomes ctime/mtime
  TxnType type = TxnType::kError;
  std::vector<TxnOp> ops;  // exactly one unless type == kMulti
  bool operator==(const Txn&) const = default;
};

// Builders for the common single ops (tests, benchmarks, tools); fields not named keep their defaults.
inline TxnOp create_txn_op(std::string path, std::optional<std::string> data, AclList acl, int32_t parent_cversion,
                           int64_t ephemeral_owner = 0) {
  TxnOp op;
  op.type = TxnType::kCreate;
  op.path = std::move(path);
  op.data = std::move(data);
  op.acl = std::move(acl);
  op.ephemeral_owner = ephemeral_owner;
  op.parent_cversion = parent_cversion;
  return op;
}
inline TxnOp set_data_txn_op(std::string path, std::optional<std::string> data, int32_t new_version) {
  TxnOp op;
  op.type = TxnType::kSetData;
  op.path = std::move(path);
  op.data = std::move(data);
  op.version = new_version;
  return op;
}
inline TxnOp delete_txn_op(std::string path) {
  TxnOp op;
  op.type = TxnType::kDelete;
  op.path = std::move(path);
  return op;
}
// A txn of one op.
inline Txn single_op_txn(Zxid zxid, TxnOp op, SessionId session = 0) {
  Txn t;
  t.zxid = zxid;
  t.session = session;
  t.type = op.type;
  t.ops = {std::move(op)};
  return t;
}

// Jute encoding of a Txn, for the WAL and replication. decode_txn returns nullopt on malformed bytes.
void encode_txn(const Txn& txn, std::string& out);
std::optional<Txn> decode_txn(std::string_view bytes);

}  // namespace uk
