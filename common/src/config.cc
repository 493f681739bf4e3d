// zoo.cfg parsing (zookeeper-protocol.md §10), in three steps:
//   1. read the text as java.util.Properties.load() does, since that is how ZooKeeper's QuorumPeerConfig reads it
//      (separators '=', ':' or whitespace; '#'/'!' comments; backslash escapes and line continuations);
//   2. fold duplicates: the last value wins as in Properties, but unlike ZooKeeper we say so; values that lost are
//      never validated, again as in ZooKeeper;
//   3. apply the surviving entries in file order (one handler per key), then resolve derived defaults and checks that
//      span keys.
// The first invalid value stops the parse with one error naming source, line, key, value and what was expected.
#include "ukeeper/common/config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <limits>
#include <system_error>
#include <utility>

namespace uk {

const char* to_string(PeerTransport t) {
  switch (t) {
    case PeerTransport::kAuto: return "auto";
    case PeerTransport::kTcp: return "tcp";
    case PeerTransport::kRdma: return "rdma";
    case PeerTransport::kDpdk: return "dpdk";
  }
  return "?";
}

bool ServerConfig::four_letter_allowed(std::string_view cmd) const {
  return four_letter_whitelist.count("*") > 0 || four_letter_whitelist.count(std::string(cmd)) > 0;
}

namespace {

constexpr int64_t kIntMin = std::numeric_limits<int32_t>::min();
constexpr int64_t kIntMax = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
// jute.maxbuffer above 1 GiB is a typo or a design problem, not a tuning; ZooKeeper itself stops being usable long
// before (each such packet is buffered whole in memory).
constexpr int64_t kJuteMaxBufferLimit = int64_t{1} << 30;
// preAllocSize is in KB; 1 TiB of preallocation per log file is far beyond any sane value and keeps KB→bytes exact.
constexpr int64_t kPreAllocSizeLimitKb = int64_t{1} << 30;
constexpr int kMinSnapRetainCount = 3;  // ZooKeeper's DatadirCleanupManager forces at least 3
constexpr int64_t kMinSnapCount = 2;    // ZooKeeper's SyncRequestProcessor forces at least 2

constexpr std::string_view kServerForm =
    "host:quorumPort:electionPort[:participant|:observer][;[clientAddress:]clientPort]";

// The words ukeeper answers (zookeeper-protocol.md §9).
constexpr std::string_view kFourLetterWords[] = {"ruok", "srvr", "stat", "mntr", "conf", "cons", "wchs", "wchc",
                                                 "wchp", "dump", "envi", "isro", "dirs", "crst", "srst"};
// Words ZooKeeper 3.8 knows but ukeeper does not answer: accepted in the whitelist with a warning so that a
// ZooKeeper whitelist still loads.
constexpr std::string_view kZooKeeperOnlyWords[] = {"gtmk", "stmk", "hash"};

struct Entry {
  int line = 0;  // first physical line of the logical line
  std::string key;
  std::string value;  // trimmed, as QuorumPeerConfig trims it
};

bool is_properties_space(char c) { return c == ' ' || c == '\t' || c == '\f'; }

// Java's String.trim(): drops every character <= ' ' at both ends.
std::string_view java_trim(std::string_view s) {
  while (!s.empty() && static_cast<unsigned char>(s.front()) <= ' ') s.remove_prefix(1);
  while (!s.empty() && static_cast<unsigned char>(s.back()) <= ' ') s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) { return a.size() == b.size() && lower(a) == lower(b); }

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

void append_utf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Properties.loadConvert(): \t \n \r \f, \uXXXX (written as UTF-8), and '\' before any other character drops.
bool unescape(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\\' || i + 1 == in.size()) {
      out->push_back(in[i]);
      continue;
    }
    char c = in[++i];
    switch (c) {
      case 't': out->push_back('\t'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 'f': out->push_back('\f'); break;
      case 'u': {
        if (in.size() - (i + 1) < 4) return false;
        uint32_t cp = 0;
        auto [end, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 5, cp, 16);
        if (ec != std::errc() || end != in.data() + i + 5) return false;
        append_utf8(cp, out);
        i += 4;
        break;
      }
      default: out->push_back(c); break;
    }
  }
  return true;
}

std::vector<std::string_view> physical_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\n' && text[i] != '\r') continue;
    lines.push_back(text.substr(start, i - start));
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
    start = i + 1;
  }
  if (start < text.size()) lines.push_back(text.substr(start));
  return lines;
}

std::string_view skip_leading_space(std::string_view s) {
  while (!s.empty() && is_properties_space(s.front())) s.remove_prefix(1);
  return s;
}

bool ends_in_odd_backslashes(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && s[s.size() - 1 - n] == '\\') ++n;
  return n % 2 == 1;
}

// Properties.load0(): the key ends at the first unescaped '=', ':' or whitespace; then whitespace, at most one
// '=' or ':', and whitespace again separate it from the value.
bool split_entry(std::string_view logical, int line, Entry* entry) {
  size_t key_end = 0;
  size_t value_start = logical.size();
  bool has_separator = false;
  while (key_end < logical.size()) {
    char c = logical[key_end];
    if (c == '\\') {
      key_end += 2;
      continue;
    }
    if (c == '=' || c == ':') {
      has_separator = true;
      value_start = key_end + 1;
      break;
    }
    if (is_properties_space(c)) {
      value_start = key_end + 1;
      break;
    }
    ++key_end;
  }
  key_end = std::min(key_end, logical.size());
  while (value_start < logical.size()) {
    char c = logical[value_start];
    if (!is_properties_space(c)) {
      if (has_separator || (c != '=' && c != ':')) break;
      has_separator = true;
    }
    ++value_start;
  }
  entry->line = line;
  std::string value;
  if (!unescape(logical.substr(0, key_end), &entry->key)) return false;
  if (!unescape(logical.substr(std::min(value_start, logical.size())), &value)) return false;
  entry->value = std::string(java_trim(value));
  return true;
}

