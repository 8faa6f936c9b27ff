#include "eval/json_numbers.h"

#include <cmath>

namespace plinth::eval {

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

nlohmann::json interval_json(const Interval& ci) {
  return ci.known() ? nlohmann::json::array({ci.lo, ci.hi}) : nlohmann::json(nullptr);
}

}  // namespace plinth::eval
