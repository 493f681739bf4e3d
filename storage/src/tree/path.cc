#include "ukeeper/storage/tree/path.h"

#include <cstdint>

namespace uk {
namespace {

// Decodes one UTF-8 code point starting at s[i]; returns false on malformed input: truncated sequences, bad
// continuation bytes, overlong encodings, and anything above U+10FFFF. ZooKeeper validates Java chars; bytes that
// are not well-formed UTF-8 decode to U+FFFD there, which is a forbidden character, so rejecting them agrees.
bool next_code_point(std::string_view s, size_t& i, uint32_t& cp) {
  auto b0 = static_cast<uint8_t>(s[i]);
  int extra;
  uint32_t min_cp;
  if (b0 < 0x80) {
    cp = b0;
    extra = 0;
    min_cp = 0;
  } else if ((b0 & 0xE0) == 0xC0) {
    cp = b0 & 0x1F;
    extra = 1;
    min_cp = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    cp = b0 & 0x0F;
    extra = 2;
    min_cp = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    cp = b0 & 0x07;
    extra = 3;
    min_cp = 0x10000;
  } else {
    return false;
  }
  if (i + static_cast<size_t>(extra) >= s.size() && extra > 0) return false;  // truncated sequence
  for (int k = 1; k <= extra; k++) {
    auto b = static_cast<uint8_t>(s[i + static_cast<size_t>(k)]);
    if ((b & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min_cp || cp > 0x10FFFF) return false;
  i += static_cast<size_t>(extra) + 1;
  return true;
}

// Code points >= U+10000 are surrogate pairs (U+D800..DFFF) in Java's UTF-16, which ZooKeeper forbids.
bool code_point_forbidden(uint32_t c) {
  return c == 0 || c >= 0x10000 || (c >= 0x01 && c <= 0x1F) || (c >= 0x7F && c <= 0x9F) || (c >= 0xD800 && c <= 0xF8FF) ||
         (c >= 0xFFF0 && c <= 0xFFFF);
}

}  // namespace

bool path_valid(std::string_view path, bool sequential) {
  if (path.empty() || path[0] != '/') return false;
  if (path.size() == 1) return !sequential;  // "/" itself; a sequential create of "/" would name "/0000000001"
  if (path.back() == '/' && !sequential) return false;
  // Walk components: none may be empty, "." or "..".
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view comp = path.substr(start, end - start);
    bool last = end == path.size();
    if (comp.empty() && !(last && sequential)) return false;
    if (comp == "." || comp == "..") return false;
    start = end + 1;
    if (last) break;
  }
  for (size_t i = 0; i < path.size();) {
    uint32_t cp = 0;
    if (!next_code_point(path, i, cp)) return false;
    if (code_point_forbidden(cp)) return false;
  }
  return true;
}

std::string_view path_parent(std::string_view path) {
  if (path.size() <= 1) return {};
  size_t slash = path.rfind('/');
  if (slash == 0) return path.substr(0, 1);
  return path.substr(0, slash);
}

std::string_view path_basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string path_join(std::string_view parent, std::string_view child) {
  std::string out(parent);
  if (out.empty() || out.back() != '/') out.push_back('/');
  out.append(child);
  return out;
}

bool path_is_under(std::string_view path, std::string_view prefix) {
  if (prefix == "/") return !path.empty() && path[0] == '/';
  if (path.size() < prefix.size() || path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

}  // namespace uk