bool read_properties(std::string_view text, std::string_view source, std::vector<Entry>* out, std::string* error) {
  if (starts_with(text, "\xEF\xBB\xBF")) text.remove_prefix(3);  // a UTF-8 BOM from a Windows editor
  std::vector<std::string_view> lines = physical_lines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view first = skip_leading_space(lines[i]);
    if (first.empty() || first.front() == '#' || first.front() == '!') continue;  // comments never continue
    int line_number = static_cast<int>(i) + 1;
    std::string logical(first);
    while (ends_in_odd_backslashes(logical)) {
      logical.pop_back();
      if (i + 1 == lines.size()) break;
      logical += skip_leading_space(lines[++i]);
    }
    Entry entry;
    if (!split_entry(logical, line_number, &entry)) {
      *error = std::string(source) + ":" + std::to_string(line_number) + ": malformed \\uxxxx escape";
      return false;
    }
    out->push_back(std::move(entry));
  }
  return true;
}

// Digits only (leading zeros allowed), 1..INT64_MAX: the N of server.N, group.N and weight.N.
std::optional<int64_t> parse_server_id(std::string_view s) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) return {};
  int64_t id = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc() || end != s.data() + s.size() || id <= 0) return {};
  return id;
}

// Java Integer.parseInt / Long.parseLong: optional sign, then decimal digits. Out-of-int64 counts as out of range.
std::optional<int64_t> parse_decimal(std::string_view s) {
  if (!s.empty() && s.front() == '+') {
    s.remove_prefix(1);
    if (!s.empty() && s.front() == '-') return {};
  }
  if (s.empty()) return {};
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (end != s.data() + s.size()) return {};
  if (ec == std::errc::result_out_of_range) return s.front() == '-' ? std::numeric_limits<int64_t>::min() : kInt64Max;
  if (ec != std::errc()) return {};
  return v;
}

// Aliases fold to one name and server.01 to server.1, so that duplicates are found whatever the spelling.
std::string canonical_key(std::string_view key) {
  if (key == "zookeeper.extendedTypesEnabled") return "extendedTypesEnabled";
  if (key == "DigestAuthenticationProvider.superDigest" ||
      key == "zookeeper.DigestAuthenticationProvider.superDigest") {
    return "superDigest";
  }
  for (std::string_view prefix : {"server.", "group.", "weight."}) {
    if (!starts_with(key, prefix)) continue;
    if (std::optional<int64_t> id = parse_server_id(key.substr(prefix.size()))) {
      return std::string(prefix) + std::to_string(*id);
    }
  }
  return std::string(key);
}

bool valid_port(std::string_view s, int* port) {
  std::optional<int64_t> v = parse_decimal(java_trim(s));
  if (!v || *v < 1 || *v > 65535) return false;
  *port = static_cast<int>(*v);
  return true;
}

bool valid_host(std::string_view host) {
  return !host.empty() && std::none_of(host.begin(), host.end(), [](char c) {
    return static_cast<unsigned char>(c) <= ' ' || c == '[' || c == ']' || c == ';' || c == '|';
  });
}

// Splits "host:rest" or "[ipv6]:rest" into the host (brackets removed) and the ':'-separated fields after it.
bool split_address(std::string_view s, std::string* host, std::vector<std::string_view>* fields) {
  fields->clear();
  std::string_view rest;
  if (starts_with(s, "[")) {
    size_t close = s.find(']');
    if (close == std::string_view::npos) return false;
    *host = std::string(s.substr(1, close - 1));
    rest = s.substr(close + 1);
    if (rest.empty()) return true;
    if (rest.front() != ':') return false;
    rest.remove_prefix(1);
  } else {
    size_t colon = s.find(':');
    *host = std::string(s.substr(0, colon));
    if (colon == std::string_view::npos) return true;
    rest = s.substr(colon + 1);
  }
  while (true) {
    size_t colon = rest.find(':');
    fields->push_back(rest.substr(0, colon));
    if (colon == std::string_view::npos) return true;
    rest = rest.substr(colon + 1);
  }
}

// The client half of a server line: "[clientAddress:]clientPort".
bool parse_client_part(std::string_view s, ServerSpec* spec, std::string* problem) {
  s = java_trim(s);
  std::string address;
  std::string_view port_text = s;
  if (starts_with(s, "[") || s.find(':') != std::string_view::npos) {
    std::vector<std::string_view> fields;
    if (!split_address(s, &address, &fields) || fields.size() != 1) {
      *problem = "client part '" + std::string(s) + "' is not [clientAddress:]clientPort";
      return false;
    }
    if (!valid_host(address)) {
      *problem = "client address '" + address + "' is not a host name or IP address";
      return false;
    }
    port_text = fields[0];
  }
  if (!valid_port(port_text, &spec->client_port)) {
    *problem = "client port '" + std::string(port_text) + "' is not an integer from 1 to 65535";
    return false;
  }
  spec->client_address = address;
  return true;
}

// One server.N value (kServerForm). `*first_of_several` is set when ZooKeeper 3.6's "addr1|addr2" form was given:
// ukeeper keeps the first address only.
bool parse_server_spec(std::string_view value, ServerSpec* spec, std::string* problem, bool* first_of_several) {
  size_t semicolon = value.find(';');
  std::string_view server_part = java_trim(value.substr(0, semicolon));
  std::string_view client_part =
      semicolon == std::string_view::npos ? std::string_view() : value.substr(semicolon + 1);
  if (client_part.find(';') != std::string_view::npos) {
    *problem = "more than one ';'";
    return false;
  }
  *first_of_several = server_part.find('|') != std::string_view::npos;
  server_part = java_trim(server_part.substr(0, server_part.find('|')));

  std::vector<std::string_view> fields;
  if (!split_address(server_part, &spec->host, &fields)) {
    *problem = "address '" + std::string(server_part) + "' is malformed";
    return false;
  }
  if (!valid_host(spec->host)) {
    *problem = "host '" + spec->host + "' is not a host name or IP address";
    return false;
  }
  if (fields.size() < 2 || fields.size() > 3) {
    *problem = fields.size() < 2 ? "the election port is missing" : "too many ':' fields";
    return false;
  }
  if (!valid_port(fields[0], &spec->quorum_port)) {
    *problem = "quorum port '" + std::string(fields[0]) + "' is not an integer from 1 to 65535";
    return false;
  }
  if (!valid_port(fields[1], &spec->election_port)) {
    *problem = "election port '" + std::string(fields[1]) + "' is not an integer from 1 to 65535";
    return false;
  }
  if (spec->quorum_port == spec->election_port) {
    *problem = "the quorum and election ports must differ";
    return false;
  }
  if (fields.size() == 3) {
    std::string type = lower(java_trim(fields[2]));
    if (type != "participant" && type != "observer") {
      *problem = "type '" + std::string(fields[2]) + "' is neither participant nor observer";
      return false;
    }
    spec->observer = type == "observer";
  }
  if (semicolon == std::string_view::npos) return true;
  if (!parse_client_part(client_part, spec, problem)) return false;
  if (spec->client_port == spec->quorum_port || spec->client_port == spec->election_port) {
    *problem = "the client port must differ from the quorum and election ports";
    return false;
  }
  return true;
}

