// libFuzzer target: the snapshot decoder (storage/include/ukeeper/storage/snapshot/snapshot.h), which reads files
// written by a crashed or buggy process or damaged on disk. decode_snapshot must survive any bytes, never
// allocate for counts the bytes cannot hold, and whatever it accepts must be a consistent tree that survives a
// round trip: encode(decode(bytes)) == bytes (the encoding is canonical), and decode(encode(tree)) == tree.
//
// Input: byte 0 picks how the rest is read.
//   even  the rest is a whole snapshot file, trailer included (mostly exercises the length and crc checks)
//   odd   the rest is a snapshot WITHOUT its trailer; the target appends the right length and crc32c, so mutations
//         reach the content checks (counts, order, parents, data lengths, num_children) instead of the crc
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "ukeeper/common/crc32c.h"
#include "ukeeper/common/jute.h"
#include "ukeeper/storage/snapshot/snapshot.h"
#include "ukeeper/storage/tree/data_tree.h"

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "fuzz_snapshot: %s %s\n", what, detail.c_str());
  __builtin_trap();
}

std::string sealed(std::string_view body) {
  std::string out(body);
  uk::JuteWriter w(out);
  w.put_long(static_cast<int64_t>(body.size() + 12));
  const uint32_t crc = uk::crc32c(out);
  w.put_int(static_cast<int32_t>(crc));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string bytes = (data[0] & 1) ? sealed(rest) : std::string(rest);

  uk::DataTree tree;
  std::string error;
  if (!uk::decode_snapshot(bytes, tree, error)) {
    if (error.empty()) fail("decode_snapshot failed without an error message");
    return 0;
  }
  std::string why;
  if (!tree.check_consistency(why)) fail("decode_snapshot accepted an inconsistent tree:", why);
  uk::SnapshotHeader h;
  if (!uk::decode_snapshot_header(bytes, h, error)) fail("header rejected after a successful decode", error);
  if (h.zxid != tree.last_zxid() || h.node_count != static_cast<int64_t>(tree.node_count()) ||
      h.session_count != static_cast<int64_t>(tree.sessions().size())) {
    fail("header does not describe the decoded tree");
  }

  const std::string encoded = uk::encode_snapshot(tree);
  uk::DataTree again;
  if (!uk::decode_snapshot(encoded, again, error)) fail("encode_snapshot wrote bytes decode_snapshot rejects:", error);
  if (!(again == tree)) fail("decode(encode(tree)) != tree");
  if (uk::encode_snapshot(again) != encoded) fail("encoding is not stable across a round trip");
  // The format has one encoding per tree (sorted paths and sessions, no null strings, no slack), so whatever the
  // decoder accepts comes back byte for byte.
  if (encoded != bytes) fail("decode accepted bytes that are not the canonical encoding of their tree");
  return 0;
}
