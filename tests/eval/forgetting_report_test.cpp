// The forgetting report: its math on hand-made evaluations, report.json round trip and errors,
// the Markdown and the SVG it writes.
#include <catch2/catch.hpp>

#include <cmath>
#include <nlohmann/json.hpp>

#include "eval/forgetting_report.h"
#include "test_support.h"
#include "util/atomic_file.h"
#include "util/svg_charts.h"

namespace plinth::eval {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

// A domain whose bits per byte are exactly `bpb` over 1000 bytes.
DomainScore domain(const std::string& name, double bpb) {
  DomainScore d;
  d.name = name;
  d.documents = 3;
  d.tokens = 400;
  d.bytes = 1000;
  d.nll = bpb * 1000 * std::log(2.0);
  return d;
}

EvalReport eval_of(const std::string& checkpoint, int64_t step, std::vector<DomainScore> domains) {
  EvalReport r;
  r.checkpoint = checkpoint;
  r.step = step;
  r.domains = std::move(domains);
  return r;
}

TaskResult arithmetic_task() {
  TaskResult t;
  t.name = "arith";
  t.examples = 200;
  t.base_loss = 2.0;
  t.tuned_loss = 0.5;
  t.base_exact_match = 0.05;
  t.tuned_exact_match = 0.80;
  t.samples.push_back({"12+30=", "42", "7", "42", false, true});
  t.samples.push_back({"a|b\nc", "x", "", "y", false, false});  // Markdown-hostile text
  return t;
}

ForgettingReport sample_report() {
  EvalReport base = eval_of("runs/pre/best.ckpt", 1000,
                            {domain("literature", 2.0), domain("code", 1.0), domain("law", 1.6)});
  EvalReport tuned = eval_of("runs/ft/step_300.ckpt", 300,
                             {domain("code", 1.1), domain("literature", 2.02), domain("law", 1.6)});
  GateThresholds g;
  g.max_forgetting_pct = 5;
  g.set_domain("code", 2);
  return make_forgetting_report({"runs/ft", "arith-lora", "lora"}, base, tuned, arithmetic_task(), g);
}

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("make_forgetting_report: per-domain and overall forgetting, task gain", "[eval][report]") {
  ForgettingReport r = sample_report();
  REQUIRE(r.domains.size() == 3);
  CHECK(r.run == "runs/ft");
  CHECK(r.recipe_name == "arith-lora");
  CHECK(r.method == "lora");
  CHECK(r.base_step == 1000);
  CHECK(r.tuned_step == 300);
  // In the base report's order, paired by name (the tuned one lists them differently).
  CHECK(r.domains[0].name == "literature");
  CHECK(r.domains[0].base_bpb == Approx(2.0));
  CHECK(r.domains[0].tuned_bpb == Approx(2.02));
  CHECK(r.domains[0].delta_bpb == Approx(0.02));
  CHECK(r.domains[0].forgetting_pct == Approx(1.0));
  CHECK(r.domains[1].name == "code");
  CHECK(r.domains[1].forgetting_pct == Approx(10.0));
  CHECK(r.domains[2].forgetting_pct == Approx(0.0).margin(1e-12));
  CHECK(r.mean_forgetting_pct == Approx(11.0 / 3));  // macro average, not weighted by size
  CHECK(r.worst_domain == "code");
  CHECK(r.worst_forgetting_pct == Approx(10.0));
  CHECK(r.mean_base_bpb == Approx(4.6 / 3));
  CHECK(r.mean_tuned_bpb == Approx(4.72 / 3));
  REQUIRE(r.task);
  CHECK(r.task_gain_pct() == Approx(75.0));
  CHECK(r.task->exact_match_gain_points() == Approx(75.0));
  REQUIRE(r.gate);
  CHECK(r.gate->domain_limit("code") == 2.0);
  CHECK(r.gate->domain_limit("law") == 5.0);
}

TEST_CASE("make_forgetting_report: negative forgetting, NaN tuned values, no task", "[eval][report]") {
  EvalReport base = eval_of("b", 1, {domain("a", 2.0), domain("b", 1.0)});
  DomainScore diverged = domain("b", 1.0);
  diverged.nll = std::nan("");
  EvalReport tuned = eval_of("t", 2, {domain("a", 1.5), diverged});
  ForgettingReport r = make_forgetting_report({"run", "r", "full"}, base, tuned, std::nullopt);
  CHECK(r.domains[0].forgetting_pct == Approx(-25.0));  // improved
  CHECK(std::isnan(r.domains[1].forgetting_pct));
  CHECK(std::isnan(r.mean_forgetting_pct));
  CHECK(r.worst_domain == "b");  // a NaN is the worst there is
  CHECK(std::isnan(r.task_gain_pct()));
  // null in JSON, and read back as NaN
  auto j = nlohmann::json::parse(report_json(r));
  CHECK(j["domains"][1]["forgetting_pct"].is_null());
  CHECK(j["task"].is_null());
  CHECK(j["gate"].is_null());
  ForgettingReport back = parse_report_json(report_json(r), "report.json");
  CHECK(std::isnan(back.domains[1].forgetting_pct));
  CHECK(back.worst_domain == "b");
  CHECK_FALSE(back.task);
}

TEST_CASE("make_forgetting_report: base and tuned must hold the same domains", "[eval][report]") {
  EvalReport base = eval_of("base.ckpt", 1, {domain("a", 2.0), domain("b", 1.0)});
  EvalReport tuned = eval_of("tuned.ckpt", 2, {domain("a", 2.0), domain("c", 1.0)});
  CHECK_THROWS_AS(make_forgetting_report({}, base, tuned, std::nullopt), BadInput);
  CHECK_THROWS_WITH(
      make_forgetting_report({}, base, tuned, std::nullopt),
      Contains("domain 'b' was scored for the base checkpoint base.ckpt but not for the tuned one") &&
          Contains("domain 'c' was scored for the tuned checkpoint") && Contains("same recipe"));
  DomainScore empty = domain("b", 1.0);
  empty.bytes = 0;
  EvalReport no_bytes = eval_of("base.ckpt", 1, {domain("a", 2.0), empty});
  EvalReport tuned_ab = eval_of("tuned.ckpt", 2, {domain("a", 2.0), domain("b", 1.0)});
  CHECK_THROWS_WITH(make_forgetting_report({}, no_bytes, tuned_ab, std::nullopt),
                    Contains("domain 'b' has no bits per byte for the base checkpoint"));
}

TEST_CASE("report.json round trip", "[eval][report]") {
  ForgettingReport r = sample_report();
  std::string text = report_json(r);
  auto j = nlohmann::json::parse(text);
  CHECK(j["schema"] == kReportSchemaVersion);
  CHECK(j["domains"][1]["forgetting_pct"].get<double>() == Approx(10.0));
  CHECK(j["overall"]["worst_domain"] == "code");
  CHECK(j["task"]["gain_pct"].get<double>() == Approx(75.0));
  CHECK(j["gate"]["domains"]["code"] == 2.0);
  CHECK(j["gate"]["max_mean_forgetting_pct"].is_null());

  ForgettingReport back = parse_report_json(text, "report.json");
  CHECK(report_json(back) == text);  // every field survives, bit for bit
  CHECK(back.domains.size() == 3);
  CHECK(back.mean_forgetting_pct == r.mean_forgetting_pct);
  REQUIRE(back.task);
  REQUIRE(back.task->samples.size() == 2);
  CHECK(back.task->samples[0].tuned_correct);
  CHECK(back.task->samples[1].prompt == "a|b\nc");
  REQUIRE(back.gate);
  CHECK(back.gate->max_forgetting_pct == 5.0);
  CHECK_FALSE(back.gate->max_mean_forgetting_pct);

  // Derived values are recomputed from the measured ones: an edited forgetting_pct does not stick.
  j["domains"][1]["forgetting_pct"] = 0.0;
  j["overall"]["mean_forgetting_pct"] = 0.0;
  ForgettingReport edited = parse_report_json(j.dump(), "report.json");
  CHECK(edited.domains[1].forgetting_pct == Approx(10.0));
  CHECK(edited.mean_forgetting_pct == Approx(11.0 / 3));
}

TEST_CASE("parse_report_json: malformed, incomplete, other schema", "[eval][report]") {
  const std::string good = report_json(sample_report());
  SECTION("not JSON") {
    CHECK_THROWS_AS(parse_report_json("{\"schema\": 1,", "runs/x/report.json"), BadInput);
    CHECK_THROWS_WITH(parse_report_json("{\"schema\": 1,", "runs/x/report.json"),
                      Contains("report runs/x/report.json is not valid JSON"));
  }
  SECTION("another schema version") {
    auto j = nlohmann::json::parse(good);
    j["schema"] = 2;
    CHECK_THROWS_AS(parse_report_json(j.dump(), "old/report.json"), BadInput);
    CHECK_THROWS_WITH(parse_report_json(j.dump(), "old/report.json"),
                      Contains("report old/report.json has schema 2; this plinth reads schema 1"));
  }
  SECTION("no schema: e.g. an eval.json given by mistake") {
    CHECK_THROWS_WITH(parse_report_json("{\"checkpoint\": \"x\"}", "eval.json"),
                      Contains("report eval.json has no schema version"));
  }
  SECTION("a missing key names its path") {
    auto j = nlohmann::json::parse(good);
    j["domains"][2].erase("tuned_bpb");
    CHECK_THROWS_AS(parse_report_json(j.dump(), "r.json"), BadInput);
    CHECK_THROWS_WITH(parse_report_json(j.dump(), "r.json"),
                      Contains("key 'domains[2].tuned_bpb' is missing"));
  }
  SECTION("a mistyped key") {
    auto j = nlohmann::json::parse(good);
    j["task"]["base_loss"] = "low";
    CHECK_THROWS_WITH(parse_report_json(j.dump(), "r.json"), Contains("'task.base_loss' is not a number"));
  }
  SECTION("a domain twice") {
    auto j = nlohmann::json::parse(good);
    j["domains"][2]["name"] = "code";
    CHECK_THROWS_WITH(parse_report_json(j.dump(), "r.json"), Contains("domain 'code' appears twice"));
  }
}

TEST_CASE("load_report takes a run directory or a file", "[eval][report]") {
  test::TempDir dir;
  ForgettingReport r = sample_report();
  write_report(r, dir / "run");
  CHECK(load_report(dir / "run").run == "runs/ft");
  CHECK(load_report(dir / "run" / "report.json").method == "lora");
  fs::create_directories(dir / "empty_run");
  CHECK_THROWS_AS(load_report(dir / "empty_run"), BadInput);
  CHECK_THROWS_WITH(load_report(dir / "empty_run"),
                    Contains("holds no report.json") && Contains("plinth eval"));
  CHECK_THROWS_WITH(load_report(dir / "nowhere.json"), Contains("does not exist"));
}

TEST_CASE("write_report writes report.json, report.md and report.svg", "[eval][report]") {
  test::TempDir dir;
  ForgettingReport r = sample_report();
  write_report(r, dir / "run");
  for (const char* name : {"report.json", "report.md", "report.svg"}) CHECK(fs::exists(dir / "run" / name));

  std::string md = read_file(dir / "run" / "report.md");
  for (const char* domain : {"| literature |", "| code |", "| law |"}) CHECK_THAT(md, Contains(domain));
  CHECK_THAT(md, Contains("+10.00%"));  // code's forgetting
  CHECK_THAT(md, Contains("worst domain: code (+10.00%)"));
  CHECK_THAT(md, Contains("task gain +75.00%"));
  CHECK_THAT(md, Contains("5.0% | 80.0% | +75.0 points"));
  CHECK_THAT(md, Contains("`a\\|b c`"));  // a pipe cannot break the samples table
  CHECK_THAT(md, Contains("max forgetting 5%, code 2%"));

  std::string svg = read_file(dir / "run" / "report.svg");
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(count(svg, "class=\"bar\"") == 2 * r.domains.size());  // base and tuned per domain
  CHECK_THAT(svg, Contains(">+10.0%<"));
  for (const char* domain : {">literature<", ">code<", ">law<"}) CHECK_THAT(svg, Contains(domain));
  // Well-formed enough for a browser: every element that opens is closed.
  CHECK(count(svg, "<text") == count(svg, "</text>"));
  CHECK(count(svg, "<rect class=\"bar\"") == count(svg, "</rect>"));
}

TEST_CASE("svg charts: bars and scatter points, non-finite values left out", "[eval][report]") {
  BarChart bars;
  bars.series = {"base", "tuned"};
  bars.groups = {{"a", {1.0, 1.2}, "+20%"}, {"b & c", {0.5, std::nan("")}, "n/a"}};
  std::string svg = render_svg(bars);
  CHECK(count(svg, "class=\"bar\"") == 3);
  CHECK_THAT(svg, Contains("b &amp; c"));

  ScatterChart scatter;
  scatter.points = {{"full", 8.0, 70.0}, {"lora", 2.0, 55.0}, {"broken", std::nan(""), 1.0}};
  svg = render_svg(scatter);
  CHECK(count(svg, "class=\"point\"") == 2);
  CHECK_THAT(svg, Contains(">lora<"));
  CHECK(svg.find("broken") == std::string::npos);
}

}  // namespace plinth::eval
