// The znode store: a hierarchical map of paths to nodes, changed only by applying Txns in zxid order (or rebuilt
// from a snapshot with the restore_* functions). Pure: no I/O, no clock, no threads of its own.
//
// Threads. One writer thread owns the DataTree object: it calls apply(), the restore_* functions and every other
// DataTree member. Any number of reader threads (the server's I/O threads, a background snapshot writer) read
// concurrently through a TreeReader and a ReadGuard, without locks and without ever making the writer wait.
//
// Publication. Every znode version (data, ACL, Stat, children) is an immutable Node. The path index is a
// persistent hash array mapped trie (HAMT, 32-way, keyed by a 64-bit hash of the path, see tree_path_hash())
// and each node's children are a persistent treap (child_set.h); both are updated by path copying, so one
// change copies O(log n) small nodes and shares the rest. apply() builds the new versions privately (trie
// branches it allocated in the same call are edited in place), then publishes the whole txn with ONE seq_cst
// store of a new Root {trie, zxid, counts}.
// A reader loads the Root once when it enters a guard, so it sees a consistent snapshot of the tree at one
// applied zxid: a multi is all or nothing, a child listed is a node of the same snapshot, counts match contents.
// (That whole-tree snapshot is why the path index is a persistent trie and not a concurrent hash table such as
// liburcu's rculfhash, which publishes key by key.) A create or delete under a parent with 10 / 100k / 1M
// children cost the writer 2.3-2.5 / 4.5-4.6 / 2.7-14 us in two runs on this busy 2-core box (bench/tree_bench.cc):
// O(log children), never a copy of the set.
//
// Memory: about 420 bytes per znode at 1M znodes with 100-byte values and 20-byte paths by memory_bytes(), 460 by
// RSS when no snapshot ran meanwhile (bench/reads.py): the leaf (path, Stat, data, a reference to its interned
// ACL) ~335, its child entry 64, its share of the trie ~20.
//
// Reclamation (epoch-based, our own rather than liburcu). Measured on this 2-core box: a guard's enter+exit costs
// ~12 ns against ~27 ns for liburcu memb's read_lock+unlock (no sys_membarrier here, so memb pays a full fence
// too); qsbr reads for ~1.3 ns but needs every reader thread to announce quiescent states and go offline around
// blocking calls; memb's synchronize_rcu blocks the writer ~6 us per grace period, and call_rcu moves frees to a
// thread of its own, where this store has none. Ours never blocks the writer: it polls and frees on its own thread
// at the end of each write, and ThreadSanitizer checks it without annotations. Objects a write replaces
// (old nodes, copied trie and treap nodes, the old Root) are retired into a batch tagged with the global epoch
// G; after publishing, the writer sets the epoch to G+1 and frees every batch older than all active readers.
// A reader slot holds 0 (outside any guard) or the epoch it read on entry. Entry: e = epoch.load(acquire);
// slot.store(e, seq_cst); root.load(seq_cst). Writer: root.store(seq_cst); epoch.store(G+1, seq_cst); then
// slot.load(seq_cst) for each claimed slot. With both store-then-load pairs seq_cst, either the writer sees the
// reader's slot (and keeps batch G while it is <= G), or the reader's root load comes after the publication in
// the single total order and cannot reach batch G. A slot >= G+1 was read from the writer's epoch store, which
// follows the publication (release/acquire). Exit is slot.store(0, release), so everything the reader did
// happens-before the writer's free. No fences: ThreadSanitizer models all of it.
//
// What a reader may hold. A `const Node*` (and its data, ACL, children) from a ReadGuard stays valid and
// unchanged until that guard ends; it is a snapshot, not a live view. Hold a guard for one request (micro-
// seconds), never across blocking I/O: while any guard is open, the writer keeps every object retired since it
// began, so memory grows with the guard's age (see retired_bytes()). Readers never block the writer: a slow
// reader costs memory, never time.
//
// Writer-side reads (get(), for_each(), ephemerals_of() ...) see the writer's current state and need no guard;
// a pointer they return is valid until the writer's next mutating call (apply, restore_*, assignment).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ukeeper/common/types.h"
#include "ukeeper/common/znode.h"
#include "ukeeper/storage/tree/acl_ref.h"
#include "ukeeper/storage/tree/child_set.h"
#include "ukeeper/storage/tree/txn.h"

