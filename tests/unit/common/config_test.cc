// zoo.cfg parsing: every key, the defaults, each kind of error, and the interplay rules (common/src/config.cc).
#include "ukeeper/common/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

namespace uk {
namespace {

// The smallest valid file; tests append the lines they exercise.
constexpr const char* kBase = "dataDir=/var/lib/zk\nclientPort=2181\n";

ConfigParseResult parse(const std::string& extra) { return parse_config(std::string(kBase) + extra, "zoo.cfg"); }

ServerConfig parse_ok(const std::string& extra) {
  ConfigParseResult r = parse(extra);
  EXPECT_TRUE(r.config.has_value()) << r.error;
  return r.config.value_or(ServerConfig{});
}

ServerConfig parse_ok_quiet(const std::string& extra) {
  ConfigParseResult r = parse(extra);
  EXPECT_TRUE(r.config.has_value()) << r.error;
  EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();
  return r.config.value_or(ServerConfig{});
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

int count_containing(const std::vector<std::string>& v, const std::string& needle) {
  int n = 0;
  for (const std::string& s : v) n += contains(s, needle) ? 1 : 0;
  return n;
}

// An invalid value must fail with one message naming source:line, the key and the value.
void expect_invalid(const std::string& key, const std::string& value, const std::string& expected_fragment = "") {
  ConfigParseResult r = parse(key + "=" + value + "\n");
  ASSERT_FALSE(r.config.has_value()) << key << "=" << value << " was accepted";
  EXPECT_TRUE(contains(r.error, "zoo.cfg:3: ")) << r.error;
  EXPECT_TRUE(contains(r.error, "'" + key + "'")) << r.error;
  EXPECT_TRUE(contains(r.error, "'" + value + "'")) << r.error;
  EXPECT_TRUE(contains(r.error, "expected")) << r.error;
  if (!expected_fragment.empty()) {
    EXPECT_TRUE(contains(r.error, expected_fragment)) << r.error;
  }
}

TEST(ConfigDefaults, MinimalFileGivesDocumentedDefaults) {
  ServerConfig c = parse_ok_quiet("");
  EXPECT_EQ(c.tick_time_ms, 2000);
  EXPECT_EQ(c.data_dir, "/var/lib/zk");
  EXPECT_EQ(c.data_log_dir, "");
  EXPECT_EQ(c.client_port, 2181);
  EXPECT_EQ(c.client_port_address, "0.0.0.0");
  EXPECT_EQ(c.secure_client_port, 0);
  EXPECT_EQ(c.init_limit, 10);
  EXPECT_EQ(c.sync_limit, 5);
  EXPECT_EQ(c.max_client_cnxns, 60);
  EXPECT_EQ(c.min_session_timeout_ms, 4000);
  EXPECT_EQ(c.max_session_timeout_ms, 40000);
  EXPECT_EQ(c.four_letter_whitelist, std::set<std::string>{"srvr"});
  EXPECT_TRUE(c.four_letter_allowed("srvr"));
  EXPECT_FALSE(c.four_letter_allowed("ruok"));
  EXPECT_EQ(c.jute_max_buffer, 1048575);
  EXPECT_FALSE(c.extended_types_enabled);
  EXPECT_EQ(c.super_digest, "");
  EXPECT_EQ(c.autopurge_snap_retain_count, 3);
  EXPECT_EQ(c.autopurge_purge_interval_hours, 0);
  EXPECT_EQ(c.snap_count, 100000);
  EXPECT_EQ(c.prealloc_size_kb, 65536);
  EXPECT_EQ(c.durability, Durability::kFsync);
  EXPECT_TRUE(c.standalone_enabled);
  EXPECT_FALSE(c.reconfig_enabled);
  EXPECT_FALSE(c.local_sessions_enabled);
  EXPECT_FALSE(c.local_sessions_upgrading_enabled);
  EXPECT_EQ(c.global_outstanding_limit, 1000);
  EXPECT_TRUE(c.servers.empty());
  EXPECT_FALSE(c.quorum_listen_on_all_ips);
  EXPECT_TRUE(c.sync_enabled);
  EXPECT_FALSE(c.peer_type_observer);
  EXPECT_FALSE(c.skip_acl);
  EXPECT_FALSE(c.audit_enabled);
  EXPECT_TRUE(c.leader_serves);
  EXPECT_EQ(c.max_cnxns, 0);
  EXPECT_EQ(c.connect_to_learner_master_limit, 0);
  EXPECT_EQ(c.client_port_listen_backlog, -1);
  EXPECT_EQ(c.cnx_timeout_ms, 5000);
  EXPECT_EQ(c.fsync_warning_threshold_ms, 1000);
}

TEST(ConfigDefaults, SessionTimeoutsFollowTickTime) {
  ServerConfig c = parse_ok("tickTime=500\n");
  EXPECT_EQ(c.min_session_timeout_ms, 1000);
  EXPECT_EQ(c.max_session_timeout_ms, 10000);
  c = parse_ok("tickTime=500\nminSessionTimeout=-1\nmaxSessionTimeout=-1\n");
  EXPECT_EQ(c.min_session_timeout_ms, 1000);
  EXPECT_EQ(c.max_session_timeout_ms, 10000);
}

TEST(ConfigKeys, EveryKeyParses) {
  ServerConfig c = parse_ok(
      "tickTime=1000\n"
      "dataLogDir=/fast/zk-log\n"
      "clientPortAddress=127.0.0.1\n"
      "initLimit=20\n"
      "syncLimit=7\n"
      "maxClientCnxns=0\n"
      "minSessionTimeout=3000\n"
      "maxSessionTimeout=90000\n"
      "4lw.commands.whitelist=ruok, mntr\n"
      "jute.maxbuffer=4194304\n"
      "extendedTypesEnabled=true\n"
      "superDigest=super:xQJmxLMiHGwaqBvst5y6rkB6HQs=\n"
      "autopurge.snapRetainCount=5\n"
      "autopurge.purgeInterval=24\n"
      "snapCount=50000\n"
      "preAllocSize=16384\n"
      "walMaxBatchesInFlight=2\n"
      "durability=async\n"
      "standaloneEnabled=false\n"
      "reconfigEnabled=TRUE\n"
      "localSessionsEnabled=true\n"
      "localSessionsUpgradingEnabled=true\n"
      "globalOutstandingLimit=2000\n"
      "electionAlg=3\n"
      "quorumListenOnAllIPs=true\n"
      "syncEnabled=false\n"
      "peerType=observer\n"
      "leaderServes=no\n"
      "audit.enable=true\n"
      "maxCnxns=500\n"
      "connectToLearnerMasterLimit=15\n"
      "clientPortListenBacklog=128\n"
      "observerMasterPort=2191\n"
      "cnxTimeout=7000\n"
      "fsync.warningthresholdms=250\n"
      "snapshot.trust.empty=true\n"
      "tcpKeepAlive=true\n"
      "clientTcpKeepAlive=true\n"
      "server.1=zk1:2888:3888\n"
      "server.2=zk2:2888:3888\n");
  EXPECT_EQ(c.tick_time_ms, 1000);
  EXPECT_EQ(c.data_log_dir, "/fast/zk-log");
  EXPECT_EQ(c.client_port_address, "127.0.0.1");
  EXPECT_EQ(c.init_limit, 20);
  EXPECT_EQ(c.sync_limit, 7);
  EXPECT_EQ(c.max_client_cnxns, 0);
  EXPECT_EQ(c.min_session_timeout_ms, 3000);
  EXPECT_EQ(c.max_session_timeout_ms, 90000);
  EXPECT_EQ(c.four_letter_whitelist, (std::set<std::string>{"ruok", "mntr"}));
  EXPECT_EQ(c.jute_max_buffer, 4194304);
  EXPECT_TRUE(c.extended_types_enabled);
  EXPECT_EQ(c.super_digest, "super:xQJmxLMiHGwaqBvst5y6rkB6HQs=");
  EXPECT_EQ(c.autopurge_snap_retain_count, 5);
  EXPECT_EQ(c.autopurge_purge_interval_hours, 24);
  EXPECT_EQ(c.snap_count, 50000);
  EXPECT_EQ(c.prealloc_size_kb, 16384);
  EXPECT_EQ(c.wal_max_batches_in_flight, 2);
  EXPECT_EQ(c.durability, Durability::kAsync);
  EXPECT_FALSE(c.standalone_enabled);
  EXPECT_TRUE(c.reconfig_enabled);
  EXPECT_TRUE(c.local_sessions_enabled);
  EXPECT_TRUE(c.local_sessions_upgrading_enabled);
  EXPECT_EQ(c.global_outstanding_limit, 2000);
  EXPECT_TRUE(c.quorum_listen_on_all_ips);
  EXPECT_FALSE(c.sync_enabled);
  EXPECT_TRUE(c.peer_type_observer);
  EXPECT_FALSE(c.leader_serves);
  EXPECT_TRUE(c.audit_enabled);
  EXPECT_EQ(c.max_cnxns, 500);
  EXPECT_EQ(c.connect_to_learner_master_limit, 15);
  EXPECT_EQ(c.client_port_listen_backlog, 128);
  EXPECT_EQ(c.observer_master_port, 2191);
  EXPECT_EQ(c.cnx_timeout_ms, 7000);
  EXPECT_EQ(c.fsync_warning_threshold_ms, 250);
  EXPECT_TRUE(c.snapshot_trust_empty);
  EXPECT_TRUE(c.tcp_keep_alive);
  EXPECT_TRUE(c.client_tcp_keep_alive);
  EXPECT_EQ(c.servers.size(), 2u);
}

TEST(ConfigKeys, EveryStoredKeyParsesWithoutWarnings) {
  parse_ok_quiet(
      "tickTime=1000\ndataLogDir=/l\nclientPortAddress=::1\ninitLimit=5\nsyncLimit=2\nmaxClientCnxns=10\n"
      "minSessionTimeout=2000\nmaxSessionTimeout=20000\n4lw.commands.whitelist=*\njute.maxbuffer=0xfffff\n"
      "zookeeper.extendedTypesEnabled=false\nautopurge.snapRetainCount=3\nautopurge.purgeInterval=0\n"
      "snapCount=2\npreAllocSize=1\nforceSync=yes\ndurability=fsync\nstandaloneEnabled=true\n"
      "reconfigEnabled=false\nlocalSessionsEnabled=false\nlocalSessionsUpgradingEnabled=false\n"
      "globalOutstandingLimit=1\nelectionAlg=3\nquorumListenOnAllIPs=false\nsyncEnabled=true\n"
      "peerType=participant\nskipACL=no\nleaderServes=yes\naudit.enable=false\nmaxCnxns=0\n"
      "connectToLearnerMasterLimit=0\nclientPortListenBacklog=-1\nobserverMasterPort=65535\ncnxTimeout=1\n"
      "fsync.warningthresholdms=0\nsnapshot.trust.empty=false\ntcpKeepAlive=false\nclientTcpKeepAlive=false\n"
      "admin.enableServer=false\n");
}

TEST(ConfigKeys, AliasesForExtendedTypesAndSuperDigest) {
  EXPECT_TRUE(parse_ok_quiet("zookeeper.extendedTypesEnabled=true\n").extended_types_enabled);
  const std::string digest = "admin:xQJmxLMiHGwaqBvst5y6rkB6HQs=";
  EXPECT_EQ(parse_ok_quiet("DigestAuthenticationProvider.superDigest=" + digest + "\n").super_digest, digest);
  EXPECT_EQ(parse_ok_quiet("zookeeper.DigestAuthenticationProvider.superDigest=" + digest + "\n").super_digest, digest);
}

TEST(ConfigKeys, JuteMaxBufferAcceptsHexAndUpToOneGiB) {
  EXPECT_EQ(parse_ok_quiet("jute.maxbuffer=0xfffff\n").jute_max_buffer, 0xfffff);
  EXPECT_EQ(parse_ok_quiet("jute.maxbuffer=1073741824\n").jute_max_buffer, 1073741824);
  expect_invalid("jute.maxbuffer", "1073741825", "1 GiB");
  expect_invalid("jute.maxbuffer", "0");
  expect_invalid("jute.maxbuffer", "-5");
  expect_invalid("jute.maxbuffer", "0x");
  expect_invalid("jute.maxbuffer", "1MB");
}

TEST(ConfigKeys, RelativeDataDirIsKeptAsGiven) {
  ConfigParseResult r = parse_config("dataDir=./data\nclientPort=2181\n", "zoo.cfg");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->data_dir, "./data");
}

TEST(ConfigKeys, SkipAclYesWarns) {
  ConfigParseResult r = parse("skipACL=yes\n");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_TRUE(r.config->skip_acl);
  EXPECT_EQ(count_containing(r.warnings, "skipACL"), 1);
}

TEST(ConfigKeys, SnapRetainCountBelowThreeWarnsAndUsesThree) {
  ConfigParseResult r = parse("autopurge.snapRetainCount=1\n");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->autopurge_snap_retain_count, 3);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_TRUE(contains(r.warnings[0], "zoo.cfg:3:")) << r.warnings[0];
  EXPECT_TRUE(contains(r.warnings[0], "snapRetainCount")) << r.warnings[0];
}

TEST(ConfigKeys, SnapCountBelowTwoWarnsAndUsesTwo) {
  ConfigParseResult r = parse("snapCount=0\n");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->snap_count, 2);
  EXPECT_EQ(r.warnings.size(), 1u);
}

