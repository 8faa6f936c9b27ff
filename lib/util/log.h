// Messages for people, on stderr (stdout stays for results a script may parse).
#pragma once

#include <fmt/format.h>

#include <cstdio>

namespace plinth::log {

// 0 = quiet (warnings only), 1 = normal, 2 = verbose. Set once by apps/ from --quiet/--verbose.
int& verbosity();

template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (verbosity() >= 1) fmt::print(stderr, "{}\n", fmt::format(f, std::forward<Args>(args)...));
}

template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (verbosity() >= 2) fmt::print(stderr, "{}\n", fmt::format(f, std::forward<Args>(args)...));
}

template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  fmt::print(stderr, "warning: {}\n", fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace plinth::log
