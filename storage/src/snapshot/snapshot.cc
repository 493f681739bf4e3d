// Snapshots (format in snapshot.h). The encoder streams: it hands out chunks of about kChunkBytes while it keeps
// the running crc32c and length, so writing a large tree never holds a second copy of it in memory (the server
// writes from a forked child whose pages are shared copy-on-write with the parent's).
#include "ukeeper/storage/snapshot/snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <utility>

#include "ukeeper/common/crc32c.h"
#include "ukeeper/common/jute.h"
#include "ukeeper/common/znode_codec.h"

namespace uk {
namespace {

constexpr char kMagic[6] = {'U', 'K', 'S', 'N', 'A', 'P'};
constexpr int32_t kVersion = 1;
constexpr size_t kHeaderBytes = sizeof kMagic + 4 + 8 + 8 + 8;
constexpr size_t kTrailerBytes = 8 + 4;
// The fewest bytes a session and a node can take, to bound claimed counts by the bytes actually present:
// session: id 8 + timeout 4; node: path 4 + "/" 1 + data 4 + ACL count 4 + Stat 68 (6 longs, 5 ints).
constexpr size_t kMinSessionBytes = 12;
constexpr size_t kMinNodeBytes = 4 + 1 + 4 + 4 + 6 * 8 + 5 * 4;
// An ACL entry: perms 4 + scheme length 4 + id length 4.
constexpr size_t kMinAclBytes = 12;
constexpr size_t kChunkBytes = 1 << 20;

constexpr std::string_view kFilePrefix = "snapshot-";
constexpr std::string_view kFileSuffix = ".snap";
constexpr std::string_view kTmpSuffix = ".tmp";

std::string hex(Zxid z) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%" PRIx64, static_cast<uint64_t>(z));
  return b;
}

std::string file_name(Zxid zxid) { return zxid_file_name(kFilePrefix, zxid, kFileSuffix); }

std::optional<Zxid> parse_file_name(std::string_view name) {
  return parse_zxid_file_name(name, kFilePrefix, kFileSuffix);
}

std::string base_name(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string errno_text(const char* op, const std::string& path, int err) {
  return std::string("snapshot: ") + op + " " + path + ": " + std::strerror(err);
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding

// Receives the encoding in order, chunk by chunk. Returns false to stop (a write failed).
using Sink = std::function<bool(std::string_view chunk)>;

class Encoder {
 public:
  explicit Encoder(const Sink& sink) : sink_(sink), w_(buf_) { buf_.reserve(kChunkBytes + 4096); }

  JuteWriter& out() { return w_; }
  // Hands a full chunk to the sink. False once the sink has refused one.
  bool maybe_flush() { return buf_.size() < kChunkBytes || flush(); }
  // Appends the trailer and hands out the rest.
  bool finish() {
    w_.put_long(static_cast<int64_t>(bytes_ + buf_.size() + kTrailerBytes));
    crc_ = crc32c_extend(crc_, buf_.data(), buf_.size());
    const uint32_t crc = crc_;
    bytes_ += buf_.size();
    if (!sink_(buf_)) return false;
    buf_.clear();
    w_.put_int(static_cast<int32_t>(crc));
    return flush();
  }

 private:
  bool flush() {
    crc_ = crc32c_extend(crc_, buf_.data(), buf_.size());
    bytes_ += buf_.size();
    const bool ok = sink_(buf_);
    buf_.clear();
    return ok;
  }

  const Sink& sink_;
  std::string buf_;
  JuteWriter w_;
  uint32_t crc_ = 0;
  uint64_t bytes_ = 0;
};

void put_node(JuteWriter& w, const std::string& path, const Node& n) {
  w.put_string(path);
  w.put_buffer(n.data);
  put_acl_list(w, n.acl);
  put_stat(w, n.stat);
}

// What encoding needs from a tree: a DataTree (writer side) or a TreeVersion (a read guard plus sessions).
template <class Tree>
bool encode_to(const Tree& tree, const std::map<SessionId, int32_t>& sessions, const Sink& sink) {
  // Byte order of paths: a prefix sorts before its extensions, so parents precede children.
  std::vector<std::pair<const std::string*, const Node*>> nodes;
  nodes.reserve(tree.node_count());
  tree.for_each([&](const std::string& path, const Node& n) { nodes.emplace_back(&path, &n); });
  std::sort(nodes.begin(), nodes.end(), [](const auto& a, const auto& b) { return *a.first < *b.first; });

  Encoder e(sink);
  JuteWriter& w = e.out();
  w.bytes().append(kMagic, sizeof kMagic);
  w.put_int(kVersion);
  w.put_long(tree.last_zxid());
  w.put_long(static_cast<int64_t>(nodes.size()));
  w.put_long(static_cast<int64_t>(sessions.size()));
  for (const auto& [id, timeout_ms] : sessions) {
    w.put_long(id);
    w.put_int(timeout_ms);
    if (!e.maybe_flush()) return false;
  }
  for (const auto& [path, node] : nodes) {
    put_node(w, *path, *node);
    if (!e.maybe_flush()) return false;
  }
  return e.finish();
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

uint64_t load_be(std::string_view b, size_t at, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | static_cast<uint8_t>(b[at + static_cast<size_t>(i)]);
  return v;
}

bool fail(std::string& error, std::string what) {
  error = "snapshot: " + std::move(what);
  return false;
}

// Strings are never null in a snapshot (the encoder writes none): rejecting -1, where JuteReader would read ""
// or an empty vector, keeps the encoding canonical, so decode then encode gives back the same bytes.
std::string get_non_null_string(JuteReader& r) {
  std::optional<std::string> s = r.get_buffer();
  if (!s) r.fail();
  return s ? std::move(*s) : std::string();
}

bool read_node(JuteReader& r, std::string& path, Node& n) {
  path = get_non_null_string(r);
  n.data = r.get_buffer();
  const int32_t acls = r.get_int();
  if (acls < 0 || static_cast<size_t>(acls) > r.remaining() / kMinAclBytes) return false;
  AclList acl;
  acl.reserve(static_cast<size_t>(acls));
  for (int32_t i = 0; i < acls && r.ok(); ++i) {
    Acl a;
    a.perms = r.get_int();
    a.id.scheme = get_non_null_string(r);
    a.id.id = get_non_null_string(r);
    acl.push_back(std::move(a));
  }
  n.acl = std::move(acl);
  get_stat(r, n.stat);
  return r.ok();
}

bool decode_body(std::string_view body, const SnapshotHeader& h, DataTree& tree, std::string& error) {
  JuteReader r(body);
  r.get_long();  // zxid, count and count: already in `h`
  r.get_long();
  r.get_long();
  if (h.node_count < 0 || static_cast<uint64_t>(h.node_count) > r.remaining() / kMinNodeBytes) {
    return fail(error, "node count " + std::to_string(h.node_count) + " does not fit in the file");
  }
  if (h.session_count < 0 || static_cast<uint64_t>(h.session_count) > r.remaining() / kMinSessionBytes) {
    return fail(error, "session count " + std::to_string(h.session_count) + " does not fit in the file");
  }
  std::optional<SessionId> prev_session;
  for (int64_t i = 0; i < h.session_count; ++i) {
    const SessionId id = r.get_long();
    const int32_t timeout_ms = r.get_int();
    if (!r.ok()) return fail(error, "truncated in session " + std::to_string(i));
    if (prev_session && id <= *prev_session) {
      return fail(error, "session " + hex(id) + " out of order or repeated");
    }
    prev_session = id;
    tree.restore_session(id, timeout_ms);
  }
  std::string prev_path, path;
  for (int64_t i = 0; i < h.node_count; ++i) {
    const size_t offset = sizeof kMagic + 4 + r.position();
    Node n;
    if (!read_node(r, path, n)) return fail(error, "truncated in node " + std::to_string(i));
    if (i > 0 && path <= prev_path) {
      return fail(error, "node '" + path + "' at offset " + std::to_string(offset) + " out of order or repeated");
    }
    if (!tree.restore_node(path, std::move(n))) {
      return fail(error, "node '" + path + "' at offset " + std::to_string(offset) +
                             ": invalid path, missing or ephemeral parent, or data length not the data's size");
    }
    std::swap(prev_path, path);
  }
  if (!r.at_end()) return fail(error, std::to_string(r.remaining()) + " unread bytes before the trailer");
  if (tree.node_count() != static_cast<size_t>(h.node_count)) {
    return fail(error, "holds " + std::to_string(h.node_count) + " nodes but the tree has " +
                           std::to_string(tree.node_count()) + " (a node of a fresh tree is missing)");
  }
  std::string why;
  if (!tree.check_consistency(why)) return fail(error, "inconsistent tree: " + why);
  tree.restore_last_zxid(h.zxid);
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// Files

bool read_whole_file(const std::string& path, std::string& out, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = errno_text("open", path, errno);
    return false;
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    error = errno_text("fstat", path, errno);
    ::close(fd);
    return false;
  }
  out.assign(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n < 0 ? errno_text("read", path, errno) : "snapshot: read " + path + ": file shrank while reading";
      ::close(fd);
      return false;
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return true;
}

bool fsync_dir(const std::string& dir, std::string& error) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    error = errno_text("open directory", dir, errno);
    return false;
  }
  const bool ok = ::fsync(fd) == 0;
  if (!ok) error = errno_text("fsync directory", dir, errno);
  ::close(fd);
  return ok;
}

bool write_all(int fd, std::string_view bytes, int& err) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

namespace {

bool encode_to(const DataTree& tree, const Sink& sink) { return encode_to(tree, tree.sessions(), sink); }
bool encode_to(const TreeVersion& v, const Sink& sink) { return encode_to(*v.guard, v.sessions, sink); }
Zxid version_zxid(const DataTree& tree) { return tree.last_zxid(); }
Zxid version_zxid(const TreeVersion& v) { return v.guard->last_zxid(); }
void done_reading(const DataTree&) {}
void done_reading(const TreeVersion& v) {
  if (v.done_reading) v.done_reading();
}

template <class Tree>
std::string encode_snapshot_of(const Tree& tree) {
  std::string out;
  const Sink sink = [&out](std::string_view chunk) {
    out.append(chunk);
    return true;
  };
  encode_to(tree, sink);
  return out;
}

}  // namespace

std::string encode_snapshot(const DataTree& tree) { return encode_snapshot_of(tree); }
std::string encode_snapshot(const TreeVersion& version) { return encode_snapshot_of(version); }

bool decode_snapshot_header(std::string_view bytes, SnapshotHeader& header, std::string& error) {
  if (bytes.size() < kHeaderBytes) return fail(error, "truncated header (" + std::to_string(bytes.size()) + " bytes)");
  if (bytes.substr(0, sizeof kMagic) != std::string_view(kMagic, sizeof kMagic)) return fail(error, "bad magic");
  header.version = static_cast<uint32_t>(load_be(bytes, sizeof kMagic, 4));
  header.zxid = static_cast<Zxid>(load_be(bytes, sizeof kMagic + 4, 8));
  header.node_count = static_cast<int64_t>(load_be(bytes, sizeof kMagic + 12, 8));
  header.session_count = static_cast<int64_t>(load_be(bytes, sizeof kMagic + 20, 8));
  if (header.version != static_cast<uint32_t>(kVersion)) {
    return fail(error, "unsupported format version " + std::to_string(header.version));
  }
  return true;
}

bool decode_snapshot(std::string_view bytes, DataTree& tree, std::string& error) {
  SnapshotHeader h;
  if (!decode_snapshot_header(bytes, h, error)) return false;
  if (bytes.size() < kHeaderBytes + kTrailerBytes) return fail(error, "truncated: no trailer");
  const size_t crc_at = bytes.size() - 4;
  const uint64_t file_bytes = load_be(bytes, crc_at - 8, 8);
  if (file_bytes != bytes.size()) {
    return fail(error, "length " + std::to_string(bytes.size()) + " but the trailer says " + std::to_string(file_bytes) +
                           " (truncated or extended)");
  }
  const uint32_t stored_crc = static_cast<uint32_t>(load_be(bytes, crc_at, 4));
  const uint32_t crc = crc32c(bytes.data(), crc_at);
  if (stored_crc != crc) return fail(error, "crc32c mismatch");
  // Sessions and nodes lie between the magic + version and the trailer.
  const size_t body_at = sizeof kMagic + 4;
  return decode_body(bytes.substr(body_at, bytes.size() - kTrailerBytes - body_at), h, tree, error);
}

bool load_snapshot_file(const std::string& path, DataTree& tree, std::string& error) {
  std::string bytes;
  if (!read_whole_file(path, bytes, error)) return false;
  DataTree loaded;
  if (!decode_snapshot(bytes, loaded, error)) {
    error = path + ": " + error;
    return false;
  }
  std::optional<Zxid> named = parse_file_name(base_name(path));
  if (named && *named != loaded.last_zxid()) {
    error = path + ": snapshot: the name says zxid " + hex(*named) + " but it holds " + hex(loaded.last_zxid());
    return false;
  }
  tree = std::move(loaded);
  return true;
}

bool peek_snapshot_file(const std::string& path, SnapshotHeader& header, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = errno_text("open", path, errno);
    return false;
  }
  struct stat st{};
  char head[kHeaderBytes];
  char tail[kTrailerBytes];
  bool ok = ::fstat(fd, &st) == 0;
  if (!ok) error = errno_text("fstat", path, errno);
  const auto size = static_cast<uint64_t>(st.st_size);
  if (ok && size < kHeaderBytes + kTrailerBytes) {
    ok = fail(error, path + ": truncated (" + std::to_string(size) + " bytes)");
  }
  if (ok && (::pread(fd, head, sizeof head, 0) != static_cast<ssize_t>(sizeof head) ||
             ::pread(fd, tail, sizeof tail, static_cast<off_t>(size - kTrailerBytes)) !=
                 static_cast<ssize_t>(sizeof tail))) {
    ok = fail(error, path + ": short read");
  }
  ::close(fd);
  if (!ok) return false;
  if (!decode_snapshot_header(std::string_view(head, sizeof head), header, error)) {
    error = path + ": " + error;
    return false;
  }
  const uint64_t file_bytes = load_be(std::string_view(tail, sizeof tail), 0, 8);
  if (file_bytes != size) {
    return fail(error, path + ": " + std::to_string(size) + " bytes but the trailer says " + std::to_string(file_bytes));
  }
  std::optional<Zxid> named = parse_file_name(base_name(path));
  if (named && *named != header.zxid) {
    return fail(error, path + ": the name says zxid " + hex(*named) + " but it holds " + hex(header.zxid));
  }
  return true;
}

namespace {

template <class Tree>
bool write_snapshot_file_of(const Tree& tree, const std::string& dir, std::string& path_out, std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    error = "snapshot: create directory " + dir + ": " + ec.message();
    return false;
  }
  const std::string path = dir + "/" + file_name(version_zxid(tree));
  const std::string tmp = path + std::string(kTmpSuffix);
  int fd = ::open(tmp.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = errno_text("create", tmp, errno);
    return false;
  }
  int err = 0;
  const Sink sink = [&](std::string_view chunk) { return write_all(fd, chunk, err); };
  bool ok = encode_to(tree, sink);
  done_reading(tree);  // every byte is in the file (page cache): the tree is not needed for the fdatasync
  if (!ok) error = errno_text("write", tmp, err);
  if (ok && ::fdatasync(fd) != 0) {
    error = errno_text("fdatasync", tmp, errno);
    ok = false;
  }
  if (::close(fd) != 0 && ok) {
    error = errno_text("close", tmp, errno);
    ok = false;
  }
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    error = errno_text("rename into place", tmp, errno);
    ok = false;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    return false;
  }
  if (!fsync_dir(dir, error)) return false;
  path_out = path;
  return true;
}

}  // namespace