// --- Properties syntax ---

TEST(ConfigSyntax, SeparatorsCommentsBlanksAndWhitespace) {
  ConfigParseResult r = parse_config(
      "# a comment\n"
      "! another comment\n"
      "\n"
      "   \t\n"
      "  dataDir = /d  \n"
      "clientPort: 2181\n"
      "tickTime 1500\n"
      "initLimit   =   12\t\n"
      "syncLimit=3\r\n"
      "maxClientCnxns:=4\n",  // ':' is the separator, so the value is "=4": invalid, proved below
      "zoo.cfg");
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(contains(r.error, "zoo.cfg:10:")) << r.error;
  EXPECT_TRUE(contains(r.error, "'=4'")) << r.error;

  r = parse_config("  dataDir = /d  \nclientPort: 2181\ntickTime 1500\ninitLimit   =   12\t\nsyncLimit=3\r\n", "z");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.config->data_dir, "/d");
  EXPECT_EQ(r.config->client_port, 2181);
  EXPECT_EQ(r.config->tick_time_ms, 1500);
  EXPECT_EQ(r.config->init_limit, 12);
  EXPECT_EQ(r.config->sync_limit, 3);
}

TEST(ConfigSyntax, ContinuationLinesAndEscapes) {
  ConfigParseResult r = parse_config(
      "dataDir=C:\\\\zk\\\\data\n"
      "clientPort=21\\\n"
      "           81\n"
      "4lw.commands.whitelist=ruok,\\\n"
      "    srvr\n"
      "# comment ending in backslash does not continue \\\n"
      "tickTime=\\u0031000\n",
      "zoo.cfg");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->data_dir, "C:\\zk\\data");
  EXPECT_EQ(r.config->client_port, 2181);
  EXPECT_EQ(r.config->four_letter_whitelist, (std::set<std::string>{"ruok", "srvr"}));
  EXPECT_EQ(r.config->tick_time_ms, 1000);
}