bool valid_base64_sha1(std::string_view s) {
  // 20 bytes of SHA-1 are 28 base64 characters, the last one '=' padding.
  if (s.size() != 28 || s.back() != '=') return false;
  return std::all_of(s.begin(), s.end() - 1, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '/';
  });
}

class Parser;
using ApplyFn = bool (*)(Parser&, const Entry&);
struct KeySpec {
  std::string_view key;
  ApplyFn apply;
};

// Families of ZooKeeper keys ukeeper accepts but does not act on; each warns once, at its first key.
enum class Family { kAdmin, kTls, kMetrics, kHierarchicalQuorum, kAuth, kMultiAddress, kUnansweredWords };

class Parser {
 public:
  explicit Parser(std::string_view source) : source_(source) {}

  ConfigParseResult run(std::string_view text);

  // --- helpers for the key handlers ---
  ServerConfig& cfg() { return cfg_; }

  std::string at(int line) const { return source_ + ":" + std::to_string(line) + ": "; }

  bool fail(const Entry& e, std::string_view expected) {
    error_ = at(e.line) + "invalid value '" + e.value + "' for key '" + e.key + "': expected " + std::string(expected);
    return false;
  }

  void warn(const Entry& e, const std::string& message) { warnings_.push_back(at(e.line) + message); }

  void warn_family(Family family, const Entry& e, std::string_view why) {
    if (!warned_families_.insert(family).second) return;
    warn(e, "'" + e.key + "' ignored (and any other key of its kind): " + std::string(why));
  }

  bool get_int(const Entry& e, int64_t lo, int64_t hi, int64_t* out, std::string_view extra = {}) {
    std::optional<int64_t> v = parse_decimal(e.value);
    if (v && *v >= lo && *v <= hi) {
      *out = *v;
      return true;
    }
    return fail(e, "an integer from " + std::to_string(lo) + " to " + std::to_string(hi) + std::string(extra));
  }

  template <typename T>
  bool set_int(const Entry& e, int64_t lo, int64_t hi, T* field, std::string_view extra = {}) {
    int64_t v = 0;
    if (!get_int(e, lo, hi, &v, extra)) return false;
    *field = static_cast<T>(v);
    return true;
  }

  bool set_port(const Entry& e, int* field) { return set_int(e, 1, 65535, field); }

  // Java's Boolean.parseBoolean takes anything not "true" as false; a typo there silently flips a setting, so only
  // true/false (any case) are accepted.
  bool set_bool(const Entry& e, bool* field) {
    if (iequals(e.value, "true") || iequals(e.value, "false")) {
      *field = iequals(e.value, "true");
      return true;
    }
    return fail(e, "true or false");
  }

  // ZooKeeper reads forceSync, skipACL and leaderServes as system properties compared with "yes".
  bool set_yes_no(const Entry& e, bool* field) {
    if (iequals(e.value, "yes") || iequals(e.value, "true")) {
      *field = true;
      return true;
    }
    if (iequals(e.value, "no") || iequals(e.value, "false")) {
      *field = false;
      return true;
    }
    return fail(e, "yes or no (or true or false)");
  }

  bool set_string(const Entry& e, std::string* field, std::string_view expected) {
    if (e.value.empty()) return fail(e, expected);
    *field = e.value;
    return true;
  }

  void note(const std::string& key, int line) { lines_[key] = line; }
  std::optional<int> line_of(const std::string& key) const {
    auto it = lines_.find(key);
    return it == lines_.end() ? std::nullopt : std::optional<int>(it->second);
  }

  bool force_sync = true;  // forceSync as written; applied in resolve() unless `durability` was given

 private:
  std::vector<Entry> fold_duplicates(std::vector<Entry> entries);
  bool apply(const Entry& e);
  bool apply_prefixed(const Entry& e, bool* handled);
  void warn_unknown(const Entry& e);
  bool resolve();
  bool resolve_client_port();
  bool resolve_session_timeouts();
  void resolve_durability();

  std::string source_;
  ServerConfig cfg_;
  std::string error_;
  std::vector<std::string> warnings_;
  std::set<Family> warned_families_;
  std::map<std::string, int> lines_;  // canonical key -> line, for keys applied
};

