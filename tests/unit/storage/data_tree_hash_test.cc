// The znode store's keyed path hash (tree_path_hash() in data_tree.h, SipHash-2-4 in siphash.h): the SipHash
// is the published function, the tree's key is secret and differs between processes, and the testing hook the
// collision tests (data_tree_reader_test.cc) rely on still replaces it.
#include <unistd.h>

#include <gtest/gtest.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ukeeper/storage/tree/data_tree.h"
#include "ukeeper/storage/tree/siphash.h"

namespace uk {
namespace {

// The reference vectors of the SipHash paper (key 00 01 .. 0f, message 00 01 .. n-1), here as checked with
// OpenSSL's independent SIPHASH MAC (`openssl mac -macopt hexkey:0001..0f -macopt size:8 SIPHASH`), which prints
// the 64-bit result's bytes little-endian; the empty message's 0x726fdb47dd0e0e31 is the paper's first vector.
TEST(TreePathHash, SipHash24MatchesTheReferenceVectors) {
  const SipKey key{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
  const struct {
    size_t length;
    uint64_t hash;
  } vectors[] = {
      {0, 0x726fdb47dd0e0e31ull},  {1, 0x74f839c593dc67fdull},  {7, 0xab0200f58b01d137ull},
      {8, 0x93f5f5799a932462ull},  {15, 0xa129ca6149be45e5ull}, {16, 0x3f2acc7f57c29bdbull},
      {63, 0x958a324ceb064572ull},
  };
  std::string message;
  for (int i = 0; i < 64; ++i) message.push_back(static_cast<char>(i));
  for (const auto& v : vectors) {
    EXPECT_EQ(siphash24(key, std::string_view(message).substr(0, v.length)), v.hash) << v.length << " bytes";
  }
}

std::vector<std::string> sample_paths() {
  std::vector<std::string> paths = {"/", "/zookeeper", "/zookeeper/quota", "/a", "/b", "/a/b"};
  for (int i = 0; i < 1000; ++i) paths.push_back("/app/lock-" + std::to_string(i));
  return paths;
}

TEST(TreePathHash, IsKeyedStableAndReplaceableForTests) {
  const std::vector<std::string> paths = sample_paths();
  std::vector<uint64_t> hashes;
  for (const std::string& p : paths) {
    const uint64_t h = tree_path_hash(p);
    EXPECT_EQ(tree_path_hash(p), h) << p;  // stable within the process
    // Not the unkeyed hashes (each equality would be a 2^-64 chance under a random key).
    EXPECT_NE(h, siphash24(SipKey{}, p)) << p;
    EXPECT_NE(h, std::hash<std::string_view>{}(p)) << p;
    hashes.push_back(h);
  }
  EXPECT_EQ(std::set<uint64_t>(hashes.begin(), hashes.end()).size(), paths.size());

  set_tree_path_hash_for_testing([](std::string_view p) -> uint64_t { return p.size(); });
  EXPECT_EQ(tree_path_hash("/abc"), 4u);
  set_tree_path_hash_for_testing(nullptr);
  for (size_t i = 0; i < paths.size(); ++i) EXPECT_EQ(tree_path_hash(paths[i]), hashes[i]) << paths[i];
}

// The key is drawn per process: this test runs itself again as a child process, which prints its hash of one
// path, and the two differ.
TEST(TreePathHash, KeyDiffersBetweenProcesses) {
  const std::string path = "/app/lock-0000000001";
  if (std::getenv("UK_TREE_HASH_CHILD") != nullptr) {
    std::printf("tree_path_hash=%016llx\n", static_cast<unsigned long long>(tree_path_hash(path)));
    return;
  }
  char self[PATH_MAX] = {};
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  ASSERT_GT(n, 0);
  const std::string command = std::string("UK_TREE_HASH_CHILD=1 '") + self +
                              "' --gtest_filter=TreePathHash.KeyDiffersBetweenProcesses 2>&1";
  std::FILE* child = popen(command.c_str(), "r");
  ASSERT_NE(child, nullptr);
  std::string output;
  char buf[256];
  while (std::fgets(buf, sizeof buf, child) != nullptr) output += buf;
  ASSERT_EQ(pclose(child), 0) << output;
  const size_t at = output.find("tree_path_hash=");
  ASSERT_NE(at, std::string::npos) << output;
  const uint64_t child_hash = std::strtoull(output.c_str() + at + 15, nullptr, 16);
  EXPECT_NE(child_hash, tree_path_hash(path)) << output;
}

// Paths whose unkeyed hashes were made to collide in the low bits (the trie's first levels) spread out under
// the keyed hash as random ones do: crafted with std::hash, they are just paths to SipHash.
TEST(TreePathHash, PathsCraftedAgainstTheUnkeyedHashSpreadOut) {
  std::vector<std::string> crafted;
  for (int i = 0; crafted.size() < 64; ++i) {
    std::string p = "/x/" + std::to_string(i);
    if ((std::hash<std::string_view>{}(p)&0xfff) == 0) crafted.push_back(std::move(p));  // same first 2.4 levels
  }
  std::set<uint64_t> first_level;
  for (const std::string& p : crafted) first_level.insert(tree_path_hash(p) & 31);
  // 64 random 5-bit values cover fewer than 16 of the 32 slots with probability well under 1e-9.
  EXPECT_GE(first_level.size(), 16u);

  const AclList open = {Acl{perm::kAll, Id{"world", "anyone"}}};
  DataTree t;
  Zxid z = 0;
  t.apply(single_op_txn(++z, create_txn_op("/x", "", open, 1)));
  int32_t cversion = 0;
  for (const std::string& p : crafted) t.apply(single_op_txn(++z, create_txn_op(p, "v", open, ++cversion)));
  for (const std::string& p : crafted) EXPECT_NE(t.get(p), nullptr) << p;
  std::string why;
  EXPECT_TRUE(t.check_consistency(why)) << why;
}

}  // namespace
}  // namespace uk