namespace uk {

// One immutable version of a znode once the tree holds it (a value the writer fills before restore_node()).
struct Node {
  std::optional<std::string> data;  // nullopt: created with null data (reads back as a null buffer)
  AclRef acl;  // interned: nodes with the same ACL share one list
  Stat stat;  // num_children and data_length are kept equal to children.size() and data's size
  ChildSet children;  // child names, not paths; sorted
  bool operator==(const Node&) const = default;
};

// A change a watcher may care about. NodeChildrenChanged names the parent. `acl` is the ACL of the node the
// event names (for NodeDeleted, the ACL it had): only watchers that may READ it are told (ZooKeeper 3.8.4+).
struct TreeEvent {
  EventType type;
  std::string path;
  AclRef acl;
  bool operator==(const TreeEvent&) const = default;
};

// The Stat clients see. Internally cversion counts child creations (the sequential suffix is taken from it);
// ZooKeeper reports creations + deletions, i.e. 2 * creations - numChildren, so the root of a fresh tree shows -1.
// Containers and TTL nodes report ephemeralOwner 0, as ZooKeeper 3.8 does; only real ephemerals show a session.
inline Stat client_stat(const Stat& internal) {
  Stat s = internal;
  s.cversion = internal.cversion * 2 - internal.num_children;
  if (!owner::is_ephemeral(internal.ephemeral_owner)) s.ephemeral_owner = 0;
  return s;
}

struct OpResult {
  TxnType type = TxnType::kError;
  std::string path;  // create: the created path
  Stat stat;         // create, setData, setAcl, check: the node's client_stat() after the op
};

struct ApplyResult {
  std::vector<OpResult> results;   // one per TxnOp, in order
  std::vector<TreeEvent> events;   // in the order the changes happened
};

namespace tree_detail {
struct TreeState;
}

class TreeReader;

class DataTree {
 public:
  DataTree();
  ~DataTree();
  // Moving takes the whole state, reader registrations included; the moved-from tree is a fresh one. Copying is
  // a deep copy, O(nodes), with no readers. Assigning to a tree that has registered readers aborts: use install().
  DataTree(DataTree&& other) noexcept;
  DataTree& operator=(DataTree&& other) noexcept;
  DataTree(const DataTree& other);
  DataTree& operator=(const DataTree& other);

  // Applies a committed txn. Preconditions (checked, a violation aborts): txn.zxid > last_zxid() unless the
  // txn is being replayed from before a snapshot, and every op is valid against the current tree — the request
  // pipeline has validated it. Never fails. Publishes the whole txn at once to readers.
  ApplyResult apply(const Txn& txn);

  // Replaces the whole contents (nodes, indexes, sessions, last zxid) by `fresh`'s, which must have no registered
  // readers, and publishes them at once: a learner installing a snapshot from its leader while I/O threads read.
  // Readers see the old tree or the new one, never a mix; the old tree is freed after their grace period.
  // `fresh` is left a fresh tree.
  void install(DataTree&& fresh);

  const Node* get(std::string_view path) const;
  Zxid last_zxid() const;
  size_t node_count() const;
  // ZooKeeper's approximate data size: sum over nodes of path length + data length.
  int64_t approximate_data_size() const;
  // Number of descendants of `path` (not counting itself); 0 for a missing node.
  int64_t all_children_number(std::string_view path) const;

  // Memory accounting (for mntr): estimated heap bytes of the live tree (nodes, paths, data, ACLs, child entries,
  // trie), counted as glibc malloc chunks; and bytes retired but not yet freed because a reader may hold them.
  int64_t memory_bytes() const;
  int64_t retired_bytes() const;
  // Frees what readers have let go of since the last write (each write does this itself at its end): for the
  // writer's idle ticks, so a quiet tree does not keep its last write's garbage.
  void reclaim();

  // Writer-private indexes.
  const std::set<std::string>* ephemerals_of(SessionId session) const;
  const std::map<SessionId, std::set<std::string>>& ephemerals() const;
  const std::set<std::string>& containers() const;
  const std::set<std::string>& ttl_nodes() const;
  // Sessions that the applied txns opened and did not close, with their negotiated timeouts.
  const std::map<SessionId, int32_t>& sessions() const;

  // Visits every node (unspecified order).
  void for_each(const std::function<void(const std::string& path, const Node& node)>& fn) const;

