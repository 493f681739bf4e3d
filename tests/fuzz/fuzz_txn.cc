// libFuzzer target: the Txn codec (storage/include/ukeeper/storage/tree/txn.h), which reads WAL records and
// replication messages. decode_txn must survive any bytes; whatever it accepts must survive a round trip:
// decode(encode(decode(bytes))) == decode(bytes), and encoding that result again gives the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "ukeeper/storage/tree/txn.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_txn: %s\n", what);
  __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<uk::Txn> txn = uk::decode_txn(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!txn) return 0;
  std::string encoded;
  uk::encode_txn(*txn, encoded);
  std::optional<uk::Txn> again = uk::decode_txn(encoded);
  if (!again) fail("encode_txn wrote bytes decode_txn rejects");
  if (!(*again == *txn)) fail("decode(encode(txn)) != txn");
  std::string reencoded;
  uk::encode_txn(*again, reencoded);
  if (reencoded != encoded) fail("encoding is not stable across a round trip");
  return 0;
}
