// Capability suite results: the harness's choice (acc, acc_norm, acc_mutual_info), the exact McNemar test,
// the derived figures on a hand-made suite, report.json round trip and refusals, the Markdown table.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "eval/document_sample.h"
#include "eval/report_json_reader.h"
#include "eval/suite_result.h"
#include "util/error.h"

namespace plinth::eval {
namespace {

using Catch::Matchers::Contains;

constexpr double kSuiteNaN = std::numeric_limits<double>::quiet_NaN();

// Four questions of two choices, gold 0 in each (ll per choice, summed nats):
//   q0  both models right on acc and acc_norm
//   q1  base right, tuned wrong (acc and acc_norm)
//   q2  the same as q1
//   q3  a long gold choice (10 characters) against a short one (2): both models wrong on acc;
//       on acc_norm the base is right (-1.0 > -2.0 per character), the tuned model wrong
//       (-1.0 < -0.75).
// acc: base 3/4, tuned 1/4, McNemar b = 2, c = 0. acc_norm: base 4/4, tuned 1/4, b = 3, c = 0.
SuiteResult hand_made_suite() {
  SuiteResult s;
  s.name = "arc-mini";
  s.path = "suites/arc.jsonl";
  s.delimiter = " ";
  s.questions_in_file = 10;
  s.truncated = 1;
  s.index = {7, 2, 9, 4};
  s.gold = {0, 0, 0, 0};
  s.choice_chars = {{1, 1}, {1, 1}, {1, 1}, {10, 2}};
  s.base_ll = {{-1, -2}, {-1, -2}, {-1, -2}, {-10, -4}};
  s.tuned_ll = {{-1, -2}, {-3, -2}, {-3, -2}, {-10, -1.5}};
  return s;
}

bool same_values(const std::vector<std::vector<double>>& a, const std::vector<std::vector<double>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].size() != b[i].size()) return false;
    for (size_t k = 0; k < a[i].size(); ++k)
      if (!(a[i][k] == b[i][k] || (std::isnan(a[i][k]) && std::isnan(b[i][k])))) return false;
  }
  return true;
}

// `s` written as report.json writes it: through text, as a reader gets it.
nlohmann::json suite_as_read(const SuiteResult& s) {
  return nlohmann::json::parse(suite_json(s).dump());
}

}  // namespace

TEST_CASE("harness_choice picks the first maximum, NaN lowest", "[eval][suite]") {
  CHECK(harness_choice({-3.0, -1.0, -2.0}) == 1);
  CHECK(harness_choice({-1.0, -0.5, -0.5}) == 1);  // a tie goes to the first
  CHECK(harness_choice({-2.0, -2.0}) == 0);
  CHECK(harness_choice({kSuiteNaN, -30.0}) == 1);
  CHECK(harness_choice({-30.0, kSuiteNaN}) == 0);
  CHECK(harness_choice({kSuiteNaN, kSuiteNaN, kSuiteNaN}) == 0);
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(harness_choice({-inf, kSuiteNaN, -5.0}) == 2);
}

TEST_CASE("harness_choice_norm divides by characters and can pick another choice than acc", "[eval][suite]") {
  // The short choice has the higher total log-likelihood, the long one the higher per character.
  const std::vector<double> ll = {-6.0, -8.0};
  const std::vector<uint64_t> chars = {2, 10};  // -3.0 against -0.8 per character
  CHECK(harness_choice(ll) == 0);
  CHECK(harness_choice_norm(ll, chars) == 1);
  CHECK(harness_choice_norm({-4.0, -2.0}, {4, 2}) == 0);  // -1.0 = -1.0: the first
  CHECK(harness_choice_norm({-3.0, -2.5}, {0, 1}) == 1);  // 0 characters count as 1
  CHECK(harness_choice_norm({kSuiteNaN, -50.0}, {1, 1}) == 1);
}

