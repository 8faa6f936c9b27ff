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

// Base and tuned scores of one domain on the same 4 documents of 250 bytes, at exactly these bits
// per byte (every document alike, so the intervals collapse onto the figures).
std::pair<DomainScore, DomainScore> scored(const std::string& name, double base_bpb, double tuned_bpb) {
  DomainScore b = domain(name, base_bpb), t = domain(name, tuned_bpb);
  DocumentScores& d = b.docs;
  d.paired = true;
  for (uint64_t i = 0; i < 4; ++i) {
    d.index.push_back(10 * i);
    d.first_token.push_back(0);
    d.tokens.push_back(100);
    d.bytes.push_back(250);
    d.words.push_back(0);
    d.base_nll.push_back(base_bpb * 250 * std::log(2.0));
    d.tuned_nll.push_back(tuned_bpb * 250 * std::log(2.0));
    d.kl.push_back(base_bpb == tuned_bpb ? 0.0 : 5.0);
    d.agree.push_back(base_bpb == tuned_bpb ? 100 : 90);
  }
  b.documents = t.documents = 4;
  t.docs = d;
  return {b, t};
}

EvalReport eval_of(const std::string& checkpoint, int64_t step, std::vector<DomainScore> domains) {
  EvalReport r;
  r.checkpoint = checkpoint;
  r.step = step;
  r.domains = std::move(domains);
  return r;
}

// 20 examples of 2 tokens: loss 2.0 -> 0.5, exact match 1 -> 16 of them.
TaskResult arithmetic_task() {
  TaskResult t;
  t.name = "arith";
  for (uint64_t i = 0; i < 20; ++i) {
    t.index.push_back(i * 3);
    t.tokens.push_back(2);
    t.base_nll.push_back(4.0);
    t.tuned_nll.push_back(1.0);
    t.base_correct.push_back(i == 0);
    t.tuned_correct.push_back(i < 16);
    // How far tuned moved on each example: KL 0.075 and agreement 75% per completion token,
    // 0.002 and 100% per prompt token.
    t.kl.push_back(0.1 * double(i % 4));
    t.agree.push_back(i % 2 ? 2 : 1);
    t.prompt_tokens.push_back(5);
    t.prompt_kl.push_back(0.01);
    t.prompt_agree.push_back(5);
  }
  t.samples.push_back({"12+30=", "42", "7", "42", false, true});
  t.samples.push_back({"a|b\nc", "x", "", "y", false, false});  // Markdown-hostile text
  return t;
}

ForgettingReport sample_report() {
  auto [lb, lt] = scored("literature", 2.0, 2.02);
  auto [cb, ct] = scored("code", 1.0, 1.1);
  auto [wb, wt] = scored("law", 1.6, 1.6);
  EvalReport base = eval_of("runs/pre/best.ckpt", 1000, {lb, cb, wb});
  EvalReport tuned = eval_of("runs/ft/step_300.ckpt", 300, {ct, lt, wt});
  GateThresholds g;
  g.max_forgetting_pct = 5;
  g.set_domain("code", 2);
  return make_forgetting_report({"runs/ft", "arith-lora", "lora"}, base, tuned, arithmetic_task(), g);
}

using test::occurrences;

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
  CHECK(r.task->examples == 20);
  // Every document alike: the intervals are the figures themselves.
  CHECK(r.has_intervals());
  CHECK(r.domains[1].forgetting_ci.lo == Approx(10.0));
  CHECK(r.domains[1].forgetting_ci.hi == Approx(10.0));
  CHECK(r.domains[1].delta_bpb_ci.lo == Approx(0.1));
  CHECK(r.mean_forgetting_ci.lo == Approx(11.0 / 3));
  CHECK(r.worst_forgetting_ci.hi == Approx(10.0));
  CHECK(r.domains[1].kl == Approx(0.05));
  CHECK(r.domains[1].top1_agreement == Approx(0.9));
  CHECK(r.domains[2].kl == 0);
  CHECK(r.domains[2].top1_agreement == 1);
  // One domain unchanged is no warning (all of them is); 4 documents a domain are too few.
  REQUIRE(r.flags.size() == 3);
  CHECK_THAT(r.flags[0], Contains("domain 'literature' was scored on only 4 documents"));
  REQUIRE(r.gate);
  CHECK(r.gate->domain_limit("code") == 2.0);
  CHECK(r.gate->domain_limit("law") == 5.0);
}

