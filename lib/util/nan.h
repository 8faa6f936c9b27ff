// The quiet NaN that marks "no value" in plinth's statistics and reports (null in their JSON).
#pragma once

#include <limits>

namespace plinth {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace plinth