bool write_snapshot_file(const DataTree& tree, const std::string& dir, std::string& path_out, std::string& error) {
  return write_snapshot_file_of(tree, dir, path_out, error);
}

bool write_snapshot_file(const TreeVersion& version, const std::string& dir, std::string& path_out,
                         std::string& error) {
  return write_snapshot_file_of(version, dir, path_out, error);
}

std::vector<SnapshotFile> list_snapshots(const std::string& dir) {
  std::vector<SnapshotFile> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (std::optional<Zxid> z = parse_file_name(e->d_name)) out.push_back(SnapshotFile{dir + "/" + e->d_name, *z});
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const SnapshotFile& a, const SnapshotFile& b) { return a.zxid > b.zxid; });
  return out;
}

Zxid load_newest_snapshot(const std::string& dir, DataTree& tree, std::vector<std::string>& skipped) {
  for (const SnapshotFile& f : list_snapshots(dir)) {
    std::string error;
    if (load_snapshot_file(f.path, tree, error)) return tree.last_zxid();
    skipped.push_back(error);
  }
  return 0;
}

Zxid purge_snapshots(const std::string& dir, int retain, std::vector<std::string>& removed) {
  const size_t keep = static_cast<size_t>(std::max(retain, 1));
  const std::vector<SnapshotFile> files = list_snapshots(dir);
  size_t valid = 0;
  Zxid oldest_kept = 0;
  for (const SnapshotFile& f : files) {
    if (valid == keep) break;
    SnapshotHeader h;
    std::string error;
    if (!peek_snapshot_file(f.path, h, error)) continue;
    valid++;
    oldest_kept = f.zxid;
  }
  bool changed = false;
  auto remove = [&](const std::string& path) {
    if (::unlink(path.c_str()) == 0) {
      removed.push_back(path);
      changed = true;
    }
  };
  if (valid == keep) {
    for (const SnapshotFile& f : files) {
      if (f.zxid < oldest_kept) remove(f.path);
    }
  }
  if (DIR* d = ::opendir(dir.c_str())) {
    std::vector<std::string> tmps;
    while (dirent* e = ::readdir(d)) {
      const std::string_view name = e->d_name;
      if (name.ends_with(kTmpSuffix) && parse_file_name(name.substr(0, name.size() - kTmpSuffix.size()))) {
        tmps.push_back(dir + "/" + e->d_name);
      }
    }
    ::closedir(d);
    for (const std::string& t : tmps) remove(t);
  }
  std::string error;
  if (changed) fsync_dir(dir, error);  // best effort: a file that comes back after a crash is purged next time
  return oldest_kept;
}

}  // namespace uk
