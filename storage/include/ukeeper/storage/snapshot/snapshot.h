// Snapshots: the whole znode tree, its sessions and ACLs as of one zxid, in one checksummed file, so recovery
// is the newest valid snapshot plus the WAL records after it, and old WAL segments can be purged.
//
// File: <dir>/snapshot-<zxid as 16 hex digits>.snap, written as <name>.tmp, fdatasynced, renamed into place,
// then the directory fsynced. A file that does not verify (magic, version, length, crc32c) is never loaded.
//
// Format, version 1, jute encoding (big-endian, common/jute.h: int 4 bytes, long 8, buffer/string = int length
// then bytes with -1 for null):
//   header    6 bytes "UKSNAP", int format version (1), long zxid (the tree's last zxid), long node count,
//             long session count                                                         (34 bytes)
//   sessions  session count x { long session id, int timeout ms }, ids strictly increasing
//   nodes     node count x { string path, buffer data (-1: null data), int ACL count, ACL count x { int perms,
//             string scheme, string id }, the internal Stat: long czxid, long mzxid, long ctime ms, long mtime ms,
//             int version, int cversion (child creations, not client_stat()'s), int aversion, long ephemeral
//             owner, int data length, int num children, long pzxid }
//             Paths are strictly increasing in byte order: a parent (a prefix of its children) always comes
//             first, and duplicates cannot occur. Every node is present, the root and /zookeeper ones included.
//   trailer   long file bytes (the whole file, trailer included), int crc32c of every byte before this int
// Strings are never null and counts never -1, so each tree has exactly one encoding (decode then encode gives the
// same bytes back). decode_snapshot checks all of it: magic, version, length, crc, counts (bounded by the bytes present before
// anything is allocated for them), order, valid paths whose parent exists and is not ephemeral, data length =
// data size, num_children = children restored, no trailing bytes; then DataTree::check_consistency().
//
// Encoding and decoding are pure (bytes <-> DataTree) so they can be fuzzed; the file functions add the I/O.
// Thread-safety: encoding a DataTree reads it, so the caller must keep it still. Encoding a TreeVersion reads one
// published version of the tree through a read guard: the writer goes on applying meanwhile (the server writes
// its snapshots so, on a thread of their own).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ukeeper/common/types.h"
#include "ukeeper/storage/tree/data_tree.h"

namespace uk {

// One published version of a tree, as the writer's thread captured it between two applies: a read guard on it,
// and the sessions the writer had at that moment (sessions are writer-side state, not part of the version).
struct TreeVersion {
  const ReadGuard* guard = nullptr;
  std::map<SessionId, int32_t> sessions;
  // Called by write_snapshot_file once every node is encoded and written, before the fdatasync: the caller can
  // close the guard there, so the store stops keeping what the writer replaces while the disk catches up.
  std::function<void()> done_reading;
};

// The whole tree (every node's path, data, ACL and internal Stat; sessions with timeouts; last zxid).
std::string encode_snapshot(const DataTree& tree);
std::string encode_snapshot(const TreeVersion& version);

// Rebuilds `tree` (which must be freshly constructed) from encode_snapshot() bytes. Returns false with `error`
// on any malformed, truncated or inconsistent input (bad checksum, a node whose parent is missing, duplicate
// paths, counts that do not match); `tree` is then unspecified and must be discarded.
bool decode_snapshot(std::string_view bytes, DataTree& tree, std::string& error);

// The header alone (no crc check: for tools that describe a damaged file). False with `error` when the bytes are
// too short or the magic or version is wrong.
struct SnapshotHeader {
  uint32_t version = 0;
  Zxid zxid = 0;
  int64_t node_count = 0;
  int64_t session_count = 0;
};
bool decode_snapshot_header(std::string_view bytes, SnapshotHeader& header, std::string& error);

// Reads and decodes one file into `tree` (fresh). Also requires the zxid in a snapshot-<zxid>.snap name to be
// the header's. On failure `tree` is left as it was. (Addition to the original interface, for ukctl.)
bool load_snapshot_file(const std::string& path, DataTree& tree, std::string& error);

// A cheap check that reads only the header and the trailer's length: magic, version, file size, name zxid.
// It catches truncated and misnamed files, not flipped bits (that needs the whole file: load_snapshot_file).
bool peek_snapshot_file(const std::string& path, SnapshotHeader& header, std::string& error);

// Writes encode_snapshot(tree) durably into `dir` (created if missing) as snapshot-<tree.last_zxid()>.snap.
// Returns false with `error` naming the file and the failing call.
bool write_snapshot_file(const DataTree& tree, const std::string& dir, std::string& path_out, std::string& error);
bool write_snapshot_file(const TreeVersion& version, const std::string& dir, std::string& path_out,
                         std::string& error);

struct SnapshotFile {
  std::string path;
  Zxid zxid = 0;  // from the file name
};

// Snapshot files in `dir`, newest (highest zxid) first. Ignores .tmp files and other names.
std::vector<SnapshotFile> list_snapshots(const std::string& dir);

// Loads the newest snapshot that decodes into `tree` (fresh). Files that fail are skipped with one line each in
// `skipped` (path and reason). Returns the loaded file's zxid, or 0 when there is none (tree left fresh).
Zxid load_newest_snapshot(const std::string& dir, DataTree& tree, std::vector<std::string>& skipped);

// Deletes all but the `retain` newest snapshots (and stale .tmp files). Returns the zxid of the oldest snapshot
// kept (0 if none), below which WAL records are no longer needed.
// Details: `retain` below 1 counts as 1. Only snapshots that pass peek_snapshot_file() count towards `retain`
// (as ZooKeeper counts only valid snapshots), and only files older than the oldest counted one are deleted; with
// fewer valid snapshots than `retain`, no snapshot is deleted and the oldest valid one's zxid is returned.
// Must not run while a snapshot is being written into `dir` (it deletes .tmp files). The directory is fsynced.
Zxid purge_snapshots(const std::string& dir, int retain, std::vector<std::string>& removed);

}  // namespace uk
