// How plinth's eval reports write numbers in JSON: a value that does not exist (NaN, e.g. a
// statistic of an empty sample) is null, never an invalid JSON token; an interval is [lo, hi],
// or null while unknown.
#pragma once

#include <nlohmann/json.hpp>

#include "eval/bootstrap.h"

namespace plinth::eval {

nlohmann::json number_or_null(double v);
nlohmann::json interval_json(const Interval& ci);

}  // namespace plinth::eval
