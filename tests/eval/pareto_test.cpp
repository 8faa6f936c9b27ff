// The learning/forgetting frontier of hand-made points (ties, a NaN gain, points without
// intervals, dominated beyond doubt or only by the estimates), and a sweep's comparison built on
// it: the frontier column and line, the dominated-beyond-doubt column.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <tuple>

#include "eval/eval_spec.h"
#include "eval/pareto.h"
#include "eval/run_comparison.h"
#include "eval/sweep_report.h"
#include "report_fixture.h"
#include "test_support.h"

namespace plinth::eval {
namespace {

using Catch::Matchers::Contains;

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// gain and forgetting with intervals of +-half around them.
TradeOff point(double gain, double forgetting, double half = 1) {
  TradeOff t;
  t.gain = gain, t.forgetting = forgetting;
  t.gain_ci = {gain - half, gain + half};
  t.forgetting_ci = {forgetting - half, forgetting + half};
  return t;
}

}  // namespace

TEST_CASE("pareto: the frontier of hand-made points", "[eval][pareto]") {
  // 0 and 1 trade gain for forgetting; 2 is beaten by 1 on both; 3 equals 1 (a tie: both stay);
  // 4 has 0's gain and more forgetting (one strict: dominated); 5 has no gain (NaN): not compared.
  const std::vector<TradeOff> points = {point(30, 10), point(40, 20), point(35, 25),
                                        point(40, 20), point(30, 12), point(kNaN, 0)};
  const std::vector<bool> on = pareto_frontier(points);
  CHECK(on == std::vector<bool>{true, true, false, true, false, false});
  CHECK(dominates(points[1], points[2]));
  CHECK_FALSE(dominates(points[1], points[3]));  // equal: neither strict
  CHECK(dominates(points[0], points[4]));        // same gain, less forgetting
  CHECK_FALSE(dominates(points[5], points[0]));  // a NaN dominates nothing...
  CHECK_FALSE(dominates(points[0], points[5]));  // ...and is dominated by nothing
  // From least forgetting to most; the tie keeps grid order.
  CHECK(frontier_order(points) == std::vector<size_t>{0, 1, 3});

  SECTION("a single point is its own frontier; none gives none") {
    CHECK(pareto_frontier({point(1, 1)}) == std::vector<bool>{true});
    CHECK(pareto_frontier({}).empty());
    CHECK(pareto_frontier({point(kNaN, 1)}) == std::vector<bool>{false});
  }
}

TEST_CASE("pareto: dominated beyond doubt needs both intervals wholly beyond", "[eval][pareto]") {
  // 1 beats 0 beyond doubt: gain [39, 41] above [29, 31], forgetting [9, 11] below [19, 21].
  // 2 is beaten by 1's estimates, but the intervals overlap in gain: not beyond doubt.
  // 3 has no intervals (a schema-1 report): never beyond doubt either way.
  TradeOff no_ci;
  no_ci.gain = 0, no_ci.forgetting = 100;
  const std::vector<TradeOff> points = {point(30, 20), point(40, 10), point(39, 20), no_ci};
  const auto by = dominated_beyond_doubt(points);
  REQUIRE(by.size() == 4);
  CHECK(by[0] == std::optional<size_t>(1));
  CHECK_FALSE(by[1]);
  CHECK_FALSE(by[2]);
  CHECK(dominates(points[1], points[2]));
  CHECK_FALSE(by[3]);
  CHECK(dominates(points[1], points[3]));
  // Touching intervals are not beyond doubt: the inequalities are strict.
  CHECK_FALSE(dominates_beyond_doubt(point(32, 10), point(30, 12)));
  CHECK(dominates_beyond_doubt(point(32.1, 10), point(30, 12.1)));
}

namespace {

// A run `run` of recipe `recipe` (method lora) whose tuned task loss is `loss` (base 2) and
// which forgets `pct` % of each of `domains`.
ComparedRun compared_run(const std::string& run, const std::string& recipe, double loss, double pct,
                         std::initializer_list<const char*> domains) {
  EvalReport base, tuned;
  for (const char* domain : domains) {
    auto [b, t] = testing::paired_domain(domain, pct, 40, 0.001);
    base.domains.push_back(b);
    tuned.domains.push_back(t);
  }
  ComparedRun r;
  r.label = run;
  r.report = make_forgetting_report({run, recipe, "lora"}, base, tuned, testing::task_result(loss, 40));
  return r;
}

// (label, tuned task loss (base 2), forgetting %): a learns 50% and forgets 5%; b learns 25% and
// forgets 50%, beaten by a beyond doubt; c learns 60% and forgets 80%, the frontier's other end.
SweepComparison three_point_sweep() {
  SweepComparison sweep;
  sweep.keys = {"train.lr"};
  for (const auto& [label, loss, pct] : std::vector<std::tuple<std::string, double, double>>{
           {"lr1e-4", 1.0, 5}, {"lr5e-4", 1.5, 50}, {"lr1e-3", 0.8, 80}}) {
    sweep.runs.push_back(compared_run(label, "lora", loss, pct, {"alpha", "beta"}));
    sweep.values.push_back({label.substr(2)});
  }
  return sweep;
}

}  // namespace

TEST_CASE("sweep comparison: frontier column, line and dominated-beyond-doubt column", "[eval][pareto]") {
  const SweepComparison sweep = three_point_sweep();
  const std::string md = sweep_markdown(sweep);
  INFO(md);
  CHECK_THAT(
      md,
      Contains("| point | train.lr | task gain | mean forgetting | frontier | dominated beyond doubt by |"));
  CHECK_THAT(md, Contains("| lr1e-4 | 1e-4 | +50.0%") && Contains("| lr1e-3 | 1e-3 | +60.0%"));
  CHECK_THAT(md, Contains("| **yes** |  |\n| lr5e-4 |"));  // a: on the frontier, beaten by none
  CHECK_THAT(md, Contains("|  | lr1e-4 |\n| lr1e-3 |"));   // b: off it, beaten by a beyond doubt
  CHECK_THAT(md, Contains("from least forgetting to most: lr1e-4 → lr1e-3."));
  CHECK_THAT(md, Contains("## Every figure"));
  // The points are one recipe at different settings, not its seeds: no spread over them.
  CHECK_THAT(md, !Contains("Over training seeds"));
  const std::string svg = sweep_svg(sweep);
  CHECK_THAT(svg, Contains("class=\"line\"") && Contains(">lr5e-4<") && Contains("class=\"error\""));
  CHECK(test::occurrences(svg, "class=\"mark\"") == 2);
}

TEST_CASE("sweep screen: Bonferroni-widened intervals and enough replicates for them", "[eval][pareto]") {
  // 6 points: 12 intervals, each at 1 - 0.05 / 12, so that all hold together at 95%.
  CHECK(screen_confidence(0.95, 6) == Approx(1 - 0.05 / 12).epsilon(1e-12));
  CHECK(screen_confidence(0.9, 1) == Approx(0.95));
  CHECK(screen_confidence(0.95, 0) == Approx(0.975));  // no points: as one
  // Each tail holds >= 20 replicates: (1 - c) / 2 x resamples >= 20.
  const double c = screen_confidence(0.95, 6);
  const int n = screen_resamples(1000, c);
  CHECK((1 - c) / 2 * n >= 20);
  CHECK((1 - c) / 2 * (n - 1) < 20);
  CHECK(screen_resamples(50000, c) == 50000);                // more asked for: kept
  CHECK(screen_resamples(1000, 1 - 1e-9) == kMaxResamples);  // capped
}

TEST_CASE("sweep comparison: a screened-out point keeps its screen figures and leaves the frontier",
          "[eval][pareto]") {
  SweepComparison sweep = three_point_sweep();
  sweep.screen = 0.25;
  sweep.screen_confidence = screen_confidence(0.95, 3);
  sweep.screened_out = {std::nullopt, size_t{0}, std::nullopt};  // lr5e-4 dropped, beaten by lr1e-4
  const std::string md = sweep_markdown(sweep);
  INFO(md);
  CHECK_THAT(
      md, Contains("| lr5e-4 | 5e-4 | +25.0%") && Contains("(screen) |  | lr1e-4 (screen: no full eval) |"));
  CHECK_THAT(md, Contains("from least forgetting to most: lr1e-4 → lr1e-3."));
  CHECK_THAT(md, Contains("first evaluated on 25% of its eval sample, with intervals at 99.17%") &&
                     Contains("all 6 of them hold together") && Contains("1 of 3 points"));
  const std::string svg = sweep_svg(sweep);
  CHECK_THAT(svg, Contains(">lr5e-4 (screen)<"));
  CHECK(test::occurrences(svg, "class=\"mark\"") == 2);
}

TEST_CASE("run comparison: the spread over training seeds takes a pipeline's seeds' runs only",
          "[eval][pareto]") {
  const std::vector<ComparedRun> runs{
      compared_run("runs/ft-lora-seed1", "ft-lora", 1.0, 5, {"alpha"}),
      compared_run("runs/ft-lora-seed2", "ft-lora", 1.2, 9, {"alpha"}),
      compared_run("runs/ft-lora-rank4", "ft-lora", 1.5, 50, {"alpha"}),  // a sweep's point of the recipe
      compared_run("runs/ft-lora-seedx", "ft-lora", 1.5, 50, {"alpha"})};
  const std::string md = comparison_markdown(runs);
  INFO(md);
  // Two seeds: gains 50% and 40%, mean 45, standard deviation 7.1.
  CHECK_THAT(md, Contains("## Over training seeds") && Contains("| ft-lora | lora | 2 | +45.0% ± 7.1 |"));
  CHECK_THAT(comparison_markdown({runs[0], runs[2], runs[3]}), !Contains("Over training seeds"));
}

}  // namespace plinth::eval
