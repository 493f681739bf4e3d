#include "ukeeper/storage/tree/acl_ref.h"

#include <mutex>
#include <string>
#include <unordered_map>

namespace uk {
namespace {

// The lists alive, by a canonical byte key; an entry goes with the last reference to its list.
struct InternTable {
  std::mutex mu;
  std::unordered_map<std::string, std::weak_ptr<const AclList>> lists;
};

InternTable& table() {
  static InternTable* t = new InternTable;  // never destroyed: lists may outlive static destruction order
  return *t;
}

std::string key_of(const AclList& list) {
  std::string k;
  for (const Acl& a : list) {
    k.append(reinterpret_cast<const char*>(&a.perms), sizeof a.perms);
    k.append(a.id.scheme);
    k.push_back('\0');
    k.append(a.id.id);
    k.push_back('\0');
  }
  return k;
}

}  // namespace

std::shared_ptr<const AclList> AclRef::intern(AclList list) {
  if (list.empty()) return nullptr;
  std::string key = key_of(list);
  InternTable& t = table();
  std::lock_guard<std::mutex> lock(t.mu);
  auto it = t.lists.find(key);
  if (it != t.lists.end()) {
    if (std::shared_ptr<const AclList> live = it->second.lock()) return live;
  }
  // The deleter forgets the entry unless a newer list took the key after this one's last reference went.
  std::shared_ptr<const AclList> made(new AclList(std::move(list)), [key](const AclList* p) {
    {
      InternTable& tt = table();
      std::lock_guard<std::mutex> l(tt.mu);
      auto e = tt.lists.find(key);
      if (e != tt.lists.end() && e->second.expired()) tt.lists.erase(e);
    }
    delete p;
  });
  t.lists[key] = made;
  return made;
}

const AclList& AclRef::empty() {
  static const AclList kEmpty;
  return kEmpty;
}

size_t AclRef::interned_count() {
  InternTable& t = table();
  std::lock_guard<std::mutex> lock(t.mu);
  size_t n = 0;
  for (const auto& [key, list] : t.lists) n += list.expired() ? 0 : 1;
  return n;
}

}  // namespace uk
