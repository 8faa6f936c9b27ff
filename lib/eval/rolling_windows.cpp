#include "eval/rolling_windows.h"

#include <algorithm>

#include "util/error.h"

namespace plinth::eval {

std::vector<RollingWindow> rolling_windows(uint64_t tokens, int64_t context) {
  if (context < 1) throw Failure("rolling_windows: context must be at least 1");
  std::vector<RollingWindow> windows;
  if (tokens == 0) return windows;
  const auto c = static_cast<uint64_t>(context);
  // In s-coordinates the target of input position i is s[i + 1] = t[i].
  uint64_t first = std::min(tokens, c);
  windows.push_back({0, static_cast<int64_t>(first), static_cast<int64_t>(first)});
  uint64_t predicted = first;
  while (predicted < tokens) {
    uint64_t scored = std::min(tokens - predicted, c);
    uint64_t end = predicted + scored;  // t[end - 1] is the last target; predicted >= c here
    windows.push_back({end - c, context, static_cast<int64_t>(scored)});
    predicted = end;
  }
  return windows;
}

}  // namespace plinth::eval
