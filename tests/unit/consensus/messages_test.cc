#include "ukeeper/consensus/messages.h"

#include <gtest/gtest.h>

#include <random>

namespace uk::zab {
namespace {

Message sample(MsgType type) {
  Message m;
  m.type = type;
  m.epoch = 7;
  m.attempt = 0x1234567;
  m.zxid = make_zxid(7, 3);
  m.commit = make_zxid(7, 2);
  m.token = 99;
  m.round = 5;
  m.state = PeerState::kFollowing;
  m.vote_leader = 3;
  m.vote_zxid = make_zxid(6, 10);
  m.vote_epoch = 6;
  m.observer = true;
  m.accepted_epoch = 8;
  m.current_epoch = 7;
  m.base = make_zxid(5, 1);
  m.epoch_ends = {make_zxid(5, 9), make_zxid(6, 4)};
  m.entries = {Entry{make_zxid(7, 1), "one"}, Entry{make_zxid(7, 2), std::string(1000, 'x')}};
  m.payload = "payload";
  return m;
}

// Every field a kind carries survives the round trip; the others come back at their defaults.
TEST(ZabMessages, RoundTripEveryKind) {
  for (int t = 1; t <= static_cast<int>(MsgType::kApp); t++) {
    auto type = static_cast<MsgType>(t);
    Message m = sample(type);
    std::optional<Message> back = decode(encode(m));
    ASSERT_TRUE(back.has_value()) << to_string(type);
    EXPECT_EQ(back->type, type);
    EXPECT_EQ(back->epoch, m.epoch);
    EXPECT_EQ(back->attempt, type == MsgType::kVote ? 0u : m.attempt) << to_string(type);
    switch (type) {
      case MsgType::kVote:
        EXPECT_EQ(back->round, 5u);
        EXPECT_EQ(back->state, PeerState::kFollowing);
        EXPECT_EQ(back->vote_leader, 3);
        EXPECT_EQ(back->vote_zxid, m.vote_zxid);
        EXPECT_EQ(back->vote_epoch, 6u);
        EXPECT_TRUE(back->observer);
        break;
      case MsgType::kAckEpoch:
        EXPECT_EQ(back->current_epoch, 7u);
        EXPECT_EQ(back->zxid, m.zxid);
        EXPECT_EQ(back->base, m.base);
        EXPECT_EQ(back->epoch_ends, m.epoch_ends);
        EXPECT_TRUE(back->observer);
        break;
      case MsgType::kProposal:
        EXPECT_EQ(back->entries, m.entries);
        EXPECT_EQ(back->commit, m.commit);
        break;
      case MsgType::kSyncSnap:
        EXPECT_EQ(back->zxid, m.zxid);
        EXPECT_EQ(back->payload, "payload");
        break;
      case MsgType::kBarrierDone:
        EXPECT_EQ(back->token, 99u);
        EXPECT_EQ(back->zxid, m.zxid);
        EXPECT_EQ(back->commit, m.commit);
        break;
      default:
        break;
    }
  }
}

TEST(ZabMessages, RejectsMalformed) {
  std::string good = encode(sample(MsgType::kProposal));
  EXPECT_FALSE(decode("").has_value());
  EXPECT_FALSE(decode(good.substr(0, good.size() - 1)).has_value());  // truncated
  EXPECT_FALSE(decode(good + "x").has_value());                      // trailing bytes
  std::string bad_version = good;
  bad_version[0] = 9;
  EXPECT_FALSE(decode(bad_version).has_value());
  std::string bad_type = good;
  bad_type[1] = 77;
  EXPECT_FALSE(decode(bad_type).has_value());
  // An entry count far beyond the bytes present must not allocate or crash.
  Message m = sample(MsgType::kProposal);
  m.entries.clear();
  std::string huge = encode(m);
  huge[huge.size() - 1] = '\x7f';
  EXPECT_FALSE(decode(huge).has_value());
}

TEST(ZabMessages, RandomBytesNeverCrash) {
  std::mt19937_64 rng(42);
  int accepted = 0;
  for (int i = 0; i < 20000; i++) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    if (i % 2 == 0 && s.size() >= 2) {
      s[0] = 1;  // valid version, so the type switch is exercised too
      s[1] = static_cast<char>(1 + rng() % 18);
    }
    accepted += decode(s).has_value() ? 1 : 0;
  }
  EXPECT_LT(accepted, 20000);
}

TEST(ZabMessages, ZxidParts) {
  Zxid z = make_zxid(0x12, 0x345);
  EXPECT_EQ(epoch_of(z), 0x12u);
  EXPECT_EQ(counter_of(z), 0x345u);
  EXPECT_EQ(hex_zxid(z), "1200000345");
}

}  // namespace
}  // namespace uk::zab