TEST_CASE("mcnemar_exact_p gives the exact two-sided binomial p-value", "[eval][suite]") {
  CHECK(mcnemar_exact_p(0, 0) == 1.0);
  CHECK(mcnemar_exact_p(5, 0) == Approx(0.0625).epsilon(1e-12));
  CHECK(mcnemar_exact_p(0, 5) == Approx(0.0625).epsilon(1e-12));
  CHECK(mcnemar_exact_p(10, 2) == Approx(2.0 * 79 / 4096).epsilon(1e-12));  // 0.0385742...
  CHECK(mcnemar_exact_p(2, 10) == Approx(0.0385742).epsilon(1e-5));
  CHECK(mcnemar_exact_p(1, 0) == 1.0);  // 2 * 0.5, capped
  CHECK(mcnemar_exact_p(3, 3) == 1.0);
  CHECK(mcnemar_exact_p(2, 0) == Approx(0.5).epsilon(1e-12));
  // 2 * P[X <= 40] for X ~ Binomial(100, 1/2) = 0.056887...
  CHECK(mcnemar_exact_p(60, 40) == Approx(0.0568879).epsilon(1e-5));
  // Large tables stay finite and ordered (2^-5000 underflows a double; the log-space sum does not).
  CHECK(mcnemar_exact_p(2600, 2400) == Approx(0.00488364974).epsilon(1e-7));
  CHECK(mcnemar_exact_p(2510, 2490) == Approx(0.78816330651).epsilon(1e-7));
  CHECK(mcnemar_exact_p(5000, 0) >= 0);
}

TEST_CASE("derive_suite computes accuracies, changes in points, intervals and McNemar's p", "[eval][suite]") {
  SuiteResult s = hand_made_suite();
  derive_suite(s, 0.95, 500, 42);
  CHECK(s.questions() == 4);
  CHECK(s.base_acc == Approx(0.75));
  CHECK(s.tuned_acc == Approx(0.25));
  CHECK(s.acc_change_points() == Approx(-50.0));
  CHECK(s.acc_mcnemar_p == Approx(0.5));  // b = 2, c = 0
  CHECK(s.base_acc_norm == Approx(1.0));
  CHECK(s.tuned_acc_norm == Approx(0.25));
  CHECK(s.acc_norm_change_points() == Approx(-75.0));
  CHECK(s.acc_norm_mcnemar_p == Approx(0.25));  // b = 3, c = 0

  REQUIRE(s.acc_change_ci.known());
  CHECK(s.acc_change_ci.lo <= -50.0);
  CHECK(s.acc_change_ci.hi >= -50.0);
  CHECK(s.acc_change_ci.lo >= -100.0);
  CHECK(s.acc_change_ci.hi <= 0.0);
  REQUIRE(s.acc_norm_change_ci.known());
  CHECK(s.acc_norm_change_ci.lo <= -75.0);
  CHECK(s.acc_norm_change_ci.hi >= -75.0);
  CHECK(s.acc_norm_change_ci.lo >= -100.0);
  CHECK(s.acc_norm_change_ci.hi <= 0.0);

  // The replicates are the bootstrap's over questions, seeded from the sample seed and the suite.
  const Resamples r(4, 500, bootstrap_seed(42, "suite:arc-mini"));
  std::vector<double> change = r.ratio({0, -1, -1, 0}, {1, 1, 1, 1});
  for (double& v : change) v *= 100;
  const Interval expected = percentile_interval(change, 0.95);
  CHECK(s.acc_change_ci.lo == Approx(expected.lo));
  CHECK(s.acc_change_ci.hi == Approx(expected.hi));

  SuiteResult again = hand_made_suite();
  derive_suite(again, 0.95, 500, 42);
  CHECK(again.acc_change_ci.lo == s.acc_change_ci.lo);
  CHECK(again.acc_change_ci.hi == s.acc_change_ci.hi);
  CHECK(again.acc_norm_change_ci.lo == s.acc_norm_change_ci.lo);
  CHECK(again.acc_norm_change_ci.hi == s.acc_norm_change_ci.hi);
  derive_suite(again, 0.95, 500, 42);  // derived again: recomputed, not accumulated
  CHECK(again.base_acc == s.base_acc);
  CHECK(again.acc_change_ci.lo == s.acc_change_ci.lo);
}

