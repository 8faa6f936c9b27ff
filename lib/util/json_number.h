// How plinth writes a number into JSON (reports, metrics.jsonl, selection.json, plinth runs
// --json): a value that does not exist (NaN, e.g. a mean over nothing; an infinity) is null,
// never an invalid JSON token. Header-only, for nlohmann::json and ordered_json alike.
#pragma once

#include <cmath>
#include <nlohmann/json.hpp>
#include <vector>

namespace plinth {

template <class Json = nlohmann::json>
Json number_or_null(double v) {
  return std::isfinite(v) ? Json(v) : Json(nullptr);
}

// A list of numbers, each as number_or_null writes it.
template <class Json = nlohmann::json>
Json numbers_or_null(const std::vector<double>& values) {
  Json a = Json::array();
  for (double v : values) a.push_back(number_or_null<Json>(v));
  return a;
}

}  // namespace plinth