bool apply_whitelist(Parser& p, const Entry& e) {
  std::set<std::string> words;
  bool zookeeper_only = false;
  std::string_view rest = e.value;
  while (true) {
    size_t comma = rest.find(',');
    std::string_view word = java_trim(rest.substr(0, comma));
    auto is = [&](std::string_view w) { return w == word; };
    if (word == "*" || std::any_of(std::begin(kFourLetterWords), std::end(kFourLetterWords), is)) {
      words.insert(std::string(word));
    } else if (std::any_of(std::begin(kZooKeeperOnlyWords), std::end(kZooKeeperOnlyWords), is)) {
      words.insert(std::string(word));
      zookeeper_only = true;
    } else if (!word.empty()) {
      std::string all;
      for (std::string_view w : kFourLetterWords) all += std::string(all.empty() ? "" : " ") + std::string(w);
      return p.fail(e, "a comma-separated list of four-letter words (" + all + ") or *; '" + std::string(word) +
                           "' is not one");
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  if (zookeeper_only) {
    p.warn_family(Family::kUnansweredWords, e, "ukeeper does not answer the four-letter words gtmk, stmk, hash");
  }
  p.cfg().four_letter_whitelist = std::move(words);
  return true;
}

bool apply_super_digest(Parser& p, const Entry& e) {
  size_t colon = e.value.find(':');
  if (colon == 0 || colon == std::string::npos || !valid_base64_sha1(std::string_view(e.value).substr(colon + 1))) {
    return p.fail(e, "user:base64(SHA1(\"user:password\")), e.g. super:xQJmxLMiHGwaqBvst5y6rkB6HQs=");
  }
  p.cfg().super_digest = e.value;
  return true;
}

bool apply_durability(Parser& p, const Entry& e) {
  std::string v = lower(e.value);
  if (v == "fsync") {
    p.cfg().durability = Durability::kFsync;
  } else if (v == "async") {
    p.cfg().durability = Durability::kAsync;
  } else if (v == "none") {
    p.cfg().durability = Durability::kNone;
    p.warn(e, "DANGER: durability=none: ukeeper acknowledges writes it has not written to disk; a crash or power "
              "loss can lose acknowledged writes (use only for throwaway data)");
  } else {
    return p.fail(e, "fsync, async or none");
  }
  return true;
}

bool apply_transport(Parser& p, const Entry& e) {
  std::string v = lower(e.value);
  if (v == "auto") {
    p.cfg().transport = PeerTransport::kAuto;
  } else if (v == "tcp") {
    p.cfg().transport = PeerTransport::kTcp;
  } else if (v == "rdma") {
    p.cfg().transport = PeerTransport::kRdma;
  } else if (v == "dpdk") {
    p.cfg().transport = PeerTransport::kDpdk;
  } else {
    return p.fail(e, "auto, tcp, rdma or dpdk");
  }
  return true;
}

// dpdk.server.N=<mac>,<ipv4>:<udpPort>
bool apply_dpdk_server(Parser& p, const Entry& e, int64_t id) {
  static constexpr std::string_view kForm = "<mac>,<ipv4>:<udpPort>, e.g. 02:00:00:00:0d:01,10.213.0.1:7400";
  const std::string& v = e.value;
  size_t comma = v.find(',');
  size_t colon = v.rfind(':');
  if (comma == std::string::npos || colon == std::string::npos || colon < comma) return p.fail(e, kForm);
  DpdkPeerSpec spec;
  spec.mac = v.substr(0, comma);
  spec.ip = v.substr(comma + 1, colon - comma - 1);
  bool mac_ok = spec.mac.size() == 17;
  for (size_t i = 0; mac_ok && i < 17; ++i) {
    mac_ok = i % 3 == 2 ? spec.mac[i] == ':' : std::isxdigit(static_cast<unsigned char>(spec.mac[i])) != 0;
  }
  if (!mac_ok) return p.fail(e, std::string(kForm) + " (the MAC is six hex pairs separated by ':')");
  int dots = 0;
  bool ip_ok = !spec.ip.empty();
  int64_t octet = -1;
  for (char c : spec.ip + ".") {
    if (c == '.') {
      ip_ok = ip_ok && octet >= 0 && octet <= 255;
      octet = -1;
      ++dots;
    } else if (c >= '0' && c <= '9' && octet < 1000) {
      octet = (octet < 0 ? 0 : octet * 10) + (c - '0');
    } else {
      ip_ok = false;
    }
  }
  if (!ip_ok || dots != 4) return p.fail(e, std::string(kForm) + " (the address is an IPv4 dotted quad)");
  std::optional<int64_t> port = parse_decimal(std::string_view(v).substr(colon + 1));
  if (!port || *port < 1 || *port > 65535) return p.fail(e, std::string(kForm) + " (the UDP port is 1..65535)");
  spec.udp_port = static_cast<int>(*port);
  p.cfg().dpdk.servers[id] = std::move(spec);
  return true;
}

// cpuAffinity=2 | 2,3 | 0-3,6: CPU numbers and ranges.
bool apply_cpu_affinity(Parser& p, const Entry& e) {
  static constexpr std::string_view kForm = "CPU numbers and ranges, e.g. 2 or 2,3 or 0-3,6 (0 to 1023)";
  std::vector<int> cpus;
  std::string_view rest = e.value;
  for (bool more = true; more;) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    more = comma != std::string_view::npos;
    if (more) rest.remove_prefix(comma + 1);
    size_t dash = item.find('-');
    std::optional<int64_t> lo = parse_decimal(item.substr(0, dash));
    std::optional<int64_t> hi = dash == std::string_view::npos ? lo : parse_decimal(item.substr(dash + 1));
    if (!lo || !hi || *lo < 0 || *hi > 1023 || *lo > *hi) return p.fail(e, kForm);
    for (int64_t c = *lo; c <= *hi; ++c) cpus.push_back(static_cast<int>(c));
  }
  p.cfg().cpu_affinity = std::move(cpus);
  return true;
}

bool apply_snap_retain_count(Parser& p, const Entry& e) {
  int64_t v = 0;
  if (!p.get_int(e, kIntMin, kIntMax, &v)) return false;
  if (v < kMinSnapRetainCount) {
    p.warn(e, "autopurge.snapRetainCount " + std::to_string(v) + " is below the minimum of 3; using 3");
    v = kMinSnapRetainCount;
  }
  p.cfg().autopurge_snap_retain_count = static_cast<int>(v);
  return true;
}

bool apply_snap_count(Parser& p, const Entry& e) {
  int64_t v = 0;
  if (!p.get_int(e, kIntMin, kIntMax, &v)) return false;
  if (v < kMinSnapCount) {
    p.warn(e, "snapCount " + std::to_string(v) + " is below the minimum of 2; using 2");
    v = kMinSnapCount;
  }
  p.cfg().snap_count = v;
  return true;
}

// jute.maxbuffer is read by ZooKeeper with Integer.getInteger, which also takes 0x hex; so does ukeeper.
bool apply_jute_max_buffer(Parser& p, const Entry& e) {
  std::string_view s = e.value;
  std::optional<int64_t> v;
  if (starts_with(s, "0x") || starts_with(s, "0X")) {
    int64_t hex = 0;
    auto [end, ec] = std::from_chars(s.data() + 2, s.data() + s.size(), hex, 16);
    if (s.size() > 2 && end == s.data() + s.size()) v = ec == std::errc() ? hex : kInt64Max;
  } else {
    v = parse_decimal(s);
  }
  if (!v || *v < 1 || *v > kJuteMaxBufferLimit) {
    return p.fail(e, "a number of bytes from 1 to " + std::to_string(kJuteMaxBufferLimit) + " (1 GiB)");
  }
  p.cfg().jute_max_buffer = static_cast<int>(*v);
  return true;
}

bool apply_peer_type(Parser& p, const Entry& e) {
  std::string v = lower(e.value);
  if (v != "participant" && v != "observer") return p.fail(e, "participant or observer");
  p.cfg().peer_type_observer = v == "observer";
  return true;
}

bool apply_skip_acl(Parser& p, const Entry& e) {
  if (!p.set_yes_no(e, &p.cfg().skip_acl)) return false;
  if (p.cfg().skip_acl) p.warn(e, "skipACL=yes: every ACL check passes; any client can read and change any znode");
  return true;
}

constexpr std::string_view kNoTls = "ukeeper does not serve TLS yet; only the plain clientPort is served";

bool apply_tls_key(Parser& p, const Entry& e) {
  p.warn_family(Family::kTls, e, kNoTls);
  return true;
}

bool apply_auth_key(Parser& p, const Entry& e) {
  p.warn_family(Family::kAuth, e,
                "ukeeper has no pluggable or SASL/Kerberos authentication; digest and ip ACLs are built in");
  return true;
}

// "No effect" keys: real ZooKeeper 3.8 keys that tune JVM internals ukeeper does not have. Each warns, since whoever
// set one expected it to do something.
bool apply_no_effect(Parser& p, const Entry& e) {
  p.warn(e, "'" + e.key + "' is a ZooKeeper tuning key with no effect in ukeeper; ignored");
  return true;
}

constexpr int64_t kMinusOneOrMs = -1;
constexpr std::string_view kSessionTimeoutExtra = " (milliseconds), or -1 for the default";

bool apply_session_timeout(Parser& p, const Entry& e, int* field) {
  int64_t v = 0;
  if (!p.get_int(e, kMinusOneOrMs, kIntMax, &v, kSessionTimeoutExtra)) return false;
  if (v == 0) return p.fail(e, "an integer from 1 to 2147483647 (milliseconds), or -1 for the default");
  *field = static_cast<int>(v);
  return true;
}

// Every exact key ukeeper knows. Prefix families (server.N, admin.*, ...) are in Parser::apply_prefixed.
const KeySpec kKeys[] = {
    {"tickTime", [](Parser& p, const Entry& e) { return p.set_int(e, 1, kIntMax, &p.cfg().tick_time_ms); }},
    {"dataDir", [](Parser& p, const Entry& e) { return p.set_string(e, &p.cfg().data_dir, "a directory path"); }},
    {"dataLogDir", [](Parser& p, const Entry& e) { p.cfg().data_log_dir = e.value; return true; }},
    {"clientPort", [](Parser& p, const Entry& e) { return p.set_port(e, &p.cfg().client_port); }},
    {"clientPortAddress",
     [](Parser& p, const Entry& e) {
       return p.set_string(e, &p.cfg().client_port_address, "a host name or IP address");
     }},
    {"secureClientPort",
     [](Parser& p, const Entry& e) {
       if (!p.set_port(e, &p.cfg().secure_client_port)) return false;
       p.warn_family(Family::kTls, e, kNoTls);
       return true;
     }},
    {"secureClientPortAddress", apply_tls_key},
    {"serverCnxnFactory", apply_tls_key},
    {"sslQuorum", apply_tls_key},
    {"sslQuorumReloadCertFiles", apply_tls_key},
    {"client.portUnification", apply_tls_key},
    {"initLimit", [](Parser& p, const Entry& e) { return p.set_int(e, 1, kIntMax, &p.cfg().init_limit); }},
    {"syncLimit", [](Parser& p, const Entry& e) { return p.set_int(e, 1, kIntMax, &p.cfg().sync_limit); }},
    {"ioThreads",
     [](Parser& p, const Entry& e) {
       return p.set_int(e, 0, 64, &p.cfg().io_threads, " (0: the pipeline thread serves the clients itself)");
     }},
    {"walMaxBatchesInFlight",
     [](Parser& p, const Entry& e) {
       return p.set_int(e, 1, 4, &p.cfg().wal_max_batches_in_flight, " (1: one log write at a time)");
     }},
    {"maxClientCnxns",
     [](Parser& p, const Entry& e) { return p.set_int(e, 0, kIntMax, &p.cfg().max_client_cnxns, " (0: no limit)"); }},
    {"minSessionTimeout",
     [](Parser& p, const Entry& e) { return apply_session_timeout(p, e, &p.cfg().min_session_timeout_ms); }},
    {"maxSessionTimeout",
     [](Parser& p, const Entry& e) { return apply_session_timeout(p, e, &p.cfg().max_session_timeout_ms); }},
    {"4lw.commands.whitelist", apply_whitelist},
    {"jute.maxbuffer", apply_jute_max_buffer},
    {"extendedTypesEnabled", [](Parser& p, const Entry& e) { return p.set_bool(e, &p.cfg().extended_types_enabled); }},
    {"zookeeper.extendedTypesEnabled",
     [](Parser& p, const Entry& e) { return p.set_bool(e, &p.cfg().extended_types_enabled); }},
    {"superDigest", apply_super_digest},
    {"DigestAuthenticationProvider.superDigest", apply_super_digest},
    {"zookeeper.DigestAuthenticationProvider.superDigest", apply_super_digest},
    {"autopurge.snapRetainCount", apply_snap_retain_count},
    {"autopurge.purgeInterval",
     [](Parser& p, const Entry& e) {
       return p.set_int(e, 0, kIntMax, &p.cfg().autopurge_purge_interval_hours, " (hours; 0 disables purging)");
     }},
    {"snapCount", apply_snap_count},
    {"preAllocSize",
     [](Parser& p, const Entry& e) {
       return p.set_int(e, 1, kPreAllocSizeLimitKb, &p.cfg().prealloc_size_kb, " (kilobytes)");
     }},
    {"forceSync", [](Parser& p, const Entry& e) { return p.set_yes_no(e, &p.force_sync); }},
    {"durability", apply_durability},
    {"transport", apply_transport},
    {"cpuAffinity", apply_cpu_affinity},
    {"rdma.device", [](Parser& p, const Entry& e) { return p.set_string(e, &p.cfg().rdma.device, "a verbs device name"); }},
    {"rdma.port", [](Parser& p, const Entry& e) { return p.set_int(e, 0, 255, &p.cfg().rdma.port, " (0: first active)"); }},
    {"rdma.gidIndex",
     [](Parser& p, const Entry& e) { return p.set_int(e, -1, 65535, &p.cfg().rdma.gid_index, " (-1: automatic)"); }},
    {"rdma.ringBytes",
     [](Parser& p, const Entry& e) { return p.set_int(e, 65536, int64_t{1} << 30, &p.cfg().rdma.ring_bytes, " (bytes)"); }},
    {"rdma.spinUs",
     [](Parser& p, const Entry& e) { return p.set_int(e, -1, 10000000, &p.cfg().rdma.spin_us, " (-1: never block)"); }},
    {"rdma.maxInlineBytes",
     [](Parser& p, const Entry& e) { return p.set_int(e, 0, 4096, &p.cfg().rdma.max_inline_bytes, " (bytes)"); }},
    {"dpdk.device", [](Parser& p, const Entry& e) { return p.set_string(e, &p.cfg().dpdk.device, "a DPDK port name or PCI address"); }},
    {"dpdk.vdev", [](Parser& p, const Entry& e) { return p.set_string(e, &p.cfg().dpdk.vdev, "a DPDK vdev, e.g. net_af_packet0,iface=uk1"); }},
    {"dpdk.lcores", [](Parser& p, const Entry& e) { return p.set_string(e, &p.cfg().dpdk.lcores, "an EAL --lcores value, e.g. 2 or 0@(0-1)"); }},
    {"dpdk.memoryMb",
     [](Parser& p, const Entry& e) { return p.set_int(e, 16, 1 << 20, &p.cfg().dpdk.memory_mb, " (megabytes)"); }},
    {"dpdk.hugepages", [](Parser& p, const Entry& e) { return p.set_bool(e, &p.cfg().dpdk.hugepages); }},
    {"dpdk.filePrefix", [](Parser& p, const Entry& e) { return p.set_string(e, &p.cfg().dpdk.file_prefix, "a file prefix"); }},
    {"dpdk.noPci", [](Parser& p, const Entry& e) { return p.set_bool(e, &p.cfg().dpdk.no_pci); }},
    {"dpdk.mtu", [](Parser& p, const Entry& e) { return p.set_int(e, 576, 9000, &p.cfg().dpdk.mtu, " (IP MTU in bytes)"); }},
    {"dpdk.logLevel", [](Parser& p, const Entry& e) { return p.set_string(e, &p.cfg().dpdk.log_level, "an EAL --log-level value"); }},
    {"dpdk.retransmitTimeoutUs",
     [](Parser& p, const Entry& e) {
       return p.set_int(e, 10, 10000000, &p.cfg().dpdk.retransmit_timeout_us, " (microseconds)");
     }},
    {"dpdk.peerTimeoutMs",
     [](Parser& p, const Entry& e) { return p.set_int(e, 100, 600000, &p.cfg().dpdk.peer_timeout_ms, " (milliseconds)"); }},
    {"dpdk.spinUs",
     [](Parser& p, const Entry& e) { return p.set_int(e, 0, kInt64Max, &p.cfg().dpdk.spin_us, " (microseconds)"); }},
    {"dpdk.idleSleepUs",
     [](Parser& p, const Entry& e) { return p.set_int(e, 0, 1000000, &p.cfg().dpdk.idle_sleep_us, " (microseconds)"); }},
    {"standaloneEnabled", [](Parser& p, const Entry& e) { return p.set_bool(e, &p.cfg().standalone_enabled); }},
    {"reconfigEnabled", [](Parser& p, const Entry& e) { return p.set_bool(e, &p.cfg().reconfig_enabled); }},
    {"localSessionsEnabled",
     [](Parser& p, const Entry& e) { return p.set_bool(e, &p.cfg().local_sessions_enabled); }},
    {"localSessionsUpgradingEnabled",
     [](Parser& p, const Entry& e) { return p.set_bool(e, &p.cfg().local_sessions_upgrading_enabled); }},
    {"globalOutstandingLimit",
     [](Parser& p, const Entry& e) { return p.set_int(e, 1, kIntMax, &p.cfg().global_outstanding_limit); }},
    {"electionAlg",
     [](Parser& p, const Entry& e) {
       if (parse_decimal(e.value) == std::optional<int64_t>(3)) return true;
       return p.fail(e, "3 (fast leader election, the only algorithm ZooKeeper 3.8 and ukeeper have)");
     }},
    {"quorumListenOnAllIPs",
     [](Parser& p, const Entry& e) { return p.set_bool(e, &p.cfg().quorum_listen_on_all_ips); }},
    {"syncEnabled", [](Parser& p, const Entry& e) { return p.set_bool(e, &p.cfg().sync_enabled); }},
    {"peerType", apply_peer_type},
    {"skipACL", apply_skip_acl},
    {"leaderServes", [](Parser& p, const Entry& e) { return p.set_yes_no(e, &p.cfg().leader_serves); }},
    {"audit.enable", [](Parser& p, const Entry& e) { return p.set_bool(e, &p.cfg().audit_enabled); }},
    {"maxCnxns", [](Parser& p, const Entry& e) { return p.set_int(e, 0, kIntMax, &p.cfg().max_cnxns, " (0: no limit)"); }},
    {"connectToLearnerMasterLimit",
     [](Parser& p, const Entry& e) { return p.set_int(e, 0, kIntMax, &p.cfg().connect_to_learner_master_limit); }},
    {"clientPortListenBacklog",
     [](Parser& p, const Entry& e) {
       return p.set_int(e, -1, kIntMax, &p.cfg().client_port_listen_backlog, " (-1: the OS default)");
     }},
    {"observerMasterPort", [](Parser& p, const Entry& e) { return p.set_port(e, &p.cfg().observer_master_port); }},
    {"cnxTimeout",
     [](Parser& p, const Entry& e) { return p.set_int(e, 1, kIntMax, &p.cfg().cnx_timeout_ms, " (milliseconds)"); }},
    {"fsync.warningthresholdms",
     [](Parser& p, const Entry& e) {
       return p.set_int(e, 0, kInt64Max, &p.cfg().fsync_warning_threshold_ms, " (milliseconds)");
     }},
    {"snapshot.trust.empty", [](Parser& p, const Entry& e) { return p.set_bool(e, &p.cfg().snapshot_trust_empty); }},
    {"tcpKeepAlive", [](Parser& p, const Entry& e) { return p.set_bool(e, &p.cfg().tcp_keep_alive); }},
    {"clientTcpKeepAlive", [](Parser& p, const Entry& e) { return p.set_bool(e, &p.cfg().client_tcp_keep_alive); }},
    {"dynamicConfigFile",
     [](Parser& p, const Entry& e) {
       p.warn(e, "dynamicConfigFile is not supported: ukeeper reads only this file; put server.N lines here");
       return true;
     }},
    {"requireClientAuthScheme", apply_auth_key},
    {"sessionRequireClientSASLAuth", apply_auth_key},
    {"enforce.auth.enabled", apply_auth_key},
    {"enforce.auth.schemes", apply_auth_key},
    {"quorum.cnxn.threads.size", apply_auth_key},
    {"digest.enabled", apply_no_effect},
    {"electionPortBindRetry", apply_no_effect},
    {"snapshot.compression.method", apply_no_effect},
    {"snapSizeLimitInKb", apply_no_effect},
    {"txnLogSizeLimitInKb", apply_no_effect},
    {"maxResponseCacheSize", apply_no_effect},
    {"maxGetChildrenResponseCacheSize", apply_no_effect},
    {"nio.numSelectorThreads", apply_no_effect},
    {"nio.numWorkerThreads", apply_no_effect},
    {"nio.shutdownTimeout", apply_no_effect},
    {"znode.container.checkIntervalMs", apply_no_effect},
    {"znode.container.maxPerMinute", apply_no_effect},
    {"watchManagerName", apply_no_effect},
    {"flushDelay", apply_no_effect},
    {"maxBatchSize", apply_no_effect},
    {"maxWriteQueuePollTime", apply_no_effect},
    {"learner.asyncSending", apply_no_effect},
    {"learner.closeSocketAsync", apply_no_effect},
    {"leader.closeSocketAsync", apply_no_effect},
};

std::vector<Entry> Parser::fold_duplicates(std::vector<Entry> entries) {
  std::map<std::string, size_t> last;  // canonical key -> index of its last entry
  for (size_t i = 0; i < entries.size(); ++i) {
    std::string key = canonical_key(entries[i].key);
    auto [it, inserted] = last.try_emplace(key, i);
    if (inserted) continue;
    const Entry& earlier = entries[it->second];
    warnings_.push_back(at(entries[i].line) + "key '" + entries[i].key + "' repeats '" + earlier.key + "' from line " +
                        std::to_string(earlier.line) + "; the value on line " + std::to_string(entries[i].line) +
                        " wins");
    it->second = i;
  }
  std::vector<Entry> kept;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (last[canonical_key(entries[i].key)] == i) kept.push_back(std::move(entries[i]));
  }
  return kept;
}

