#include "ukeeper/common/config.h"

namespace uk {

bool ServerConfig::four_letter_allowed(std::string_view cmd) const {
  return four_letter_whitelist.count("*") > 0 || four_letter_whitelist.count(std::string(cmd)) > 0;
}

ConfigParseResult parse_config(std::string_view, std::string_view source) {
  ConfigParseResult r;
  r.error = std::string(source) + ": parser not written yet";
  return r;
}

ConfigParseResult load_config_file(const std::string& path) { return parse_config("", path); }

}  // namespace uk
