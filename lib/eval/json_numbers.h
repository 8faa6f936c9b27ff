// How plinth's eval reports write an interval in JSON: [lo, hi], or null while unknown; numbers
// as util/json_number.h writes them (NaN is null).
#pragma once

#include <nlohmann/json.hpp>

#include "eval/bootstrap.h"
#include "util/json_number.h"

namespace plinth::eval {

nlohmann::json interval_json(const Interval& ci);

}  // namespace plinth::eval