bool Parser::apply_prefixed(const Entry& e, bool* handled) {
  *handled = true;
  std::string_view key = e.key;
  if (starts_with(key, "server.")) {
    std::optional<int64_t> id = parse_server_id(key.substr(7));
    if (!id) return fail(e, "a key server.N with N an integer from 1 to " + std::to_string(kInt64Max));
    ServerSpec spec;
    spec.id = *id;
    std::string problem;
    bool first_of_several = false;
    if (!parse_server_spec(e.value, &spec, &problem, &first_of_several)) {
      return fail(e, std::string(kServerForm) + " (" + problem + ")");
    }
    if (first_of_several) {
      warn_family(Family::kMultiAddress, e,
                  "ukeeper uses one address per server: only the first of the '|'-separated addresses is used");
    }
    cfg_.servers[*id] = std::move(spec);
    return true;
  }
  if (starts_with(key, "dpdk.server.")) {
    std::optional<int64_t> id = parse_server_id(key.substr(12));
    if (!id) return fail(e, "a key dpdk.server.N with N the id of a server.N line");
    return apply_dpdk_server(*this, e, *id);
  }
  if (starts_with(key, "group.") || starts_with(key, "weight.")) {
    warn_family(Family::kHierarchicalQuorum, e,
                "hierarchical quorums (group.N, weight.N) are not supported; every participant has one vote");
    return true;
  }
  if (starts_with(key, "admin.")) {
    // admin.enableServer=false asks for what ukeeper does anyway: nothing to warn about.
    if (key == "admin.enableServer" && iequals(e.value, "false")) return true;
    warn_family(Family::kAdmin, e, "ukeeper has no AdminServer (HTTP); use the four-letter words on the client port");
    return true;
  }
  if (starts_with(key, "ssl.")) return apply_tls_key(*this, e);
  if (starts_with(key, "metricsProvider.")) {
    warn_family(Family::kMetrics, e, "ukeeper has no metrics provider plugin; use the mntr four-letter word");
    return true;
  }
  if (starts_with(key, "multiAddress.")) {
    warn_family(Family::kMultiAddress, e, "ukeeper uses one address per server; multiAddress settings do nothing");
    return true;
  }
  if (starts_with(key, "authProvider.") || starts_with(key, "quorum.auth.") || starts_with(key, "kerberos.")) {
    return apply_auth_key(*this, e);
  }
  *handled = false;
  return true;
}

