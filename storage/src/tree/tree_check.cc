// DataTree::check_consistency: the invariants apply() keeps, checked over the writer's current state.
#include "tree_state.h"
#include "ukeeper/storage/tree/data_tree.h"
#include "ukeeper/storage/tree/path.h"

namespace uk {

namespace {
int32_t data_size(const std::optional<std::string>& d) { return d ? static_cast<int32_t>(d->size()) : 0; }
}  // namespace

bool DataTree::check_consistency(std::string& why) const {
  auto broken = [&why](const std::string& path, const std::string& what) {
    why = "node '" + path + "': " + what;
    return false;
  };
  const tree_detail::TreeState& s = *state_;
  int64_t bytes = 0;
  size_t nodes = 0, child_entries = 0;
  size_t ephemeral_count = 0, container_count = 0, ttl_count = 0;
  std::string first_broken, what;
  tree_detail::trie_for_each(s.trie, [&](const tree_detail::Leaf& leaf) {
    if (!first_broken.empty()) return;
    const std::string& path = leaf.path;
    const Node& node = leaf.node;
    auto fail = [&](std::string w) {
      first_broken = path;
      what = std::move(w);
    };
    nodes++;
    bytes += static_cast<int64_t>(path.size()) + node.stat.data_length;
    if (leaf.hash != tree_detail::path_hash(path)) return fail("filed under the wrong hash");
    if (node.stat.data_length != data_size(node.data)) return fail("data_length does not match the data");
    if (node.stat.num_children < 0 || static_cast<size_t>(node.stat.num_children) != node.children.size()) {
      return fail("num_children " + std::to_string(node.stat.num_children) + " but " +
                  std::to_string(node.children.size()) + " children");
    }
    const int64_t o = node.stat.ephemeral_owner;
    if (owner::is_ephemeral(o) && !node.children.empty()) return fail("an ephemeral node has children");
    size_t listed = 0;
    const std::string* prev = nullptr;
    for (const std::string& c : node.children) {
      if (prev != nullptr && !(*prev < c)) return fail("children out of order at '" + c + "'");
      if (get(path_join(path, c)) == nullptr) return fail("child '" + c + "' is not a node");
      prev = &c;
      listed++;
    }
    if (listed != node.children.size()) return fail("child set size disagrees with its contents");
    child_entries += listed;
    if (owner::is_container(o)) {
      container_count++;
      if (s.containers.count(path) == 0) return fail("container missing from the container index");
    } else if (owner::is_ttl(o)) {
      ttl_count++;
      if (s.ttl_nodes.count(path) == 0) return fail("TTL node missing from the TTL index");
    } else if (o != 0) {
      ephemeral_count++;
      const std::set<std::string>* mine = ephemerals_of(o);
      if (mine == nullptr || mine->count(path) == 0) return fail("ephemeral missing from its session's index");
    }
  });
  if (!first_broken.empty()) return broken(first_broken, what);
  if (nodes != s.node_count) {
    return broken("/", "node_count " + std::to_string(s.node_count) + " but " + std::to_string(nodes) + " nodes");
  }
  // Every child entry names a distinct existing non-root path, so equal counts mean each non-root node is listed
  // by exactly one parent (its own: a child entry's path is its parent's path joined with the name).
  if (get("/") == nullptr) return broken("/", "the root is missing");
  if (child_entries + 1 != nodes) {
    return broken(
        "/", std::to_string(nodes - 1) + " non-root nodes but " + std::to_string(child_entries) + " child entries");
  }
  size_t indexed_ephemerals = 0;
  for (const auto& [session, paths] : s.ephemerals) indexed_ephemerals += paths.size();
  if (indexed_ephemerals != ephemeral_count || s.containers.size() != container_count ||
      s.ttl_nodes.size() != ttl_count) {
    return broken("/", "an owner index holds nodes that are not of its kind");
  }
  if (bytes != s.approximate_data_size) {
    return broken("/", "approximate_data_size " + std::to_string(s.approximate_data_size) + " but the nodes sum to " +
                           std::to_string(bytes));
  }
  return true;
}

}  // namespace uk
