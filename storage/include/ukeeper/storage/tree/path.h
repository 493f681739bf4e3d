// Znode path rules (zookeeper-protocol.md §6). Pure functions.
#pragma once

#include <string>
#include <string_view>

namespace uk {

// True when `path` is a valid absolute znode path. `sequential` allows the trailing '/' of a sequential
// create ("/a/" becomes "/a/0000000001"), as ZooKeeper validates the path with the suffix appended.
bool path_valid(std::string_view path, bool sequential = false);

// Parent of a valid non-root path: "/a/b" -> "/a", "/a" -> "/". Root's parent is "".
std::string_view path_parent(std::string_view path);

// Last component: "/a/b" -> "b", "/" -> "".
std::string_view path_basename(std::string_view path);

// "/a" + "b" -> "/a/b"; "/" + "b" -> "/b".
std::string path_join(std::string_view parent, std::string_view child);

// True when `path` equals `prefix` or lies below it ("/a/b" is under "/a"; "/ab" is not).
bool path_is_under(std::string_view path, std::string_view prefix);

}  // namespace uk
