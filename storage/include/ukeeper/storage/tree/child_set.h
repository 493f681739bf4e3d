// A znode's child names as an immutable, persistent set: a treap whose shape is a function of its contents
// (a node's priority is a keyed hash of its name, so clients cannot pick names that unbalance it), updated by
// path copying. Inserting or erasing one name copies only the O(log n) nodes on the way to it and shares every
// other node with the previous version, so a create under a parent with a million children costs the same few
// dozen small allocations as under a parent with ten, and a reader holding the previous version keeps an
// unchanged, consistent listing.
//
// Ownership: a ChildSet inside a DataTree is a non-owning handle (root + count): the writer (data_tree.cc) owns
// the nodes reachable from the current version of each znode; nodes it copies or erases are retired to the tree's
// epoch domain and freed after a grace period (data_tree.h). Published nodes are never modified. A ChildSet built
// from a list of names outside any tree (tests, a Node filled by hand) owns its nodes, shared by its copies
// through a reference count; such a set never enters a tree (restore_node() takes only empty sets).
// Thread-safety: reading a ChildSet is safe from any thread that may read the Node holding it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace uk {

namespace tree_detail {
struct ChildNode {
  const ChildNode* left = nullptr;
  const ChildNode* right = nullptr;
  uint64_t priority = 0;  // keyed hash of name: a max-heap on priority, a search tree on name
  std::string name;
};
}  // namespace tree_detail

class ChildSet {
 public:
  // In-order (sorted by name) traversal. Holds a stack of the O(depth) ancestors still to visit.
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::string;
    using difference_type = std::ptrdiff_t;
    using pointer = const std::string*;
    using reference = const std::string&;

    const_iterator() = default;
    reference operator*() const { return stack_.back()->name; }
    pointer operator->() const { return &stack_.back()->name; }
    const_iterator& operator++();
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const const_iterator& o) const {
      return stack_.empty() ? o.stack_.empty() : (!o.stack_.empty() && stack_.back() == o.stack_.back());
    }

   private:
    friend class ChildSet;
    void push_left(const tree_detail::ChildNode* n);
    std::vector<const tree_detail::ChildNode*> stack_;
  };
  using iterator = const_iterator;
  using value_type = std::string;
  using size_type = size_t;

  ChildSet() = default;
  // A standalone set owning its nodes (see Ownership above).
  ChildSet(std::initializer_list<std::string> names);
  ChildSet(const ChildSet& other) : root_(other.root_), size_(other.size_) { hold(); }
  ChildSet(ChildSet&& other) noexcept : root_(other.root_), size_(other.size_) {
    other.root_ = 0;
    other.size_ = 0;
  }
  ChildSet& operator=(const ChildSet& other) {
    ChildSet copy(other);
    swap(copy);
    return *this;
  }
  ChildSet& operator=(ChildSet&& other) noexcept {
    ChildSet taken(std::move(other));
    swap(taken);
    return *this;
  }
  ~ChildSet() { drop(); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool contains(std::string_view name) const;
  size_t count(std::string_view name) const { return contains(name) ? 1 : 0; }
  const_iterator begin() const;
  const_iterator end() const { return {}; }

  friend bool operator==(const ChildSet& a, const ChildSet& b);
  friend bool operator==(const ChildSet& a, const std::set<std::string>& b);

 private:
  friend class ChildSetWriter;
  struct Owned;  // a standalone set's nodes and reference count
  // A tree-managed set holds its root node's address; a standalone one its Owned block's, tagged by the low bit.
  static constexpr uintptr_t kOwnedTag = 1;
  const tree_detail::ChildNode* root() const;
  void hold() const;
  void drop();
  void swap(ChildSet& o) noexcept {
    std::swap(root_, o.root_);
    std::swap(size_, o.size_);
  }
  uintptr_t root_ = 0;
  size_t size_ = 0;
};

}  // namespace uk