void Parser::warn_unknown(const Entry& e) {
  std::string message = "unknown key '" + e.key + "' ignored";
  std::string_view bare = e.key;
  if (starts_with(bare, "zookeeper.")) bare.remove_prefix(10);
  for (const KeySpec& spec : kKeys) {
    if (iequals(spec.key, bare)) {
      message += "; did you mean '" + std::string(spec.key) + "'?";
      break;
    }
  }
  warn(e, message);
}

bool Parser::apply(const Entry& e) {
  note(canonical_key(e.key), e.line);
  for (const KeySpec& spec : kKeys) {
    if (spec.key == e.key) return spec.apply(*this, e);
  }
  bool handled = false;
  if (!apply_prefixed(e, &handled)) return false;
  if (!handled) warn_unknown(e);
  return true;
}

bool Parser::resolve_client_port() {
  std::optional<int> client_port_line = line_of("clientPort");
  if (client_port_line) return true;
  if (std::optional<int> address_line = line_of("clientPortAddress")) {
    error_ = at(*address_line) + "clientPortAddress is set but clientPort is not set";
    return false;
  }
  bool from_servers = std::any_of(cfg_.servers.begin(), cfg_.servers.end(),
                                  [](const auto& kv) { return kv.second.client_port != 0; });
  if (from_servers) {
    cfg_.client_port = 0;  // taken from this server's server.N line once myid is known (see config.h)
    return true;
  }
  error_ = source_ + ": clientPort is not set (and no server.N line gives a client port)";
  if (line_of("secureClientPort")) error_ += "; secureClientPort alone is not enough: ukeeper does not serve TLS yet";
  return false;
}

