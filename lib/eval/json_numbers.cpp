#include "eval/json_numbers.h"

namespace plinth::eval {

nlohmann::json interval_json(const Interval& ci) {
  return ci.known() ? nlohmann::json::array({ci.lo, ci.hi}) : nlohmann::json(nullptr);
}

}  // namespace plinth::eval
