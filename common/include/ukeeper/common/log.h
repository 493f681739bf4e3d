// Minimal leveled logging to stderr: one line per call, with a UTC timestamp and the level.
// Thread-safe (each line is one write(2)).
#pragma once

#include <cstdarg>

namespace uk {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
void log_line(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace uk

#define UK_DEBUG(...) \
  do { if (::uk::log_level() <= ::uk::LogLevel::kDebug) ::uk::log_line(::uk::LogLevel::kDebug, __VA_ARGS__); } while (0)
#define UK_INFO(...) ::uk::log_line(::uk::LogLevel::kInfo, __VA_ARGS__)
#define UK_WARN(...) ::uk::log_line(::uk::LogLevel::kWarn, __VA_ARGS__)
#define UK_ERROR(...) ::uk::log_line(::uk::LogLevel::kError, __VA_ARGS__)