TEST(ConfigSyntax, ErrorLineNumberIsTheFirstLineOfAContinuedEntry) {
  ConfigParseResult r = parse_config("dataDir=/d\n\nclientPort=ab\\\n  c\n", "zoo.cfg");
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(contains(r.error, "zoo.cfg:3:")) << r.error;
  EXPECT_TRUE(contains(r.error, "'abc'")) << r.error;
}

TEST(ConfigSyntax, MalformedUnicodeEscapeIsAnError) {
  ConfigParseResult r = parse("tickTime=\\u12\n");
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(contains(r.error, "zoo.cfg:3:")) << r.error;
}

TEST(ConfigSyntax, DuplicateKeyLastWinsWithOneWarning) {
  ConfigParseResult r = parse("tickTime=1000\ntickTime=3000\n");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->tick_time_ms, 3000);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_TRUE(contains(r.warnings[0], "zoo.cfg:4:")) << r.warnings[0];
  EXPECT_TRUE(contains(r.warnings[0], "tickTime")) << r.warnings[0];
  EXPECT_TRUE(contains(r.warnings[0], "line 3")) << r.warnings[0];
}

TEST(ConfigSyntax, OverriddenDuplicateIsNotValidated) {
  // As in ZooKeeper, where java.util.Properties keeps only the last value.
  ConfigParseResult r = parse("tickTime=abc\ntickTime=3000\n");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->tick_time_ms, 3000);
}

