#include "ukeeper/server/watches.h"

#include "ukeeper/server/acl.h"
#include "ukeeper/storage/tree/path.h"

namespace uk {
namespace {
constexpr uint8_t bit(WatchMode m) { return static_cast<uint8_t>(m); }
}  // namespace

void WatchManager::add(Table& t, const std::string& path, Watcher* w, WatchMode mode) {
  t[path][w] |= bit(mode);
  owned_[w].insert(path);
}

void WatchManager::add_persistent_watch(const std::string& path, Watcher* w, bool recursive) {
  WatchMode mode = recursive ? WatchMode::kPersistentRecursive : WatchMode::kPersistent;
  if (recursive && !has_mode(data_, path, w, bit(WatchMode::kPersistentRecursive))) recursive_count_++;
  add(data_, path, w, mode);
  add(child_, path, w, mode);
}

void WatchManager::collect(Table& t, EventType type, const std::string& path, std::set<Watcher*>& out) {
  auto it = t.find(path);
  if (it != t.end()) {
    for (auto w = it->second.begin(); w != it->second.end();) {
      uint8_t modes = w->second;
      // Recursive watchers never see NodeChildrenChanged.
      bool fires = (modes & (bit(WatchMode::kStandard) | bit(WatchMode::kPersistent))) != 0 ||
                   ((modes & bit(WatchMode::kPersistentRecursive)) && type != EventType::kNodeChildrenChanged);
      if (fires) out.insert(w->first);
      if (modes & bit(WatchMode::kStandard)) {
        w->second = static_cast<uint8_t>(modes & ~bit(WatchMode::kStandard));
        if (w->second == 0) {
          Watcher* gone = w->first;
          w = it->second.erase(w);
          forget_if_unwatched(gone, path);
          continue;
        }
      }
      ++w;
    }
    if (it->second.empty()) t.erase(it);
  }
  if (recursive_count_ == 0 || type == EventType::kNodeChildrenChanged) return;
  for (std::string_view p = path_parent(path); !p.empty(); p = path_parent(p)) {
    auto anc = t.find(std::string(p));
    if (anc == t.end()) continue;
    for (const auto& [w, modes] : anc->second) {
      if (modes & bit(WatchMode::kPersistentRecursive)) out.insert(w);
    }
  }
}

void WatchManager::trigger(EventType type, const std::string& path, const AclList& acl) {
  std::set<Watcher*> fire;
  switch (type) {
    case EventType::kNodeCreated:
    case EventType::kNodeDataChanged:
      collect(data_, type, path, fire);
      break;
    case EventType::kNodeDeleted:
      collect(data_, type, path, fire);
      collect(child_, type, path, fire);  // the set de-duplicates a watcher in both tables
      break;
    case EventType::kNodeChildrenChanged:
      collect(child_, type, path, fire);
      break;
    case EventType::kNone:
      return;
  }
  for (Watcher* w : fire) {
    if (acl_permits(acl, w->watcher_ids(), perm::kRead)) w->deliver_event(type, path);
  }
}

void WatchManager::forget_if_unwatched(Watcher* w, const std::string& path) {
  if (has_mode(data_, path, w, 0xff) || has_mode(child_, path, w, 0xff)) return;
  auto it = owned_.find(w);
  if (it == owned_.end()) return;
  it->second.erase(path);
  if (it->second.empty()) owned_.erase(it);
}

bool WatchManager::has_mode(const Table& t, const std::string& path, Watcher* w, uint8_t modes) {
  auto it = t.find(path);
  if (it == t.end()) return false;
  auto m = it->second.find(w);
  return m != it->second.end() && (m->second & modes) != 0;
}

bool WatchManager::remove_mode(Table& t, const std::string& path, Watcher* w, uint8_t modes) {
  auto it = t.find(path);
  if (it == t.end()) return false;
  auto m = it->second.find(w);
  if (m == it->second.end() || (m->second & modes) == 0) return false;
  m->second = static_cast<uint8_t>(m->second & ~modes);
  if (m->second == 0) it->second.erase(m);
  if (it->second.empty()) t.erase(it);
  return true;
}

bool WatchManager::has(const std::string& path, Watcher* w, WatcherType type) const {
  const uint8_t std_bit = bit(WatchMode::kStandard);
  switch (type) {
    case WatcherType::kChildren: return has_mode(child_, path, w, std_bit);
    case WatcherType::kData: return has_mode(data_, path, w, std_bit);
    case WatcherType::kAny:
      return has_mode(child_, path, w, 0xff) || has_mode(data_, path, w, 0xff);
    case WatcherType::kPersistent: return has_mode(data_, path, w, bit(WatchMode::kPersistent));
    case WatcherType::kPersistentRecursive: return has_mode(data_, path, w, bit(WatchMode::kPersistentRecursive));
  }
  return false;
}

bool WatchManager::remove(const std::string& path, Watcher* w, WatcherType type) {
  const uint8_t std_bit = bit(WatchMode::kStandard);
  const uint8_t rec_bit = bit(WatchMode::kPersistentRecursive);
  bool had_recursive = has_mode(data_, path, w, rec_bit);
  bool removed = false;
  switch (type) {
    case WatcherType::kChildren: removed = remove_mode(child_, path, w, std_bit); break;
    case WatcherType::kData: removed = remove_mode(data_, path, w, std_bit); break;
    case WatcherType::kAny: {
      bool c = remove_mode(child_, path, w, 0xff);
      bool d = remove_mode(data_, path, w, 0xff);
      removed = c || d;
      break;
    }
    case WatcherType::kPersistent:
    case WatcherType::kPersistentRecursive: {
      uint8_t b = type == WatcherType::kPersistent ? bit(WatchMode::kPersistent) : rec_bit;
      bool d = remove_mode(data_, path, w, b);
      bool c = remove_mode(child_, path, w, b);
      removed = c || d;
      break;
    }
  }
  if (had_recursive && !has_mode(data_, path, w, rec_bit)) recursive_count_--;
  if (removed) forget_if_unwatched(w, path);
  return removed;
}

void WatchManager::remove_watcher(Watcher* w) {
  auto it = owned_.find(w);
  if (it == owned_.end()) return;
  for (const std::string& path : it->second) {
    if (has_mode(data_, path, w, bit(WatchMode::kPersistentRecursive))) recursive_count_--;
    remove_mode(data_, path, w, 0xff);
    remove_mode(child_, path, w, 0xff);
  }
  owned_.erase(it);
}

size_t WatchManager::watch_count() const {
  size_t n = 0;
  for (const auto& [p, ws] : data_) n += ws.size();
  for (const auto& [p, ws] : child_) n += ws.size();
  return n;
}

size_t WatchManager::path_count() const {
  std::set<std::string_view> paths;
  for (const auto& [p, ws] : data_) paths.insert(p);
  for (const auto& [p, ws] : child_) paths.insert(p);
  return paths.size();
}

size_t WatchManager::watcher_count() const { return by_watcher().size(); }

std::map<Watcher*, std::set<std::string>> WatchManager::by_watcher() const {
  std::map<Watcher*, std::set<std::string>> out;
  for (const auto& [p, ws] : data_)
    for (const auto& [w, m] : ws) out[w].insert(p);
  for (const auto& [p, ws] : child_)
    for (const auto& [w, m] : ws) out[w].insert(p);
  return out;
}

std::map<std::string, std::set<Watcher*>> WatchManager::by_path() const {
  std::map<std::string, std::set<Watcher*>> out;
  for (const auto& [p, ws] : data_)
    for (const auto& [w, m] : ws) out[p].insert(w);
  for (const auto& [p, ws] : child_)
    for (const auto& [w, m] : ws) out[p].insert(w);
  return out;
}

}  // namespace uk