TEST_CASE("derive_suite finds no change where the tuned model answers as the base", "[eval][suite]") {
  SuiteResult s = hand_made_suite();
  s.tuned_ll = s.base_ll;
  derive_suite(s, 0.9, 200, 1);
  CHECK(s.acc_change_points() == 0.0);
  CHECK(s.acc_change_ci.lo == 0.0);
  CHECK(s.acc_change_ci.hi == 0.0);
  CHECK(s.acc_mcnemar_p == 1.0);
  CHECK(s.acc_norm_mcnemar_p == 1.0);
}

TEST_CASE("derive_suite leaves a suite without questions unknown", "[eval][suite]") {
  SuiteResult s;
  s.name = "empty";
  s.base_acc = 0.5;  // a stale figure is cleared
  s.acc_mcnemar_p = 0.01;
  derive_suite(s, 0.95, 100, 3);
  CHECK(std::isnan(s.base_acc));
  CHECK(std::isnan(s.tuned_acc));
  CHECK(std::isnan(s.base_acc_norm));
  CHECK(std::isnan(s.acc_change_points()));
  CHECK_FALSE(s.acc_change_ci.known());
  CHECK_FALSE(s.acc_norm_change_ci.known());
  CHECK(s.acc_mcnemar_p == 1.0);
  CHECK(s.acc_norm_mcnemar_p == 1.0);
  const nlohmann::json j = suite_json(s);
  CHECK(j["base_acc"].is_null());
  SuiteResult ragged = hand_made_suite();
  ragged.tuned_ll.pop_back();  // a caller's bug, not the user's input
  CHECK_THROWS_AS(derive_suite(ragged, 0.95, 100, 3), Failure);
  CHECK(j["acc_change_ci"].is_null());
  CHECK(j["questions"] == 0);
}

TEST_CASE("suite_json round trips the measured columns through read_suite_json", "[eval][suite]") {
  SuiteResult s = hand_made_suite();
  s.tuned_ll[3][0] = kSuiteNaN;  // a diverged score is written as null and read back as NaN
  derive_suite(s, 0.95, 300, 9);
  const nlohmann::json j = suite_as_read(s);
  // Derived figures are written for readers of report.json.
  CHECK(j["questions"] == 4);
  CHECK(j["base_acc"].get<double>() == Approx(0.75));
  CHECK(j["acc_change_points"].get<double>() == Approx(-50.0));
  CHECK(j["acc_mcnemar_p"].get<double>() == Approx(0.5));
  CHECK(j["acc_change_ci"].is_array());
  CHECK(j["acc_norm_change_ci"].size() == 2);
  CHECK(j["per_question"]["tuned_ll"][3][0].is_null());

  const SuiteResult back = read_suite_json(j, JsonReader("report.json"), "suites[0]");
  CHECK(back.name == s.name);
  CHECK(back.path == s.path);
  CHECK(back.delimiter == s.delimiter);
  CHECK(back.questions_in_file == 10);
  CHECK(back.truncated == 1);
  CHECK(back.index == s.index);
  CHECK(back.gold == s.gold);
  CHECK(back.choice_chars == s.choice_chars);
  CHECK(same_values(back.base_ll, s.base_ll));
  CHECK(same_values(back.tuned_ll, s.tuned_ll));
  CHECK(std::isnan(back.base_acc));  // the caller derives, with the report's sample settings

  SuiteResult derived = back;
  derive_suite(derived, 0.95, 300, 9);
  CHECK(derived.base_acc == s.base_acc);
  CHECK(derived.tuned_acc_norm == s.tuned_acc_norm);
  CHECK(derived.acc_change_ci.lo == s.acc_change_ci.lo);
  CHECK(derived.acc_norm_change_ci.hi == s.acc_norm_change_ci.hi);
  CHECK(derived.acc_norm_mcnemar_p == s.acc_norm_mcnemar_p);
}