TEST(ConfigSyntax, AliasesCountAsDuplicates) {
  ConfigParseResult r = parse("extendedTypesEnabled=true\nzookeeper.extendedTypesEnabled=false\n");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_FALSE(r.config->extended_types_enabled);
  EXPECT_EQ(r.warnings.size(), 1u);
}

TEST(ConfigSyntax, UnknownKeyGivesExactlyOneWarningAndParsingContinues) {
  ConfigParseResult r = parse("fooBar=1\ntickTime=1234\n");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->tick_time_ms, 1234);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_TRUE(contains(r.warnings[0], "zoo.cfg:3:")) << r.warnings[0];
  EXPECT_TRUE(contains(r.warnings[0], "'fooBar'")) << r.warnings[0];
}

TEST(ConfigSyntax, UnknownKeySuggestsTheRightSpelling) {
  ConfigParseResult r = parse("ticktime=1000\nzookeeper.snapCount=10\n");
  ASSERT_TRUE(r.config) << r.error;
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_TRUE(contains(r.warnings[0], "did you mean 'tickTime'")) << r.warnings[0];
  EXPECT_TRUE(contains(r.warnings[1], "did you mean 'snapCount'")) << r.warnings[1];
  EXPECT_EQ(r.config->tick_time_ms, 2000);
}

// --- invalid values ---

TEST(ConfigErrors, NotANumber) {
  expect_invalid("clientPort", "abc", "an integer from 1 to 65535");
  expect_invalid("tickTime", "2s");
  expect_invalid("tickTime", "");
  expect_invalid("initLimit", "1.5");
  expect_invalid("syncLimit", "five");
  expect_invalid("snapCount", "1e5");
  expect_invalid("preAllocSize", "64M");
  expect_invalid("autopurge.purgeInterval", "daily");
  expect_invalid("maxCnxns", "99999999999999999999999");
}

TEST(ConfigErrors, ExactMessageFormat) {
  ConfigParseResult r = parse_config("dataDir=/d\n\n\n\n\n\nclientPort=abc\n", "zoo.cfg");
  ASSERT_FALSE(r.config);
  EXPECT_EQ(r.error, "zoo.cfg:7: invalid value 'abc' for key 'clientPort': expected an integer from 1 to 65535");
}

TEST(ConfigErrors, OutOfRange) {
  expect_invalid("clientPort", "0");
  expect_invalid("clientPort", "65536");
  expect_invalid("secureClientPort", "70000");
  expect_invalid("tickTime", "0");
  expect_invalid("tickTime", "-1");
  expect_invalid("tickTime", "2147483648");
  expect_invalid("initLimit", "0");
  expect_invalid("syncLimit", "-3");
  expect_invalid("maxClientCnxns", "-1");
  expect_invalid("minSessionTimeout", "0");
  expect_invalid("maxSessionTimeout", "-2");
  expect_invalid("autopurge.purgeInterval", "-1");
  expect_invalid("preAllocSize", "0");
  expect_invalid("walMaxBatchesInFlight", "0");
  expect_invalid("walMaxBatchesInFlight", "5");
  expect_invalid("globalOutstandingLimit", "0");
  expect_invalid("observerMasterPort", "0");
  expect_invalid("clientPortListenBacklog", "-2");
  expect_invalid("electionAlg", "0", "3");
  expect_invalid("electionAlg", "1");
}

TEST(ConfigErrors, BadBoolean) {
  for (const char* key : {"standaloneEnabled", "reconfigEnabled", "localSessionsEnabled",
                          "localSessionsUpgradingEnabled", "extendedTypesEnabled", "quorumListenOnAllIPs",
                          "syncEnabled", "audit.enable", "snapshot.trust.empty"}) {
    expect_invalid(key, "yes", "true or false");
  }
  expect_invalid("forceSync", "maybe", "yes or no");
  expect_invalid("skipACL", "1");
  expect_invalid("leaderServes", "y");
}

TEST(ConfigErrors, BadEnumsAndStrings) {
  expect_invalid("durability", "sometimes", "fsync, async or none");
  expect_invalid("peerType", "witness", "participant or observer");
  expect_invalid("dataDir", "");
  expect_invalid("clientPortAddress", "");
}

TEST(ConfigErrors, BadSuperDigest) {
  expect_invalid("superDigest", "super", "user:base64");
  expect_invalid("superDigest", ":xQJmxLMiHGwaqBvst5y6rkB6HQs=");
  expect_invalid("superDigest", "super:password");
  expect_invalid("superDigest", "super:xQJmxLMiHGwaqBvst5y6rkB6HQs");
  expect_invalid("DigestAuthenticationProvider.superDigest", "super:xQJmxLMiHGwaqB!st5y6rkB6HQs=");
}

TEST(ConfigErrors, OnlyTheFirstErrorIsReported) {
  ConfigParseResult r = parse("tickTime=x\nclientPort=y\n");
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(contains(r.error, "tickTime")) << r.error;
  EXPECT_FALSE(contains(r.error, "clientPort")) << r.error;
}

TEST(ConfigErrors, DataDirIsRequired) {
  ConfigParseResult r = parse_config("clientPort=2181\n", "my.cfg");
  ASSERT_FALSE(r.config);
  EXPECT_EQ(r.error, "my.cfg: dataDir is not set");
}

