// Findings of the report.json fuzz harness (fuzz/report_fuzzer.cpp, docs/fuzzing.md), pinned as
// unit tests. The inputs themselves are replayed by scripts/fuzz from fuzz/regressions/report/.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <string>

#include "eval/forgetting_report.h"
#include "report_fixture.h"

namespace plinth::eval {

using Catch::Matchers::Contains;

TEST_CASE("fuzz: a number beyond a double is invalid JSON, not an escaping exception",
          "[eval][report][fuzz]") {
  // nlohmann reports it as out_of_range, which is not a parse_error.
  CHECK_THROWS_AS(parse_report_json("{\"schema\": 1e999}", "r.json"), BadInput);
}

TEST_CASE("fuzz: a report's resamples are bounded before the bootstrap allocates them",
          "[eval][report][fuzz]") {
  auto j = nlohmann::json::parse(report_json(testing::report_with({{"a", 1.0}})));
  REQUIRE_NOTHROW(parse_report_json(j.dump(), "r.json"));
  j["sample"]["resamples"] = 2000000000;  // 40 documents x 2e9 replicates x 4 bytes
  CHECK_THROWS_WITH(parse_report_json(j.dump(), "r.json"), Contains("'sample.resamples' is 2000000000"));
  j["sample"]["resamples"] = 4294967297;  // was cast to int first: 1, and accepted
  CHECK_THROWS_AS(parse_report_json(j.dump(), "r.json"), BadInput);
  j["sample"]["resamples"] = kMaxResamples;
  CHECK_NOTHROW(parse_report_json(j.dump(), "r.json"));
}

}  // namespace plinth::eval
