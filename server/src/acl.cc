#include "ukeeper/server/acl.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

namespace uk {
namespace {

std::string base64(const unsigned char* data, size_t len) {
  std::string out(4 * ((len + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(len));
  out.resize(static_cast<size_t>(n));
  return out;
}

// Parses an IPv4 or IPv6 address into 16 bytes (IPv4 mapped into the first 4); returns its bit count or 0.
int parse_ip(std::string_view s, std::array<unsigned char, 16>& out) {
  std::string z(s);
  out.fill(0);
  if (inet_pton(AF_INET, z.c_str(), out.data()) == 1) return 32;
  if (inet_pton(AF_INET6, z.c_str(), out.data()) == 1) return 128;
  return 0;
}

bool valid_ip_pattern(std::string_view pattern) {
  std::array<unsigned char, 16> a{};
  size_t slash = pattern.find('/');
  int bits = parse_ip(pattern.substr(0, slash), a);
  if (bits == 0) return false;
  if (slash == std::string_view::npos) return true;
  std::string_view m = pattern.substr(slash + 1);
  int mask = -1;
  auto [p, ec] = std::from_chars(m.data(), m.data() + m.size(), mask);
  return ec == std::errc() && p == m.data() + m.size() && mask >= 0 && mask <= bits;
}

bool valid_acl_id(const Id& id) {
  if (id.scheme == "world") return id.id == "anyone";
  if (id.scheme == "digest") {
    // ZooKeeper requires id.split(":").length == 2 (Java drops trailing empty parts): exactly one ':' with
    // something after it; the user part may be empty.
    size_t colon = id.id.find(':');
    return colon != std::string::npos && id.id.find(':', colon + 1) == std::string::npos &&
           colon + 1 < id.id.size();
  }
  if (id.scheme == "ip") return valid_ip_pattern(id.id);
  return false;  // "super" has no provider to check an ACL id against; sasl and x509 are not served
}

bool id_matches(const Id& granted, const Id& held) {
  if (granted.scheme != held.scheme) return false;
  if (granted.scheme == "ip") return ip_matches(granted.id, held.id);
  return granted.id == held.id;
}

}  // namespace

std::string digest_of(std::string_view user_colon_password) {
  unsigned char sha[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(user_colon_password.data()), user_colon_password.size(), sha);
  size_t colon = user_colon_password.find(':');
  std::string user(user_colon_password.substr(0, colon));
  return user + ":" + base64(sha, sizeof sha);
}

Err authenticate(std::string_view scheme, std::string_view auth, std::string_view super_digest,
                 std::vector<Id>& ids) {
  if (scheme != "digest") return Err::kAuthFailed;
  if (auth.find(':') == std::string_view::npos) return Err::kAuthFailed;
  std::string digest = digest_of(auth);
  if (!super_digest.empty() && digest == super_digest) {
    Id super_id{"super", ""};
    if (std::find(ids.begin(), ids.end(), super_id) == ids.end()) ids.push_back(super_id);
  }
  Id id{"digest", digest};
  if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(std::move(id));
  return Err::kOk;
}

bool is_super(const std::vector<Id>& ids) {
  return std::any_of(ids.begin(), ids.end(), [](const Id& i) { return i.scheme == "super"; });
}

Err fixup_acl(const AclList& requested, const std::vector<Id>& ids, AclList& out) {
  out.clear();
  if (requested.empty()) return Err::kInvalidAcl;
  auto add = [&out](const Acl& a) {
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  };
  for (const Acl& a : requested) {
    if (a.id.scheme == "auth") {
      // Only identities an authentication provider proved count: digest. ip identities are not
      // "authenticated" and super has no provider, so neither expands.
      bool any = false;
      for (const Id& held : ids) {
        if (held.scheme == "digest") {
          add(Acl{a.perms, held});
          any = true;
        }
      }
      if (!any) return Err::kInvalidAcl;
      continue;
    }
    if (!valid_acl_id(a.id)) return Err::kInvalidAcl;
    add(a);
  }
  return Err::kOk;
}

bool acl_permits(const AclList& acl, const std::vector<Id>& ids, int32_t perm) {
  if (is_super(ids)) return true;
  if (acl.empty()) return true;
  for (const Acl& a : acl) {
    if ((a.perms & perm) == 0) continue;
    if (a.id.scheme == "world" && a.id.id == "anyone") return true;
    for (const Id& held : ids) {
      if (id_matches(a.id, held)) return true;
    }
  }
  return false;
}

bool ip_matches(std::string_view pattern, std::string_view addr) {
  std::array<unsigned char, 16> want{};
  std::array<unsigned char, 16> have{};
  size_t slash = pattern.find('/');
  int bits = parse_ip(pattern.substr(0, slash), want);
  int have_bits = parse_ip(addr, have);
  if (bits == 0 || have_bits != bits) return false;
  int mask = bits;
  if (slash != std::string_view::npos) {
    std::string_view m = pattern.substr(slash + 1);
    auto [p, ec] = std::from_chars(m.data(), m.data() + m.size(), mask);
    if (ec != std::errc() || p != m.data() + m.size() || mask < 0 || mask > bits) return false;
  }
  for (int i = 0; i < mask; i++) {
    int byte = i / 8;
    int bit = 7 - (i % 8);
    if (((want[static_cast<size_t>(byte)] >> bit) & 1) != ((have[static_cast<size_t>(byte)] >> bit) & 1)) return false;
  }
  return true;
}

}  // namespace uk
