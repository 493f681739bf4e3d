#include "ukeeper/storage/tree/txn.h"

#include "ukeeper/common/jute.h"
#include "ukeeper/common/znode_codec.h"

namespace uk {
namespace {

constexpr int32_t kTxnFormatVersion = 1;

void encode_op(const TxnOp& op, JuteWriter& w) {
  w.put_int(static_cast<int32_t>(op.type));
  w.put_string(op.path);
  w.put_buffer(op.data);
  put_acl_list(w, op.acl);
  w.put_long(op.ephemeral_owner);
  w.put_int(op.parent_cversion);
  w.put_int(op.version);
  w.put_int(op.timeout_ms);
  w.put_int(to_wire(op.err));
}

TxnOp decode_op(JuteReader& r) {
  TxnOp op;
  op.type = static_cast<TxnType>(r.get_int());
  op.path = r.get_string();
  op.data = r.get_buffer();
  int32_t n = r.get_count(12);
  op.acl.reserve(static_cast<size_t>(n));
  for (int32_t i = 0; i < n && r.ok(); i++) {
    Acl a;
    a.perms = r.get_int();
    a.id.scheme = r.get_string();
    a.id.id = r.get_string();
    op.acl.push_back(std::move(a));
  }
  op.ephemeral_owner = r.get_long();
  op.parent_cversion = r.get_int();
  op.version = r.get_int();
  op.timeout_ms = r.get_int();
  op.err = static_cast<Err>(r.get_int());
  return op;
}

}  // namespace

void encode_txn(const Txn& txn, std::string& out) {
  JuteWriter w(out);
  w.put_int(kTxnFormatVersion);
  w.put_long(txn.zxid);
  w.put_long(txn.session);
  w.put_int(txn.cxid);
  w.put_long(txn.time_ms);
  w.put_int(static_cast<int32_t>(txn.type));
  w.put_int(static_cast<int32_t>(txn.ops.size()));
  for (const TxnOp& op : txn.ops) encode_op(op, w);
}

std::optional<Txn> decode_txn(std::string_view bytes) {
  JuteReader r(bytes);
  if (r.get_int() != kTxnFormatVersion) return std::nullopt;
  Txn txn;
  txn.zxid = r.get_long();
  txn.session = r.get_long();
  txn.cxid = r.get_int();
  txn.time_ms = r.get_long();
  txn.type = static_cast<TxnType>(r.get_int());
  int32_t n = r.get_count(40);
  txn.ops.reserve(static_cast<size_t>(n));
  for (int32_t i = 0; i < n && r.ok(); i++) txn.ops.push_back(decode_op(r));
  if (!r.ok() || !r.at_end()) return std::nullopt;
  return txn;
}

}  // namespace uk