TEST_CASE("make_forgetting_report: negative forgetting, NaN tuned values, no task", "[eval][report]") {
  auto [ab, at] = scored("a", 2.0, 1.5);
  auto [bb, bt] = scored("b", 1.0, 1.0);
  bt.nll = std::nan("");
  bt.docs.tuned_nll[2] = std::nan("");
  EvalReport base = eval_of("b", 1, {ab, bb});
  EvalReport tuned = eval_of("t", 2, {at, bt});
  ForgettingReport r = make_forgetting_report({"run", "r", "full"}, base, tuned, std::nullopt);
  CHECK(r.domains[0].forgetting_pct == Approx(-25.0));  // improved
  CHECK(std::isnan(r.domains[1].forgetting_pct));
  CHECK(std::isnan(r.mean_forgetting_pct));
  CHECK(r.worst_domain == "b");  // a NaN is the worst there is
  CHECK(std::isnan(r.task_gain_pct()));
  CHECK_FALSE(r.domains[1].forgetting_ci.known());
  CHECK_FALSE(r.mean_forgetting_ci.known());
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
  j["domains"][1]["forgetting_ci"] = {0.0, 0.0};
  j["domains"][1]["tuned_bpb"] = 1.0;
  j["overall"]["mean_forgetting_pct"] = 0.0;
  ForgettingReport edited = parse_report_json(j.dump(), "report.json");
  CHECK(edited.domains[1].forgetting_pct == Approx(10.0));
  CHECK(edited.domains[1].forgetting_ci.lo == Approx(10.0));
  CHECK(edited.mean_forgetting_pct == Approx(11.0 / 3));
  // ... and the per-document columns are what the report holds.
  CHECK(j["domains"][1]["per_document"]["index"] == nlohmann::json::array({0, 10, 20, 30}));
  CHECK(j["task"]["per_example"]["index"].size() == 20);
  CHECK(j["sample"]["confidence"] == 0.95);
}

TEST_CASE("report.json says the evaluation's precision; older reports were float32", "[eval][report]") {
  ForgettingReport r = sample_report();
  r.sample.precision = "bf16";
  const std::string text = report_json(r);
  auto j = nlohmann::json::parse(text);
  CHECK(j["sample"]["precision"] == "bf16");
  CHECK(parse_report_json(text, "r.json").sample.precision == "bf16");
  CHECK_THAT(report_markdown(r), Contains("with bf16 weights (eval.precision)"));
  CHECK_THAT(report_markdown(sample_report()), !Contains("bf16"));
  j["sample"].erase("precision");
  CHECK(parse_report_json(j.dump(), "old.json").sample.precision == "fp32");
  j["sample"]["precision"] = "fp8";
  CHECK_THROWS_WITH(parse_report_json(j.dump(), "r.json"),
                    Contains("'sample.precision' is 'fp8', not fp32 or bf16"));
}

TEST_CASE("the task's own KL and agreement: per token, with intervals, and absent from older reports",
          "[eval][report]") {
  ForgettingReport r = sample_report();
  REQUIRE(r.task);
  REQUIRE(r.task->has_divergence());
  CHECK(r.task->kl_per_token == Approx(0.075));
  CHECK(r.task->top1_agreement == Approx(0.75));
  CHECK(r.task->prompt_kl_per_token == Approx(0.002));
  CHECK(r.task->prompt_top1_agreement == Approx(1.0));
  // The examples differ in KL, so the interval has width and holds the value.
  CHECK(r.task->kl_ci.lo < r.task->kl_per_token);
  CHECK(r.task->kl_ci.hi > r.task->kl_per_token);
  CHECK(r.task->prompt_agreement_ci.lo == Approx(1.0));  // every example agrees everywhere

  auto j = nlohmann::json::parse(report_json(r));
  CHECK(j["task"]["kl"].get<double>() == Approx(0.075));
  CHECK(j["task"]["prompt_top1_agreement"].get<double>() == Approx(1.0));
  CHECK(j["task"]["per_example"]["prompt_tokens"].size() == 20);
  const std::string md = report_markdown(r);
  CHECK_THAT(md, Contains("| completions | 0.0750 [") && Contains("| 75.0% [") &&
                     Contains("| prompts | 0.0020 [") && Contains("| 100.0% [100.0, 100.0] |"));

  // A derived figure edited in the file does not stick: the columns decide.
  j["task"]["kl"] = 0.0;
  CHECK(parse_report_json(j.dump(), "r.json").task->kl_per_token == Approx(0.075));

  SECTION("a report without the columns reads, and writes none") {
    for (const char* key : {"kl", "agree", "prompt_tokens", "prompt_kl", "prompt_agree"})
      j["task"]["per_example"].erase(key);
    ForgettingReport old = parse_report_json(j.dump(), "r.json");
    REQUIRE(old.task);
    CHECK_FALSE(old.task->has_divergence());
    CHECK(std::isnan(old.task->kl_per_token));
    CHECK(old.task_gain_pct() == Approx(75.0));
    auto again = nlohmann::json::parse(report_json(old));
    CHECK_FALSE(again["task"].contains("kl"));
    CHECK_FALSE(again["task"]["per_example"].contains("kl"));
    CHECK_THAT(report_markdown(old), !Contains("| completions |"));
  }
  SECTION("columns of another length are refused") {
    j["task"]["per_example"]["prompt_kl"].erase(0);
    CHECK_THROWS_WITH(parse_report_json(j.dump(), "r.json"), Contains("task.per_example.prompt_kl"));
  }
  SECTION("more agreeing positions than positions") {
    j["task"]["per_example"]["agree"][3] = 3;  // of 2 completion tokens
    CHECK_THROWS_WITH(parse_report_json(j.dump(), "r.json"), Contains("example 3 agrees on more positions"));
  }
}