TEST(ConfigErrors, ClientPortIsRequiredUnlessServersGiveOne) {
  ConfigParseResult r = parse_config("dataDir=/d\n", "my.cfg");
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(contains(r.error, "my.cfg: clientPort is not set")) << r.error;

  r = parse_config("dataDir=/d\nserver.1=a:2888:3888\nserver.2=b:2888:3888\n", "my.cfg");
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(contains(r.error, "clientPort is not set")) << r.error;

  r = parse_config("dataDir=/d\nserver.1=a:2888:3888;2181\nserver.2=b:2888:3888;2181\n", "my.cfg");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->client_port, 0);  // taken from this server's line once myid is known

  r = parse_config("dataDir=/d\nclientPortAddress=127.0.0.1\nserver.1=a:2888:3888;2181\n", "my.cfg");
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(contains(r.error, "my.cfg:2: clientPortAddress is set but clientPort is not set")) << r.error;
}

TEST(ConfigErrors, MinSessionTimeoutAboveMaxNamesBothKeys) {
  ConfigParseResult r = parse("minSessionTimeout=50000\nmaxSessionTimeout=40000\n");
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(contains(r.error, "zoo.cfg:")) << r.error;
  EXPECT_TRUE(contains(r.error, "minSessionTimeout (50000 on line 3)")) << r.error;
  EXPECT_TRUE(contains(r.error, "maxSessionTimeout (40000 on line 4)")) << r.error;

  // max derived from tickTime (20 x 2000 = 40000).
  r = parse("minSessionTimeout=50000\n");
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(contains(r.error, "maxSessionTimeout (40000 by default, 20 x tickTime)")) << r.error;
}

TEST(ConfigErrors, LoadConfigFileNamesPathAndReason) {
  ConfigParseResult r = load_config_file("/nonexistent/dir/zoo.cfg");
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(contains(r.error, "/nonexistent/dir/zoo.cfg")) << r.error;
  EXPECT_TRUE(contains(r.error, "No such file or directory")) << r.error;
}

TEST(ConfigErrors, LoadConfigFileUsesPathAsSource) {
  std::string path = ::testing::TempDir() + "ukeeper_config_test_" + std::to_string(::getpid()) + ".cfg";
  {
    std::ofstream out(path);
    out << "dataDir=/d\nclientPort=nope\n";
  }
  ConfigParseResult r = load_config_file(path);
  std::remove(path.c_str());
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(contains(r.error, path + ":2: invalid value 'nope' for key 'clientPort'")) << r.error;
}

// --- server.N ---

TEST(ConfigServers, ParticipantObserverAndClientPortForms) {
  ServerConfig c = parse_ok_quiet(
      "server.1=zk1.example.com:2888:3888\n"
      "server.2=zk2:2889:3889:participant\n"
      "server.3=zk3:2888:3888:observer\n"
      "server.4=zk4:2888:3888;2181\n"
      "server.5=zk5:2888:3888:observer;10.0.0.5:2182\n"
      "server.6=[fe80::1]:2888:3888;[::1]:2183\n"
      "server.9223372036854775807=10.0.0.7:2888:3888:OBSERVER ; 0.0.0.0:2184\n");
  ASSERT_EQ(c.servers.size(), 7u);
  const ServerSpec& s1 = c.servers.at(1);
  EXPECT_EQ(s1.id, 1);
  EXPECT_EQ(s1.host, "zk1.example.com");
  EXPECT_EQ(s1.quorum_port, 2888);
  EXPECT_EQ(s1.election_port, 3888);
  EXPECT_FALSE(s1.observer);
  EXPECT_EQ(s1.client_address, "");
  EXPECT_EQ(s1.client_port, 0);

  EXPECT_FALSE(c.servers.at(2).observer);
  EXPECT_EQ(c.servers.at(2).quorum_port, 2889);
  EXPECT_TRUE(c.servers.at(3).observer);

  EXPECT_EQ(c.servers.at(4).client_address, "");
  EXPECT_EQ(c.servers.at(4).client_port, 2181);

  EXPECT_TRUE(c.servers.at(5).observer);
  EXPECT_EQ(c.servers.at(5).client_address, "10.0.0.5");
  EXPECT_EQ(c.servers.at(5).client_port, 2182);

  EXPECT_EQ(c.servers.at(6).host, "fe80::1");
  EXPECT_EQ(c.servers.at(6).client_address, "::1");
  EXPECT_EQ(c.servers.at(6).client_port, 2183);

  const ServerSpec& big = c.servers.at(INT64_MAX);
  EXPECT_EQ(big.id, INT64_MAX);
  EXPECT_TRUE(big.observer);
  EXPECT_EQ(big.client_address, "0.0.0.0");
  EXPECT_EQ(big.client_port, 2184);
}

TEST(ConfigServers, BadServerLines) {
  expect_invalid("server.1", "zk1", "election port is missing");
  expect_invalid("server.1", "zk1:2888", "election port is missing");
  expect_invalid("server.1", "zk1:2888:3888:leader", "neither participant nor observer");
  expect_invalid("server.1", "zk1:2888:3888:observer:x", "too many");
  expect_invalid("server.1", "zk1:0:3888", "quorum port");
  expect_invalid("server.1", "zk1:2888:65536", "election port");
  expect_invalid("server.1", "zk1:abc:3888", "quorum port");
  expect_invalid("server.1", ":2888:3888", "host");
  expect_invalid("server.1", "zk1:2888:2888", "must differ");
  expect_invalid("server.1", "zk1:2888:3888;", "client port");
  expect_invalid("server.1", "zk1:2888:3888;x", "client port");
  expect_invalid("server.1", "zk1:2888:3888;1.2.3.4:2181:9", "client part");
  expect_invalid("server.1", "zk1:2888:3888;2181;2182", "more than one");
  expect_invalid("server.1", "zk1:2888:3888;2888", "client port must differ");
  expect_invalid("server.1", "[::1:2888:3888", "malformed");
  expect_invalid("server.0", "zk1:2888:3888", "server.N");
  expect_invalid("server.-1", "zk1:2888:3888", "server.N");
  expect_invalid("server.x", "zk1:2888:3888", "server.N");
  expect_invalid("server.9223372036854775808", "zk1:2888:3888", "server.N");
  // The message shows the whole expected form.
  expect_invalid("server.2", "zk1", "host:quorumPort:electionPort[:participant|:observer][;[clientAddress:]clientPort]");
}