bool Parser::resolve_session_timeouts() {
  int64_t tick = cfg_.tick_time_ms;
  auto derived = [](int64_t v) { return static_cast<int>(std::min(v, kIntMax)); };
  std::optional<int> min_line = line_of("minSessionTimeout");
  std::optional<int> max_line = line_of("maxSessionTimeout");
  if (cfg_.min_session_timeout_ms == -1) cfg_.min_session_timeout_ms = derived(2 * tick);
  if (cfg_.max_session_timeout_ms == -1) cfg_.max_session_timeout_ms = derived(20 * tick);
  if (cfg_.min_session_timeout_ms <= cfg_.max_session_timeout_ms) return true;
  auto describe = [&](std::optional<int> line, int value, std::string_view rule) {
    return std::to_string(value) + (line ? " on line " + std::to_string(*line) : " by default, " + std::string(rule));
  };
  error_ = source_ + ": minSessionTimeout (" +
           describe(min_line, cfg_.min_session_timeout_ms, "2 x tickTime") +
           ") is greater than maxSessionTimeout (" +
           describe(max_line, cfg_.max_session_timeout_ms, "20 x tickTime") + ")";
  return false;
}

void Parser::resolve_durability() {
  std::optional<int> force_sync_line = line_of("forceSync");
  std::optional<int> durability_line = line_of("durability");
  if (!durability_line) {
    if (!force_sync) cfg_.durability = Durability::kAsync;
    return;
  }
  if (!force_sync_line) return;
  bool agrees = force_sync ? cfg_.durability == Durability::kFsync : cfg_.durability == Durability::kAsync;
  if (agrees) return;
  const char* winner = cfg_.durability == Durability::kFsync ? "fsync"
                       : cfg_.durability == Durability::kAsync ? "async"
                                                               : "none";
  warnings_.push_back(at(*force_sync_line) + "forceSync=" + (force_sync ? "yes" : "no") +
                      " is overridden by the durability key (durability=" + winner + " on line " +
                      std::to_string(*durability_line) + ")");
}