  // Restoring from a snapshot (snapshot.h), on a freshly constructed tree, parents before children. These never
  // abort: a snapshot is untrusted input, so they return false where apply() would call it a broken invariant.
  //
  // Inserts `node` at `path` (its `children` must be empty: children attach themselves as they are restored).
  // A path that already exists (the root and the /zookeeper nodes of a fresh tree) is overwritten in place,
  // keeping the children it has. node.stat is taken as stored, num_children included, so it may disagree
  // with the children until all are restored; check_consistency() then checks it. Keeps the indexes and
  // approximate_data_size() right. False (tree unchanged) when the path is invalid, its parent is missing or
  // ephemeral, node.children is not empty, or data_length differs from the data's size.
  bool restore_node(const std::string& path, Node node);
  void restore_session(SessionId session, int32_t timeout_ms);
  void restore_last_zxid(Zxid zxid);
  // Checks what apply() keeps true: every node's num_children and data_length match its children and data,
  // every child entry is a node and every node but the root is some parent's child, ephemerals have no children,
  // the owner indexes hold exactly the nodes of their kind, and approximate_data_size() is the sum it stands for.
  // False with `why` naming the first node that breaks one. O(nodes).
  bool check_consistency(std::string& why) const;

  // Same nodes (data, ACL, Stat, children), indexes, sessions and last zxid.
  bool operator==(const DataTree& other) const;

 private:
  friend class TreeReader;
  std::unique_ptr<tree_detail::TreeState> state_;
};

// The 64-bit hash the trie files `path` under in this process: SipHash-2-4 (siphash.h) under a 128-bit key drawn
// from getrandom() once per process, so a client cannot craft paths whose hashes collide (which would put them
// in one linearly searched collision branch). Stable for the life of the process; differs between processes,
// so nothing persisted or sent may depend on it (snapshots sort by path; the WAL holds txns). Any thread.
uint64_t tree_path_hash(std::string_view path);

// Testing only: replaces the 64-bit path hash the trie files nodes under (nullptr restores the real one), so a
// test can force full-hash collisions. Call it with no tree alive: trees hashed one way cannot be read the other.
void set_tree_path_hash_for_testing(uint64_t (*hash)(std::string_view path));

class ReadGuard;

// One reader thread's registration with a tree: claims one of DataTree's reader slots (kMaxReaders) for its
// lifetime. Any thread may construct one, then only one thread at a time may use it. It must not outlive the
// tree's state (destroy readers before the tree) and must have no open guard when destroyed.
class TreeReader {
 public:
  static constexpr size_t kMaxReaders = 128;  // slots scanned by the writer: 64 bytes each, per tree

  explicit TreeReader(const DataTree& tree);
  ~TreeReader();
  TreeReader(const TreeReader&) = delete;
  TreeReader& operator=(const TreeReader&) = delete;

  // Enters a read-side critical section (nests: an inner guard shares the outer's protection) and takes a
  // snapshot of the tree as last published. Never blocks; costs one atomic store and two loads.
  ReadGuard guard();

 private:
  friend class ReadGuard;
  tree_detail::TreeState* state_;
  size_t slot_;
  uint32_t depth_ = 0;  // open guards; touched only by the thread using this reader
};

struct TreeRoot;

// A read-side critical section over one published snapshot of the tree. Everything it returns is valid until it
// is destroyed. Move-only; use on the thread that made it, or hand it (with its reader) to one other thread that
// then alone uses that reader until the guard ends (the server's snapshot writer: the pipeline thread opens the
// guard between two applies, so the sessions it copies at the same moment match the snapshot's zxid).
class ReadGuard {
 public:
  ~ReadGuard();
  ReadGuard(ReadGuard&& other) noexcept : reader_(other.reader_), root_(other.root_) { other.reader_ = nullptr; }
  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;
  ReadGuard& operator=(ReadGuard&&) = delete;

  const Node* get(std::string_view path) const;
  bool exists(std::string_view path) const { return get(path) != nullptr; }
  // Child names of `path` (sorted), or nullptr for a missing node.
  const ChildSet* children(std::string_view path) const;
  // getAllChildrenNumber: descendants of `path`, 0 for a missing node. O(descendants).
  int64_t all_children_number(std::string_view path) const;
  // Visits every node of the snapshot (unspecified order).
  void for_each(const std::function<void(const std::string& path, const Node& node)>& fn) const;
  // The snapshot's last applied zxid and counts, all of the same instant as its nodes.
  Zxid last_zxid() const;
  size_t node_count() const;
  int64_t approximate_data_size() const;
  int64_t memory_bytes() const;

 private:
  friend class TreeReader;
  ReadGuard(TreeReader* reader, const TreeRoot* root) : reader_(reader), root_(root) {}
  TreeReader* reader_;
  const TreeRoot* root_;
};

}  // namespace uk
