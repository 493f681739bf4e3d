// Small files in the data directory (private to server/src): the session key, the member's epochs, myid.
#pragma once

#include <string>

namespace uk {

// The whole of a small file (at most a few KiB are read); false when it cannot be opened.
bool read_small_file(const std::string& path, std::string& out);

// Replaces `path` with `content` so that a crash leaves the old or the new file, never a torn one: a temporary
// file written and fsynced, renamed over the path, then the directory fsynced. `error` names the file and errno.
bool write_file_durably(const std::string& path, const std::string& content, std::string& error);

}  // namespace uk