TEST_CASE("intervals: a paired bootstrap over documents, seeded, narrower than unpaired", "[eval][report]") {
  // Documents of very different difficulty, each forgetting about 5%: the pairing removes the
  // spread between documents, so the interval of forgetting is narrow although bits per byte vary.
  DomainScore b = domain("code", 1.0), t = domain("code", 1.0);
  DocumentScores& d = b.docs;
  d.paired = true;
  for (uint64_t i = 0; i < 60; ++i) {
    const double base = (0.5 + double(i % 7)) * 250 * std::log(2.0);
    d.index.push_back(i);
    d.first_token.push_back(0);
    d.tokens.push_back(100);
    d.bytes.push_back(250);
    d.words.push_back(0);
    d.base_nll.push_back(base);
    d.tuned_nll.push_back(base * (1.05 + (i % 2 ? 0.01 : -0.01)));
    d.kl.push_back(1.0);
    d.agree.push_back(95);
  }
  t.docs = d;
  b.documents = t.documents = 60;
  ForgettingReport r = make_forgetting_report({}, eval_of("b", 1, {b}), eval_of("t", 2, {t}), std::nullopt);
  const DomainForgetting& f = r.domains[0];
  CHECK(f.forgetting_pct == Approx(5.0).margin(0.2));
  CHECK(f.forgetting_ci.lo < f.forgetting_pct);
  CHECK(f.forgetting_ci.hi > f.forgetting_pct);
  CHECK(f.forgetting_ci.half_width() < 0.5);
  CHECK(f.forgetting_replicates.size() == 1000);
  // The same seed gives the same interval; another seed another (but close) one.
  ForgettingReport again =
      make_forgetting_report({}, eval_of("b", 1, {b}), eval_of("t", 2, {t}), std::nullopt);
  CHECK(again.domains[0].forgetting_ci.lo == f.forgetting_ci.lo);
  SampleInfo other;
  other.seed = 9;
  ForgettingReport reseeded = make_forgetting_report({}, eval_of("b", 1, {b}), eval_of("t", 2, {t}),
                                                     std::nullopt, std::nullopt, other);
  CHECK(reseeded.domains[0].forgetting_ci.lo != f.forgetting_ci.lo);
  CHECK(reseeded.domains[0].forgetting_ci.lo == Approx(f.forgetting_ci.lo).margin(0.2));
  // A wider confidence gives a wider interval.
  ForgettingReport wide = r;
  wide.sample.confidence = 0.99;
  derive(wide);
  CHECK(wide.domains[0].forgetting_ci.half_width() > f.forgetting_ci.half_width());
}

TEST_CASE("a tuned model that predicts exactly as the base is flagged", "[eval][report]") {
  auto [ab, at] = scored("a", 2.0, 2.0);
  auto [bb, bt] = scored("b", 1.0, 1.0);
  ForgettingReport r = make_forgetting_report({"run", "r", "lora"}, eval_of("b", 1, {ab, bb}),
                                              eval_of("t", 2, {at, bt}), std::nullopt);
  REQUIRE(r.flags.size() == 3);  // and two domains of too few documents
  CHECK_THAT(r.flags[0], Contains("equal the base's on every scored token") && Contains("adapter"));
  CHECK_THAT(report_markdown(r), Contains("**Warning:**"));
  ForgettingReport back = parse_report_json(report_json(r), "r.json");
  CHECK(back.flags == r.flags);  // derived once, not repeated on reading
}

