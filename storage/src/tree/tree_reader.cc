// The read side of DataTree: reader registration and read guards (design in data_tree.h).
#include "tree_state.h"
#include "ukeeper/storage/tree/data_tree.h"

namespace uk {

static_assert(TreeReader::kMaxReaders == tree_detail::EpochDomain::kSlots);

TreeReader::TreeReader(const DataTree& tree) : state_(tree.state_.get()), slot_(state_->domain.claim()) {}

TreeReader::~TreeReader() { state_->domain.release(slot_); }

ReadGuard TreeReader::guard() {
  if (depth_++ == 0) state_->domain.enter(slot_);
  // seq_cst: this load and the slot store in enter() pair with the writer's publication and slot scan.
  return ReadGuard(this, state_->published.load(std::memory_order_seq_cst));
}

ReadGuard::~ReadGuard() {
  if (reader_ != nullptr && --reader_->depth_ == 0) reader_->state_->domain.exit(reader_->slot_);
}

const Node* ReadGuard::get(std::string_view path) const { return tree_detail::find_node(root_->trie, path); }

const ChildSet* ReadGuard::children(std::string_view path) const {
  const Node* n = get(path);
  return n == nullptr ? nullptr : &n->children;
}

int64_t ReadGuard::all_children_number(std::string_view path) const {
  return tree_detail::count_descendants(root_->trie, path);
}

void ReadGuard::for_each(const std::function<void(const std::string&, const Node&)>& fn) const {
  tree_detail::trie_for_each(root_->trie, [&fn](const tree_detail::Leaf& l) { fn(l.path, l.node); });
}

Zxid ReadGuard::last_zxid() const { return root_->last_zxid; }
size_t ReadGuard::node_count() const { return root_->node_count; }
int64_t ReadGuard::approximate_data_size() const { return root_->approximate_data_size; }
int64_t ReadGuard::memory_bytes() const { return root_->memory_bytes; }

}  // namespace uk