TEST_CASE("read_suite_json refuses a gold out of range and ragged columns", "[eval][suite]") {
  const nlohmann::json good = suite_as_read(hand_made_suite());
  const JsonReader rd("runs/ft/report.json");
  auto refuses = [&](nlohmann::json j, const std::string& says) {
    INFO(says);
    try {
      read_suite_json(j, rd, "suites[0]");
      FAIL("read without an error");
    } catch (const BadInput& e) {
      CHECK_THAT(e.problems()[0].message, Contains("runs/ft/report.json") && Contains(says));
    }
  };
  CHECK_NOTHROW(read_suite_json(good, rd, "suites[0]"));

  nlohmann::json j = good;
  j["per_question"]["gold"][1] = 2;
  refuses(j, "'suites[0].per_question.gold[1]' is 2, but the question has 2 choices");
  j = good;
  j["per_question"]["gold"][0] = -1;
  refuses(j, "gold[0]' is -1");
  j = good;
  j["per_question"]["gold"][0] = 0.5;
  refuses(j, "not an integer");
  j = good;
  j["per_question"]["base_ll"][2].erase(1);  // one value short of its choices
  refuses(j, "'suites[0].per_question.base_ll[2]' has 1 entries where 2 were expected");
  j = good;
  j["per_question"]["tuned_ll"][0].push_back(-3.0);
  refuses(j, "tuned_ll[0]' has 3 entries where 2 were expected");
  j = good;
  j["per_question"]["choice_chars"].erase(3);  // a column shorter than the others
  refuses(j, "'suites[0].per_question.choice_chars' has 3 entries where 4 were expected");
  j = good;
  j["per_question"]["gold"].erase(0);
  refuses(j, "per_question.gold' has 3 entries where 4 were expected");
  j = good;
  for (const char* key : {"choice_chars", "base_ll", "tuned_ll"}) j["per_question"][key][1].erase(1);
  refuses(j, "choice_chars[1]' has 1 entries, but a question has at least two choices");
  j = good;
  j["per_question"]["choice_chars"][0][0] = -4;
  refuses(j, "choice_chars[0]' holds a value that is not a count");
  j = good;
  j["per_question"]["base_ll"][0][0] = "x";
  refuses(j, "base_ll[0]' holds a value that is not a number");
  j = good;
  j.erase("delimiter");
  refuses(j, "key 'suites[0].delimiter' is missing");
  j = good;
  j["truncated"] = -1;
  refuses(j, "'suites[0].truncated' is not a count");
  j = good;
  j["per_question"] = nullptr;
  refuses(j, "'suites[0].per_question' is not an object");
}

TEST_CASE("suites_markdown tabulates each suite with its changes and explains the columns", "[eval][suite]") {
  CHECK(suites_markdown({}).empty());
  SuiteResult a = hand_made_suite();
  a.name = "arc|mini";
  derive_suite(a, 0.95, 200, 5);
  SuiteResult b = hand_made_suite();
  b.name = "hellaswag";
  b.questions_in_file = 4;
  b.truncated = 0;
  b.tuned_ll = b.base_ll;
  derive_suite(b, 0.95, 200, 5);

  const std::string md = suites_markdown({a, b});
  CHECK_THAT(md, Contains("| suite | questions | metric | base | tuned | change (points) | McNemar p | acc | "
                          "acc_norm | acc_mutual_info |"));
  CHECK_THAT(md, Contains("| arc\\|mini | 4 of 10 | acc | 75.0% | 25.0% | -50.0 ["));
  CHECK_THAT(md, Contains("| 0.500 | 75.0% → 25.0% | 100.0% → 25.0% | n/a |"));
  CHECK_THAT(md, Contains("| hellaswag | 4 | acc | 75.0% | 75.0% | +0.0 [+0.0, +0.0] | 1.000 |"));
  CHECK_THAT(md, Contains("1 of 4 queries were cut"));
  CHECK_THAT(md, !Contains("Suite hellaswag"));
  CHECK_THAT(md, Contains("McNemar") && Contains("acc_norm") && Contains("per character") &&
                     Contains("with the query minus without it"));
  // Four questions of two choices: 75% is within what guessing reaches.
  CHECK_THAT(md, Contains("Base near chance: arc\\|mini, hellaswag."));
}