bool Parser::resolve() {
  if (cfg_.data_dir.empty()) {
    error_ = source_ + ": dataDir is not set";
    return false;
  }
  if (!resolve_client_port()) return false;
  if (!cfg_.servers.empty() &&
      std::all_of(cfg_.servers.begin(), cfg_.servers.end(), [](const auto& kv) { return kv.second.observer; })) {
    error_ = source_ + ": every server.N line is an observer; at least one participant is needed";
    return false;
  }
  if (!resolve_session_timeouts()) return false;
  resolve_durability();
  return true;
}

ConfigParseResult Parser::run(std::string_view text) {
  ConfigParseResult result;
  std::vector<Entry> entries;
  bool ok = read_properties(text, source_, &entries, &error_);
  if (ok) {
    for (const Entry& e : fold_duplicates(std::move(entries))) {
      ok = apply(e);
      if (!ok) break;
    }
  }
  ok = ok && resolve();
  if (ok) {
    result.config = std::move(cfg_);
  } else {
    result.error = std::move(error_);
  }
  result.warnings = std::move(warnings_);
  return result;
}

}  // namespace

ConfigParseResult parse_config(std::string_view text, std::string_view source) { return Parser(source).run(text); }

ConfigParseResult load_config_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    ConfigParseResult r;
    r.error = path + ": cannot open: " + std::error_code(errno, std::generic_category()).message();
    return r;
  }
  std::string text;
  char buf[8192];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  int read_errno = std::ferror(f) ? errno : 0;
  std::fclose(f);
  if (read_errno != 0) {
    ConfigParseResult r;
    r.error = path + ": cannot read: " + std::error_code(read_errno, std::generic_category()).message();
    return r;
  }
  return parse_config(text, path);
}

}  // namespace uk
