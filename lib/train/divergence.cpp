#include "train/divergence.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <string_view>

namespace plinth::train {

std::string divergence_text(int64_t step, double loss, std::optional<double> penalty, double grad_norm,
                            const std::vector<std::string>& sources) {
  return fmt::format("step {}: loss {}{}, gradient norm {} (batch from {})", step, loss,
                     penalty ? fmt::format(", penalty {}", *penalty) : "", grad_norm,
                     sources.empty() ? "nothing" : fmt::format("{}", fmt::join(sources, ", ")));
}

bool inject_nan_at(int64_t step) {
  static std::string parsed;         // the value `pending` was made from
  static std::set<int64_t> pending;  // its steps not yet poisoned
  const char* env = std::getenv("PLINTH_INJECT_NAN_AT_STEP");
  if (!env || !*env) return false;
  if (parsed != env) {
    parsed = env;
    pending.clear();
    for (std::string_view s(env); !s.empty();) {
      const size_t comma = std::min(s.find(','), s.size());
      pending.insert(std::atoll(std::string(s.substr(0, comma)).c_str()));
      s.remove_prefix(std::min(comma + 1, s.size()));
    }
  }
  return pending.erase(step) > 0;
}

}  // namespace plinth::train