TEST(ConfigServers, DuplicateIdsFoldEvenWithLeadingZeros) {
  ConfigParseResult r = parse("server.1=a:2888:3888\nserver.01=b:2888:3888\n");
  ASSERT_TRUE(r.config) << r.error;
  ASSERT_EQ(r.config->servers.size(), 1u);
  EXPECT_EQ(r.config->servers.at(1).host, "b");
  EXPECT_EQ(r.warnings.size(), 1u);
}

TEST(ConfigServers, OnlyObserversIsAnError) {
  ConfigParseResult r = parse("server.1=a:2888:3888:observer\n");
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(contains(r.error, "observer")) << r.error;
}

TEST(ConfigServers, MultipleAddressesUseTheFirstWithOneWarning) {
  ConfigParseResult r = parse("server.1=a:2888:3888|a2:2889:3889\nserver.2=b:2888:3888|b2:2888:3888\n");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->servers.at(1).host, "a");
  EXPECT_EQ(r.config->servers.at(2).host, "b");
  EXPECT_EQ(r.warnings.size(), 1u);
}

TEST(ConfigServers, HierarchicalQuorumKeysWarnOnce) {
  ConfigParseResult r = parse(
      "server.1=a:2888:3888\nserver.2=b:2888:3888\ngroup.1=1:2\nweight.1=1\nweight.2=1\n");
  ASSERT_TRUE(r.config) << r.error;
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_TRUE(contains(r.warnings[0], "hierarchical")) << r.warnings[0];
}

// --- 4lw.commands.whitelist ---

TEST(ConfigWhitelist, ListsStarAndEmpty) {
  ServerConfig c = parse_ok_quiet("4lw.commands.whitelist= stat ,ruok,, conf \n");
  EXPECT_EQ(c.four_letter_whitelist, (std::set<std::string>{"stat", "ruok", "conf"}));
  EXPECT_TRUE(c.four_letter_allowed("ruok"));
  EXPECT_FALSE(c.four_letter_allowed("srvr"));  // the default is replaced, not extended

  c = parse_ok_quiet("4lw.commands.whitelist=*\n");
  for (const char* w : {"ruok", "srvr", "stat", "mntr", "conf", "cons", "wchs", "wchc", "wchp", "dump", "envi",
                        "isro", "dirs", "crst", "srst"}) {
    EXPECT_TRUE(c.four_letter_allowed(w)) << w;
  }

  c = parse_ok_quiet("4lw.commands.whitelist=ruok, *\n");
  EXPECT_TRUE(c.four_letter_allowed("dump"));

  c = parse_ok_quiet("4lw.commands.whitelist=\n");
  EXPECT_TRUE(c.four_letter_whitelist.empty());
  EXPECT_FALSE(c.four_letter_allowed("srvr"));

  c = parse_ok_quiet(
      "4lw.commands.whitelist=ruok,srvr,stat,mntr,conf,cons,wchs,wchc,wchp,dump,envi,isro,dirs,crst,srst\n");
  EXPECT_EQ(c.four_letter_whitelist.size(), 15u);
}

TEST(ConfigWhitelist, UnknownWordIsAnError) {
  expect_invalid("4lw.commands.whitelist", "ruok, oops", "'oops' is not one");
  expect_invalid("4lw.commands.whitelist", "RUOK");
}

TEST(ConfigWhitelist, ZooKeeperOnlyWordsAreAcceptedWithOneWarning) {
  ConfigParseResult r = parse("4lw.commands.whitelist=ruok,gtmk,stmk,hash\n");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.warnings.size(), 1u);
  EXPECT_TRUE(r.config->four_letter_allowed("ruok"));
}

// --- forceSync and durability ---

TEST(ConfigDurability, ForceSyncAlone) {
  EXPECT_EQ(parse_ok_quiet("forceSync=no\n").durability, Durability::kAsync);
  EXPECT_EQ(parse_ok_quiet("forceSync=NO\n").durability, Durability::kAsync);
  EXPECT_EQ(parse_ok_quiet("forceSync=false\n").durability, Durability::kAsync);
  EXPECT_EQ(parse_ok_quiet("forceSync=yes\n").durability, Durability::kFsync);
  EXPECT_EQ(parse_ok_quiet("forceSync=true\n").durability, Durability::kFsync);
}

TEST(ConfigDurability, DurabilityAlone) {
  EXPECT_EQ(parse_ok_quiet("durability=fsync\n").durability, Durability::kFsync);
  EXPECT_EQ(parse_ok_quiet("durability=async\n").durability, Durability::kAsync);
  EXPECT_EQ(parse_ok_quiet("durability=ASYNC\n").durability, Durability::kAsync);
}

TEST(ConfigDurability, NoneWarnsLoudly) {
  ConfigParseResult r = parse("durability=none\n");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->durability, Durability::kNone);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_TRUE(contains(r.warnings[0], "acknowledged writes")) << r.warnings[0];
}

