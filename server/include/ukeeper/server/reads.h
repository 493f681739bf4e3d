// The reads a snapshot of the tree can answer by itself: exists, getData, getChildren(2), getACL and
// getAllChildrenNumber. One implementation for both places that serve them: the pipeline thread, reading the
// writer's current tree (DataTree), and a client I/O thread, reading a published snapshot under a ReadGuard.
// Neither registers a watch here: the caller learns which watch the request asked for and where to register it
// (the pipeline at once; an I/O thread hands it to the pipeline with the snapshot's zxid, see io_thread.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ukeeper/common/jute.h"
#include "ukeeper/common/znode.h"
#include "ukeeper/server/acl.h"
#include "ukeeper/server/proto.h"
#include "ukeeper/storage/tree/data_tree.h"

namespace uk {

// The watch a read leaves behind, if any.
enum class ReadWatch : uint8_t {
  kNone,
  kData,    // getData, or exists on a node that is there: NodeDataChanged / NodeDeleted
  kExists,  // exists on a node that is not there: NodeCreated
  kChild,   // getChildren(2): NodeChildrenChanged / NodeDeleted
};

struct ReadResult {
  Err err = Err::kOk;
  ReadWatch watch = ReadWatch::kNone;
  std::string path;  // the path the watch is for
};

inline bool is_snapshot_read(OpCode op) {
  switch (op) {
    case OpCode::kExists:
    case OpCode::kGetData:
    case OpCode::kGetChildren:
    case OpCode::kGetChildren2:
    case OpCode::kGetAcl:
    case OpCode::kGetAllChildrenNumber:
      return true;
    default:
      return false;
  }
}

// getData's body (data, Stat) for a node already found; the ACL check is the caller's.
inline void write_data_body(const Node& n, JuteWriter& w) {
  w.put_buffer(n.data);
  encode(w, client_stat(n.stat));
}

inline void write_children_body(const Node& n, bool with_stat, JuteWriter& w) {
  w.put_int(static_cast<int32_t>(n.children.size()));
  for (const std::string& child : n.children) w.put_string(child);
  if (with_stat) encode(w, client_stat(n.stat));
}

// getData or getChildren of `req` as one op of a multiRead or a single request.
template <class Source>
ReadResult read_path(const Source& tree, const std::vector<Id>& auth, OpCode op, const PathWatchRequest& req,
                     JuteWriter& w) {
  ReadResult r;
  const Node* n = tree.get(req.path);
  if (op == OpCode::kExists) {
    // exists leaves a data watch whether or not the node is there (NodeCreated fires it).
    if (req.watch) {
      r.watch = n == nullptr ? ReadWatch::kExists : ReadWatch::kData;
      r.path = req.path;
    }
    if (n == nullptr) {
      r.err = Err::kNoNode;
    } else {
      encode(w, client_stat(n->stat));
    }
    return r;
  }
  if (n == nullptr) {
    r.err = Err::kNoNode;
    return r;
  }
  if (!acl_permits(n->acl, auth, perm::kRead)) {
    r.err = Err::kNoAuth;
    return r;
  }
  if (op == OpCode::kGetData) {
    write_data_body(*n, w);
  } else {
    write_children_body(*n, op == OpCode::kGetChildren2, w);
  }
  if (req.watch) {
    r.watch = op == OpCode::kGetData ? ReadWatch::kData : ReadWatch::kChild;
    r.path = req.path;
  }
  return r;
}

// One snapshot read (is_snapshot_read(op)) from its request body; the response record goes to `w` when kOk.
template <class Source>
ReadResult serve_snapshot_read(const Source& tree, const std::vector<Id>& auth, OpCode op, JuteReader& body,
                               JuteWriter& w) {
  if (op == OpCode::kExists || op == OpCode::kGetData || op == OpCode::kGetChildren ||
      op == OpCode::kGetChildren2) {
    PathWatchRequest req;
    if (!decode(body, req)) return ReadResult{Err::kMarshallingError, ReadWatch::kNone, {}};
    return read_path(tree, auth, op, req, w);
  }
  ReadResult r;
  PathRequest req;
  if (!decode(body, req)) {
    r.err = Err::kMarshallingError;
    return r;
  }
  const Node* n = tree.get(req.path);
  if (n == nullptr) {
    r.err = Err::kNoNode;
    return r;
  }
  if (op == OpCode::kGetAcl) {
    if (!acl_permits(n->acl, auth, perm::kRead | perm::kAdmin)) {
      r.err = Err::kNoAuth;
      return r;
    }
    // Without ADMIN on the node, digest hashes are redacted to "user:x" (ZooKeeper 3.5.5+, CVE-2019-0201).
    if (acl_permits(n->acl, auth, perm::kAdmin)) {
      encode(w, n->acl);
    } else {
      AclList shown = n->acl;
      for (Acl& a : shown) {
        if (a.id.scheme == "digest") a.id.id = a.id.id.substr(0, a.id.id.find(':')) + ":x";
      }
      encode(w, shown);
    }
    encode(w, client_stat(n->stat));
    return r;
  }
  // getAllChildrenNumber
  if (!acl_permits(n->acl, auth, perm::kRead)) {
    r.err = Err::kNoAuth;
    return r;
  }
  w.put_int(static_cast<int32_t>(tree.all_children_number(req.path)));
  return r;
}

}  // namespace uk
