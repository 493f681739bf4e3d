// AclRef: one shared list per distinct ACL, gone with its last reference, safe to intern and drop from several
// threads at once (this file runs in uk_concurrency_tests, under ThreadSanitizer in the tsan tree).
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "ukeeper/storage/tree/acl_ref.h"

namespace uk {
namespace {

AclList digest_acl(int i) { return {Acl{perm::kAll, Id{"digest", "user" + std::to_string(i) + ":hash"}}}; }

TEST(AclRef, EqualListsShareOneObjectAndGoWithTheLastReference) {
  size_t before = AclRef::interned_count();
  {
    AclRef a = digest_acl(1);
    AclRef b = digest_acl(1);
    AclRef c = digest_acl(2);
    EXPECT_EQ(&a.get(), &b.get());  // one list, shared
    EXPECT_NE(&a.get(), &c.get());
    EXPECT_TRUE(a == b);
    EXPECT_FALSE(a == c);
    EXPECT_TRUE(a == digest_acl(1));
    EXPECT_EQ(AclRef::interned_count(), before + 2);
    AclRef copy = a;
    a = AclRef();
    b = AclRef();
    EXPECT_EQ(AclRef::interned_count(), before + 2);  // `copy` still holds it
    EXPECT_EQ(copy.get(), digest_acl(1));
  }
  EXPECT_EQ(AclRef::interned_count(), before);
  AclRef empty;
  EXPECT_TRUE(empty.empty_list());
  EXPECT_TRUE(empty == AclRef(AclList{}));
  AclRef again = digest_acl(1);  // made anew after the old one went
  EXPECT_EQ(again.get(), digest_acl(1));
}

TEST(AclRef, ThreadsInternAndDropTheSameListsAtOnce) {
  size_t before = AclRef::interned_count();
  auto churn = [](int seed) {
    std::vector<AclRef> held;
    for (int round = 0; round < 20000; round++) {
      int i = (round * 7 + seed) % 5;
      AclRef r = digest_acl(i);
      ASSERT_EQ(r.get(), digest_acl(i));
      held.push_back(std::move(r));
      if (held.size() > 3) held.erase(held.begin());  // drop, often the last reference
    }
  };
  std::thread t1(churn, 0);
  std::thread t2(churn, 3);
  t1.join();
  t2.join();
  EXPECT_EQ(AclRef::interned_count(), before);
}

}  // namespace
}  // namespace uk