TEST_CASE("a suite's base is near chance when guessing among its choices would often do as well",
          "[eval][suite]") {
  // 100 questions of two choices: chance 50%, guessing reaches at most 59.8% 95% of the time.
  SuiteResult s;
  s.name = "pairs";
  s.questions_in_file = 100;
  for (uint64_t q = 0; q < 100; ++q) {
    s.index.push_back(q);
    s.gold.push_back(0);
    s.choice_chars.push_back({5, 5});
    s.base_ll.push_back(q < 59 ? std::vector<double>{-1, -2} : std::vector<double>{-2, -1});
  }
  s.tuned_ll = s.base_ll;
  derive_suite(s, 0.95, 200, 5);
  CHECK(s.base_acc == Approx(0.59));
  CHECK(base_near_chance(s));
  for (uint64_t q = 59; q < 61; ++q) s.base_ll[q] = {-1, -2};
  derive_suite(s, 0.95, 200, 5);
  CHECK(s.base_acc == Approx(0.61));
  CHECK_FALSE(base_near_chance(s));
  CHECK_THAT(suites_markdown({s}), !Contains("near chance"));
}

TEST_CASE("acc_mutual_info ranks choices by what the query adds to their log-likelihood", "[eval][suite]") {
  // hand_made_suite with the choices' log-likelihoods without the query. Gold is 0 everywhere.
  //   q0  base: ll -1,-2, alone -3,-1 -> gains +2,-1: right; tuned the same
  //   q1  base: ll -1,-2, alone -0.5,-4 -> gains -0.5,+2: wrong (acc right)
  //       tuned: ll -3,-2, alone -6,-2 -> gains +3, 0: right (acc wrong)
  //   q2  base: gains 0, 0 (a tie: the first, right); tuned: ll -3,-2, alone -3,-2: tie, right
  //   q3  base: ll -10,-4, alone -20,-4 -> +10, 0: right; tuned: ll -10,-1.5, alone -11,-1 -> +1,-0.5 right
  // base 3/4, tuned 4/4: McNemar b = 0, c = 1.
  SuiteResult s = hand_made_suite();
  s.base_ll_unconditional = {{-3, -1}, {-0.5, -4}, {-1, -2}, {-20, -4}};
  s.tuned_ll_unconditional = {{-3, -1}, {-6, -2}, {-3, -2}, {-11, -1}};
  derive_suite(s, 0.95, 300, 4);
  CHECK(s.has_unconditional());
  CHECK(s.base_acc_mutual_info == Approx(0.75));
  CHECK(s.tuned_acc_mutual_info == Approx(1.0));
  CHECK(s.acc_mutual_info_change_points() == Approx(25.0));
  CHECK(s.acc_mutual_info_mcnemar_p == Approx(1.0));
  REQUIRE(s.acc_mutual_info_change_ci.known());
  CHECK(s.acc_mutual_info_change_ci.lo >= 0.0);
  CHECK(s.base_acc == Approx(0.75));  // acc and acc_norm do not read the unconditional columns
  CHECK(s.tuned_acc == Approx(0.25));
  CHECK(answered(s, false, "acc_mutual_info") == std::vector<bool>{true, false, true, true});
  CHECK(answered(s, true, "acc_mutual_info") == std::vector<bool>{true, true, true, true});

  // The headline follows the suite's metric: what the gate, the chart and near-chance read.
  CHECK(headline(s).metric == "acc");
  CHECK(headline(s).base == s.base_acc);
  s.metric = "acc_mutual_info";
  CHECK(headline(s).base == s.base_acc_mutual_info);
  CHECK(headline(s).change_points() == Approx(25.0));
  CHECK(headline(s).change_ci.lo == s.acc_mutual_info_change_ci.lo);
  CHECK(suite_accuracy(s, "acc_norm").tuned == s.tuned_acc_norm);
  CHECK_THAT(suites_markdown({s}),
             Contains("| arc-mini | 4 of 10 | acc_mutual_info | 75.0% | 100.0% | +25.0 ["));
  CHECK(known_suite_metric("acc_mutual_info"));
  CHECK_FALSE(known_suite_metric("acc_bytes"));

  // Round trip: the columns and the metric come back; the figures are derived again equal.
  const nlohmann::json j = suite_as_read(s);
  CHECK(j["metric"] == "acc_mutual_info");
  CHECK(j["base_acc_mutual_info"].get<double>() == Approx(0.75));
  CHECK(j["per_question"]["tuned_ll_unconditional"][1][0].get<double>() == -6.0);
  SuiteResult back = read_suite_json(j, JsonReader("report.json"), "suites[0]");
  CHECK(back.metric == "acc_mutual_info");
  CHECK(same_values(back.base_ll_unconditional, s.base_ll_unconditional));
  derive_suite(back, 0.95, 300, 4);
  CHECK(back.tuned_acc_mutual_info == s.tuned_acc_mutual_info);
  CHECK(back.acc_mutual_info_change_ci.lo == s.acc_mutual_info_change_ci.lo);

  // A report written before acc_mutual_info: no metric (acc), no columns, the figures unknown.
  nlohmann::json old = j;
  old.erase("metric");
  old["per_question"].erase("base_ll_unconditional");
  old["per_question"].erase("tuned_ll_unconditional");
  SuiteResult before = read_suite_json(old, JsonReader("report.json"), "suites[0]");
  CHECK(before.metric == "acc");
  derive_suite(before, 0.95, 300, 4);
  CHECK(std::isnan(before.base_acc_mutual_info));
  CHECK_FALSE(before.acc_mutual_info_change_ci.known());
  CHECK(before.base_acc == s.base_acc);
  CHECK_FALSE(suite_json(before)["per_question"].contains("base_ll_unconditional"));

  // Refusals: one column without the other, a column of the wrong width, an unknown metric.
  auto refuses = [](nlohmann::json bad, const std::string& says) {
    INFO(says);
    try {
      read_suite_json(bad, JsonReader("r.json"), "suites[0]");
      FAIL("read without an error");
    } catch (const BadInput& e) {
      CHECK_THAT(e.problems()[0].message, Contains(says));
    }
  };
  nlohmann::json bad = j;
  bad["per_question"].erase("tuned_ll_unconditional");
  refuses(bad, "has one of base_ll_unconditional and tuned_ll_unconditional but not the other");
  bad = j;
  bad["per_question"]["base_ll_unconditional"][2].push_back(-1.0);
  refuses(bad, "base_ll_unconditional[2]' has 3 entries where 2 were expected");
  bad = j;
  bad["metric"] = "acc_bytes";
  refuses(bad, "'suites[0].metric' is 'acc_bytes', not one of acc, acc_norm, acc_mutual_info");
  SuiteResult ragged = s;
  ragged.tuned_ll_unconditional.pop_back();
  CHECK_THROWS_AS(derive_suite(ragged, 0.95, 100, 3), Failure);
}

}  // namespace plinth::eval
