// Variants in a forgetting report (interpolation, attribution): figures derived from their
// columns against the report's, paired intervals, the JSON round trip, Markdown and SVG, and a
// report.json whose variant columns do not fit its documents.
#include "eval/report_variants.h"

#include <catch2/catch.hpp>

#include "eval/forgetting_report.h"
#include "report_fixture.h"
#include "util/error.h"

using Catch::Matchers::Contains;
using plinth::eval::ForgettingReport;
using plinth::eval::ReportVariant;
using plinth::eval::testing::between;
using plinth::eval::testing::report_with;

TEST_CASE("variants: the base's columns forget nothing, the tuned's are the report, halfway is half",
          "[eval][variants]") {
  ForgettingReport r = report_with({{"law", 4.0}, {"code", 10.0}});
  r.interpolation = {between(r, "α=0", 0), between(r, "α=0.5", 0.5), between(r, "α=1", 1)};
  plinth::eval::derive(r);

  const ReportVariant& base = r.interpolation[0];
  CHECK(base.mean_forgetting_pct == Approx(0).margin(1e-12));
  CHECK(base.task_gain_pct == Approx(0).margin(1e-12));
  CHECK(base.mean_recovered_pts == Approx(r.mean_forgetting_pct));
  CHECK(base.task_gain_lost_pts == Approx(r.task_gain_pct()));
  CHECK(base.exact_match == 0);

  const ReportVariant& tuned = r.interpolation[2];
  CHECK(tuned.mean_forgetting_pct == Approx(r.mean_forgetting_pct));
  CHECK(tuned.worst_domain == "code");
  CHECK(tuned.worst_forgetting_pct == Approx(r.worst_forgetting_pct));
  CHECK(tuned.task_gain_pct == Approx(r.task_gain_pct()));
  // The same draws as the report's: the tuned variant's interval is the report's own.
  CHECK(tuned.mean_forgetting_ci.lo == Approx(r.mean_forgetting_ci.lo));
  CHECK(tuned.mean_forgetting_ci.hi == Approx(r.mean_forgetting_ci.hi));
  CHECK(tuned.domains[1].recovered_pts == Approx(0).margin(1e-9));
  CHECK(tuned.domains[1].recovered_ci.half_width() == Approx(0).margin(1e-9));

  const ReportVariant& half = r.interpolation[1];
  CHECK(half.domains[0].forgetting_pct == Approx(r.domains[0].forgetting_pct / 2));
  CHECK(half.mean_recovered_pts == Approx(r.mean_forgetting_pct / 2));
  // Paired: what half the way recovers is known far more tightly than either side alone.
  CHECK(half.mean_recovered_ci.known());
  CHECK(half.mean_recovered_ci.lo > 0);
}

TEST_CASE("variants: report.json round trip, Markdown, SVG, unchanged parts, columns that do not fit",
          "[eval][variants]") {
  ForgettingReport r = report_with({{"law", 4.0}, {"code", 10.0}});
  r.interpolation = {between(r, "α=0", 0), between(r, "α=0.5", 0.5), between(r, "α=1", 1)};
  ReportVariant untouched;
  untouched.label = "embeddings";
  untouched.unchanged = true;
  ReportVariant block = between(r, "block 0", 0.25);
  block.alpha = std::numeric_limits<double>::quiet_NaN();
  block.task_correct.clear();  // attribution scores the task's loss only
  r.attribution = {untouched, block};
  plinth::eval::derive(r);

  const std::string text = plinth::eval::report_json(r);
  const ForgettingReport back = plinth::eval::parse_report_json(text, "report.json");
  REQUIRE(back.interpolation.size() == 3);
  REQUIRE(back.attribution.size() == 2);
  CHECK(back.interpolation[1].mean_forgetting_pct == Approx(r.interpolation[1].mean_forgetting_pct));
  CHECK(back.interpolation[1].task_gain_ci.lo == Approx(r.interpolation[1].task_gain_ci.lo));
  CHECK(back.attribution[0].unchanged);
  CHECK(back.attribution[0].mean_recovered_pts == 0);
  CHECK(back.attribution[1].mean_recovered_pts == Approx(0.75 * r.mean_forgetting_pct));
  CHECK(std::isnan(back.attribution[1].exact_match));

  const std::string md = plinth::eval::report_markdown(r);
  CHECK_THAT(md, Contains("## Interpolation between base and tuned") && Contains("| 0.5 |") &&
                     Contains("## Where the forgetting comes from") &&
                     Contains("unchanged by the fine-tune"));
  CHECK_THAT(plinth::eval::interpolation_svg(r), Contains("class=\"curve\"") && Contains("α=0.5"));
  CHECK_THAT(plinth::eval::attribution_svg(r), Contains("class=\"cell\"") && Contains("block 0"));

  SECTION("a variant's column of another length than its domain's documents is refused") {
    std::string bad = text;
    // Keys are written in sorted order: the variant's columns come before its label.
    const size_t at = bad.find("\"label\": \"block 0\"");
    REQUIRE(at != std::string::npos);
    const size_t col = bad.rfind("\"law\": [", at);
    REQUIRE(col != std::string::npos);
    bad.insert(col + 8, "1.0, ");
    CHECK_THROWS_WITH(plinth::eval::parse_report_json(bad, "report.json"),
                      Contains("report.json") && Contains("attribution[1].domain_nll.law") &&
                          Contains("41 entries where 40 were expected"));
  }
}

TEST_CASE("variants: the overlay draws each run's curve, a run without one as its tuned point",
          "[eval][variants]") {
  ForgettingReport full = report_with({{"law", 4.0}, {"code", 10.0}});
  full.interpolation = {between(full, "α=0", 0), between(full, "α=0.5", 0.5), between(full, "α=1", 1)};
  plinth::eval::derive(full);
  const ForgettingReport replay = report_with({{"law", 1.0}, {"code", 2.0}});
  ForgettingReport no_task = report_with({{"law", 1.0}});
  no_task.task.reset();

  using plinth::eval::interpolation_overlay_svg;
  // Curves only from runs scored with eval.interpolate: none, no chart.
  CHECK(interpolation_overlay_svg({{"runs/ft-replay", &replay}}).empty());
  const std::string svg = interpolation_overlay_svg(
      {{"runs/ft-full", &full}, {"runs/ft-replay", &replay}, {"runs/ft-none", &no_task}});
  CHECK_THAT(svg, Contains("runs/ft-full") && Contains("runs/ft-replay") && Contains(">tuned<") &&
                      Contains(">0.5<"));
  CHECK_THAT(svg, !Contains("runs/ft-none"));  // nothing to place it by
}