TEST_CASE("a schema-1 report is read, without intervals", "[eval][report]") {
  auto j = nlohmann::json::parse(report_json(sample_report()));
  j["schema"] = 1;
  j.erase("sample");
  for (auto& d : j["domains"]) d.erase("per_document");
  j["task"].erase("per_example");
  ForgettingReport old = parse_report_json(j.dump(), "old.json");
  CHECK(old.schema == 1);
  CHECK_FALSE(old.has_intervals());
  CHECK(old.domains[1].forgetting_pct == Approx(10.0));
  CHECK_FALSE(old.domains[1].forgetting_ci.known());
  CHECK(old.task_gain_pct() == Approx(75.0));
  CHECK_THAT(report_markdown(old), Contains("no per-document scores, so no intervals"));
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
    j["schema"] = 4;
    CHECK_THROWS_AS(parse_report_json(j.dump(), "old/report.json"), BadInput);
    CHECK_THROWS_WITH(parse_report_json(j.dump(), "old/report.json"),
                      Contains("report old/report.json has schema 4; this plinth reads schemas 1 to 3"));
  }
  SECTION("schema 2, before capability suites, is still read; schema 3 must list its suites") {
    auto j = nlohmann::json::parse(good);
    REQUIRE(j["schema"] == 3);
    REQUIRE(j["suites"].is_array());
    j.erase("suites");
    CHECK_THROWS_WITH(parse_report_json(j.dump(), "new/report.json"), Contains("key 'suites' is missing"));
    j["schema"] = 2;
    const ForgettingReport old = parse_report_json(j.dump(), "old/report.json");
    CHECK(old.schema == 2);
    CHECK(old.suites.empty());
    CHECK(old.has_intervals());
  }
  SECTION("per-document columns of different lengths") {
    auto j = nlohmann::json::parse(good);
    j["domains"][0]["per_document"]["kl"].erase(0);
    CHECK_THROWS_WITH(parse_report_json(j.dump(), "r.json"),
                      Contains("'domains[0].per_document.kl' has 3 entries where 4 were expected"));
  }
  SECTION("no schema: e.g. an eval.json given by mistake") {
    CHECK_THROWS_WITH(parse_report_json("{\"checkpoint\": \"x\"}", "eval.json"),
                      Contains("report eval.json has no schema version"));
  }
  SECTION("a missing key names its path") {
    auto j = nlohmann::json::parse(good);
    j["domains"][2]["per_document"].erase("tuned_nll");
    CHECK_THROWS_AS(parse_report_json(j.dump(), "r.json"), BadInput);
    CHECK_THROWS_WITH(parse_report_json(j.dump(), "r.json"),
                      Contains("key 'domains[2].per_document.tuned_nll' is missing"));
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
  CHECK_THAT(md, Contains("worst domain: code (+10.00% [+10.00, +10.00])"));
  CHECK_THAT(md, Contains("task gain +75.00% ["));
  CHECK_THAT(md, Contains("5.0% | 80.0% | +75.0 ["));
  CHECK_THAT(md, Contains("paired bootstrap intervals"));
  CHECK_THAT(md, Contains("`a\\|b c`"));  // a pipe cannot break the samples table
  CHECK_THAT(md, Contains("max forgetting 5%, code 2%"));

  std::string svg = read_file(dir / "run" / "report.svg");
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(occurrences(svg, "class=\"bar\"") == 2 * r.domains.size());  // base and tuned per domain
  CHECK_THAT(svg, Contains(">+10.0% [+10.0, +10.0]<"));
  CHECK(occurrences(svg, "class=\"error\"") == r.domains.size());  // the tuned bar's interval
  for (const char* domain : {">literature<", ">code<", ">law<"}) CHECK_THAT(svg, Contains(domain));
  // Well-formed enough for a browser: every element that opens is closed.
  CHECK(occurrences(svg, "<text") == occurrences(svg, "</text>"));
  CHECK(occurrences(svg, "<rect class=\"bar\"") == occurrences(svg, "</rect>"));
}

TEST_CASE("svg charts: bars and scatter points, non-finite values left out", "[eval][report]") {
  BarChart bars;
  bars.series = {"base", "tuned"};
  bars.groups = {{"a", {1.0, 1.2}, "+20%", {}}, {"b & c", {0.5, std::nan("")}, "n/a", {}}};
  std::string svg = render_svg(bars);
  CHECK(occurrences(svg, "class=\"bar\"") == 3);
  CHECK_THAT(svg, Contains("b &amp; c"));

  ScatterChart scatter;
  scatter.points = {{"full", 8.0, 70.0}, {"lora", 2.0, 55.0}, {"broken", std::nan(""), 1.0}};
  svg = render_svg(scatter);
  CHECK(occurrences(svg, "class=\"point\"") == 2);
  CHECK_THAT(svg, Contains(">lora<"));
  CHECK(svg.find("broken") == std::string::npos);
}

}  // namespace plinth::eval
