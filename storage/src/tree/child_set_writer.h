// The writer side of ChildSet (child_set.h): insert and erase by path copying. Every node on the way to the
// change is copied once and the original retired (a reader of the old version still walks it); the rest is
// shared. A treap node is never edited after it is linked, so nothing here needs the write generation.
// Writer thread only.
#pragma once

#include <string_view>

#include "ukeeper/storage/tree/child_set.h"
#include "write_ctx.h"

namespace uk {

class ChildSetWriter {
 public:
  // `name` must be absent / present (the tree checks before calling).
  static ChildSet insert(tree_detail::WriteCtx& ctx, const ChildSet& set, std::string_view name);
  static ChildSet erase(tree_detail::WriteCtx& ctx, const ChildSet& set, std::string_view name);
  // A deep copy whose nodes belong to the writer of `ctx` (copying a whole tree).
  static ChildSet clone(tree_detail::WriteCtx& ctx, const ChildSet& set);
  // Frees every node of a tree-managed `set` at once (teardown of a tree nothing reads any more).
  static void destroy(const ChildSet& set);
  static void destroy_nodes(const tree_detail::ChildNode* root);
};

}  // namespace uk