TEST(ConfigDurability, ExplicitDurabilityWinsOverForceSyncWithAWarning) {
  // Either order in the file.
  for (const std::string& text : {std::string("forceSync=no\ndurability=fsync\n"),
                                  std::string("durability=fsync\nforceSync=no\n")}) {
    ConfigParseResult r = parse(text);
    ASSERT_TRUE(r.config) << r.error;
    EXPECT_EQ(r.config->durability, Durability::kFsync);
    ASSERT_EQ(r.warnings.size(), 1u) << text;
    EXPECT_TRUE(contains(r.warnings[0], "forceSync=no is overridden by the durability key")) << r.warnings[0];
  }
  ConfigParseResult r = parse("forceSync=yes\ndurability=async\n");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->durability, Durability::kAsync);
  EXPECT_EQ(r.warnings.size(), 1u);
}

TEST(ConfigDurability, AgreeingForceSyncAndDurabilityDoNotWarn) {
  EXPECT_EQ(parse_ok_quiet("forceSync=no\ndurability=async\n").durability, Durability::kAsync);
  EXPECT_EQ(parse_ok_quiet("forceSync=yes\ndurability=fsync\n").durability, Durability::kFsync);
}

// --- accepted-but-unsupported families ---

TEST(ConfigFamilies, EachFamilyWarnsOnce) {
  struct Case {
    std::string text;
    std::string fragment;
  };
  const Case cases[] = {
      {"admin.enableServer=true\nadmin.serverPort=8080\nadmin.serverAddress=0.0.0.0\n", "AdminServer"},
      {"ssl.keyStore.location=/k\nssl.keyStore.password=p\nsecureClientPort=2281\nsecureClientPortAddress=0.0.0.0\n"
       "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\nsslQuorum=true\n",
       "TLS"},
      {"metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n"
       "metricsProvider.httpPort=7000\n",
       "metrics"},
      {"authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\nrequireClientAuthScheme=sasl\n"
       "quorum.auth.enableSasl=true\n",
       "SASL"},
  };
  for (const Case& c : cases) {
    ConfigParseResult r = parse(c.text);
    ASSERT_TRUE(r.config) << r.error;
    ASSERT_EQ(r.warnings.size(), 1u) << c.text;
    EXPECT_TRUE(contains(r.warnings[0], c.fragment)) << r.warnings[0];
    EXPECT_TRUE(contains(r.warnings[0], "zoo.cfg:3:")) << r.warnings[0];
  }
}

TEST(ConfigFamilies, SecureClientPortIsStillValidated) {
  EXPECT_EQ(parse("secureClientPort=2281\n").config.value_or(ServerConfig{}).secure_client_port, 2281);
  expect_invalid("secureClientPort", "tls");
}

TEST(ConfigFamilies, AdminServerDisabledIsSilent) {
  parse_ok_quiet("admin.enableServer=false\n");
}

TEST(ConfigFamilies, DynamicConfigFileAndTuningKeysWarnEach) {
  ConfigParseResult r = parse("dynamicConfigFile=/etc/zk/zoo.cfg.dynamic\ndigest.enabled=true\nnio.numWorkerThreads=8\n");
  ASSERT_TRUE(r.config) << r.error;
  ASSERT_EQ(r.warnings.size(), 3u);
  EXPECT_TRUE(contains(r.warnings[0], "dynamicConfigFile is not supported")) << r.warnings[0];
}

// --- the shipped example ---

TEST(Config, TransportKey) {
  for (auto [text, want] : {std::pair{"auto", PeerTransport::kAuto}, {"TCP", PeerTransport::kTcp},
                            {"rdma", PeerTransport::kRdma}, {"Dpdk", PeerTransport::kDpdk}}) {
    ConfigParseResult r = parse_config(std::string("dataDir=/tmp/x\nclientPort=2181\ntransport=") + text + "\n", "t.cfg");
    ASSERT_TRUE(r.config) << r.error;
    EXPECT_EQ(r.config->transport, want) << text;
  }
  ConfigParseResult bad = parse_config("dataDir=/tmp/x\nclientPort=2181\ntransport=infiniband\n", "t.cfg");
  ASSERT_FALSE(bad.config);
  EXPECT_NE(bad.error.find("t.cfg:3"), std::string::npos) << bad.error;
  EXPECT_NE(bad.error.find("transport"), std::string::npos) << bad.error;
  EXPECT_NE(bad.error.find("auto, tcp, rdma or dpdk"), std::string::npos) << bad.error;
  ConfigParseResult def = parse_config("dataDir=/tmp/x\nclientPort=2181\n", "t.cfg");
  ASSERT_TRUE(def.config);
  EXPECT_EQ(def.config->transport, PeerTransport::kAuto);
}

