// ACL checks and authentication schemes (zookeeper-protocol.md §8): world, auth, digest, ip, super.
// Pure functions over Id lists; a connection's identities are its `auth_ids` (ip:<peer> from the start,
// digest ids after AuthPackets, super:"" after authenticating with the super digest).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ukeeper/common/types.h"
#include "ukeeper/common/znode.h"

namespace uk {

// "user:password" -> "user:" + base64(SHA1("user:password")), as ZooKeeper's DigestAuthenticationProvider.
std::string digest_of(std::string_view user_colon_password);

// Handles an AuthPacket: appends the identities it proves to `ids`. `super_digest` is the configured
// "super:<base64>" (empty: no super user). Returns kAuthFailed for an unknown scheme or malformed credentials.
Err authenticate(std::string_view scheme, std::string_view auth, std::string_view super_digest, std::vector<Id>& ids);

// True when `ids` holds the super identity (it bypasses every ACL).
bool is_super(const std::vector<Id>& ids);

// Validates an ACL from a request and expands the "auth" scheme into the caller's authenticated ids.
// Returns kInvalidAcl for an empty list, an unknown scheme, a malformed id, or "auth" with no ids to use.
// Duplicates are removed, first occurrence kept.
Err fixup_acl(const AclList& requested, const std::vector<Id>& ids, AclList& out);

// The ACL check: super passes; an empty ACL passes; else some entry grants `perm` to one of `ids`.
bool acl_permits(const AclList& acl, const std::vector<Id>& ids, int32_t perm);

// ip scheme: `pattern` is an IPv4/IPv6 address or CIDR ("10.0.0.0/8"); `addr` the client's address.
bool ip_matches(std::string_view pattern, std::string_view addr);

}  // namespace uk
