// One shared, immutable copy of each distinct ACL list in the process. Most trees use a handful of ACLs (often
// just world:anyone) across millions of znodes; each node holding its own vector cost ~100 bytes per znode (the
// vector, its Acl and their strings). ZooKeeper interns ACLs too (ReferenceCountedACLCache). An AclRef is one
// pointer to the shared list: copying a node copies a reference, and a list goes when its last node does.
// Thread-safety: construction from a list (interning) takes a process-wide lock and may run on any thread;
// reading a list through an AclRef takes none. AclRef objects themselves follow shared_ptr's rules.
#pragma once

#include <initializer_list>
#include <memory>
#include <utility>

#include "ukeeper/common/znode.h"

namespace uk {

class AclRef {
 public:
  AclRef() = default;  // the empty list
  AclRef(const AclList& list) : list_(intern(list)) {}  // NOLINT: implicit, as the AclList it replaced
  AclRef(AclList&& list) : list_(intern(std::move(list))) {}  // NOLINT
  AclRef(std::initializer_list<Acl> list) : list_(intern(AclList(list))) {}

  const AclList& get() const { return list_ ? *list_ : empty(); }
  operator const AclList&() const { return get(); }  // NOLINT: reads as the list it stands for
  AclList::const_iterator begin() const { return get().begin(); }
  AclList::const_iterator end() const { return get().end(); }
  size_t size() const { return get().size(); }
  bool empty_list() const { return get().empty(); }

  // Equal lists are one shared object, so comparing the pointers compares the lists.
  bool operator==(const AclRef& o) const { return list_ == o.list_ || get() == o.get(); }
  bool operator==(const AclList& o) const { return get() == o; }

  // Distinct lists alive in the process (for tests and memory accounting).
  static size_t interned_count();

 private:
  static std::shared_ptr<const AclList> intern(AclList list);
  static const AclList& empty();
  std::shared_ptr<const AclList> list_;
};

}  // namespace uk