TEST(Config, RdmaAndDpdkKeys) {
  ConfigParseResult r = parse_config(
      "dataDir=/tmp/x\nclientPort=2181\nrdma.device=mlx5_0\nrdma.gidIndex=3\nrdma.ringBytes=4194304\n"
      "rdma.spinUs=-1\ndpdk.vdev=net_af_packet0,iface=uk1\ndpdk.hugepages=false\ndpdk.mtu=9000\n"
      "dpdk.server.1=02:00:00:00:0d:01,10.213.0.1:7400\ndpdk.server.2=3C:FD:FE:00:00:02,10.0.0.2:7401\n",
      "t.cfg");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_TRUE(r.warnings.empty());
  const ServerConfig& c = *r.config;
  EXPECT_EQ(c.rdma.device, "mlx5_0");
  EXPECT_EQ(c.rdma.gid_index, 3);
  EXPECT_EQ(c.rdma.ring_bytes, 4194304);
  EXPECT_EQ(c.rdma.spin_us, -1);
  EXPECT_EQ(c.dpdk.vdev, "net_af_packet0,iface=uk1");
  EXPECT_TRUE(c.dpdk.configured());
  EXPECT_FALSE(c.dpdk.hugepages);
  EXPECT_EQ(c.dpdk.mtu, 9000);
  ASSERT_EQ(c.dpdk.servers.size(), 2u);
  EXPECT_EQ(c.dpdk.servers.at(1).mac, "02:00:00:00:0d:01");
  EXPECT_EQ(c.dpdk.servers.at(1).ip, "10.213.0.1");
  EXPECT_EQ(c.dpdk.servers.at(2).udp_port, 7401);

  // Bad values name the file, the line, the key and the expected form.
  const std::pair<const char*, const char*> bad[] = {
      {"dpdk.server.1=02:00:00:00:0d,10.0.0.1:7400", "MAC"},
      {"dpdk.server.1=02:00:00:00:0d:01,10.0.0.256:7400", "IPv4"},
      {"dpdk.server.1=02:00:00:00:0d:01,10.0.0.1:0", "UDP port"},
      {"dpdk.server.1=02:00:00:00:0d:01 10.0.0.1", "<mac>,<ipv4>:<udpPort>"},
      {"dpdk.server.x=02:00:00:00:0d:01,10.0.0.1:7400", "dpdk.server.N"},
      {"rdma.ringBytes=1000", "65536"},
      {"dpdk.hugepages=maybe", "dpdk.hugepages"},
  };
  for (const auto& [line, want] : bad) {
    ConfigParseResult b = parse_config(std::string("dataDir=/tmp/x\nclientPort=2181\n") + line + "\n", "t.cfg");
    ASSERT_FALSE(b.config) << line;
    EXPECT_NE(b.error.find("t.cfg:3"), std::string::npos) << b.error;
    EXPECT_NE(b.error.find(want), std::string::npos) << b.error;
  }
}

TEST(ConfigExamples, LaptopConfigParsesWithoutWarnings) {
  ConfigParseResult r = load_config_file(UK_SOURCE_DIR "/configs/laptop.cfg");
  ASSERT_TRUE(r.config) << r.error;
  for (const std::string& w : r.warnings) ADD_FAILURE() << "warning: " << w;
  const ServerConfig& c = *r.config;
  EXPECT_EQ(c.client_port, 2181);
  EXPECT_EQ(c.client_port_address, "127.0.0.1");
  EXPECT_EQ(c.data_dir, "./data");
  EXPECT_EQ(c.tick_time_ms, 2000);
  EXPECT_TRUE(c.four_letter_allowed("ruok"));
  EXPECT_TRUE(c.four_letter_allowed("mntr"));
  EXPECT_TRUE(c.servers.empty());
  EXPECT_EQ(c.durability, Durability::kFsync);
}

TEST(Config, CpuAffinity) {
  ConfigParseResult r = parse_config("dataDir=/tmp/x\nclientPort=2181\ncpuAffinity=0-2,5\n", "t.cfg");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->cpu_affinity, (std::vector<int>{0, 1, 2, 5}));
  for (const char* bad : {"", "a", "3-1", "-1", "2,", "1024", "0-1024"}) {
    ConfigParseResult b = parse_config(std::string("dataDir=/tmp/x\nclientPort=2181\ncpuAffinity=") + bad + "\n",
                                       "t.cfg");
    ASSERT_FALSE(b.config) << bad;
    EXPECT_NE(b.error.find("t.cfg:3"), std::string::npos) << b.error;
    EXPECT_NE(b.error.find("cpuAffinity"), std::string::npos) << b.error;
  }
}

TEST(ConfigExamples, DataplaneExamplesParseWithoutWarnings) {
  for (const char* name : {"rdma-baremetal.cfg", "dpdk-nic.cfg", "dpdk-virtual.cfg"}) {
    std::string path = std::string(UK_SOURCE_DIR "/configs/") + name;
    ConfigParseResult r = load_config_file(path);
    ASSERT_TRUE(r.config) << path << ": " << r.error;
    for (const std::string& w : r.warnings) ADD_FAILURE() << path << ": warning: " << w;
    const ServerConfig& c = *r.config;
    EXPECT_EQ(c.servers.size(), 3u) << name;
    if (c.transport == PeerTransport::kDpdk) {
      EXPECT_TRUE(c.dpdk.configured()) << name;
      EXPECT_EQ(c.dpdk.servers.size(), 3u) << name;
    } else {
      EXPECT_EQ(c.transport, PeerTransport::kRdma) << name;
      EXPECT_EQ(c.rdma.spin_us, -1) << name;
    }
  }
}

TEST(ConfigExamples, LoopbackEnsembleConfigsParseWithoutWarnings) {
  for (int i = 1; i <= 3; i++) {
    std::string path = UK_SOURCE_DIR "/configs/loopback-3node/zoo" + std::to_string(i) + ".cfg";
    ConfigParseResult r = load_config_file(path);
    ASSERT_TRUE(r.config) << path << ": " << r.error;
    for (const std::string& w : r.warnings) ADD_FAILURE() << path << ": warning: " << w;
    const ServerConfig& c = *r.config;
    EXPECT_EQ(c.client_port, 0);  // each member's client port comes from its server.N line
    EXPECT_EQ(c.data_dir, "./data/node" + std::to_string(i));
    ASSERT_EQ(c.servers.size(), 3u);
    EXPECT_EQ(c.servers.at(i).client_port, 2180 + i);
    EXPECT_EQ(c.servers.at(i).quorum_port, 2887 + i);
    EXPECT_FALSE(c.servers.at(i).observer);
  }
}

}  // namespace
}  // namespace uk
