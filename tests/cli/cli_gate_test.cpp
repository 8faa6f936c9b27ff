// `plinth gate` and `plinth report` on report.json files written here by hand, following the
// schema documented in lib/eval/forgetting_report.h: exit 0 within budget, 1 on a breach (each
// one listed), 2 on bad input; the comparison table and plot of several runs.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <functional>

#include <fmt/format.h>

#include "cli_fixture.h"
#include "util/atomic_file.h"

using plinth::test::CliFixture;
namespace fs = std::filesystem;
using Catch::Contains;

namespace {

// A report.json of schema 2 as plinth eval writes it: 20 documents of 1000 bytes per domain at
// 1 bit/byte for the base, the tuned model's NLL (1 + pct / 100) times the base's give or take
// 0.1-0.3%, and 20 task examples (loss 2 -> 2 * (1 - gain), exact match 10% -> 70%). Schema 1:
// the figures without their per-document columns.
std::string report_json(const std::string& run, const std::string& method, double literature_pct,
                        double code_pct, double task_gain_pct, const std::string& gate = "null",
                        int schema = 2) {
  auto list = [](size_t n, const std::function<std::string(size_t)>& f) {
    std::string out;
    for (size_t i = 0; i < n; ++i) out += (i ? ", " : "") + f(i);
    return "[" + out + "]";
  };
  const double ln2 = std::log(2.0);
  auto domain = [&](const char* name, double pct) {
    if (schema == 1)
      return fmt::format(R"({{"name": "{}", "base_bpb": 1.0, "tuned_bpb": {}}})", name, 1.0 + pct / 100);
    auto tuned = [&](size_t i) {
      return fmt::format("{:.17g}",
                         1000 * ln2 * (1 + pct / 100 + (i % 2 ? 1 : -1) * 0.001 * double(1 + (i / 2) % 3)));
    };
    return fmt::format(
        R"({{"name": "{}", "per_document": {{"index": {}, "first_token": {}, "tokens": {}, "bytes": {},
            "base_nll": {}, "tuned_nll": {}, "kl": {}, "agree": {}}}}})",
        name, list(20, [](size_t i) { return std::to_string(i); }), list(20, [](size_t) { return "0"; }),
        list(20, [](size_t) { return "300"; }), list(20, [](size_t) { return "1000"; }),
        list(20, [&](size_t) { return fmt::format("{:.17g}", 1000 * ln2); }), list(20, tuned),
        list(20, [&](size_t) { return fmt::format("{}", 3 * pct); }), list(20, [](size_t) { return "280"; }));
  };
  const double tuned_loss = 2.0 * (1 - task_gain_pct / 100);
  std::string per_example =
      schema == 1
          ? ""
          : fmt::format(
                R"("per_example": {{"index": {}, "tokens": {}, "base_nll": {}, "tuned_nll": {}, "base_correct": {},
          "tuned_correct": {}}},)",
                list(20, [](size_t i) { return std::to_string(i); }), list(20, [](size_t) { return "2"; }),
                list(20, [](size_t) { return "4.0"; }),
                list(
                    20,
                    [&](size_t i) { return fmt::format("{:.17g}", 2 * tuned_loss * (i % 2 ? 1.01 : 0.99)); }),
                list(20, [](size_t i) { return i < 2 ? "true" : "false"; }),
                list(20, [](size_t i) { return i < 14 ? "true" : "false"; }));
  std::string sample = schema == 1 ? "" : R"("sample": {"seed": 0, "confidence": 0.95, "resamples": 1000,
      "target_ci": 0.01, "max_tokens": 65536, "min_documents": 30, "max_document_tokens": 0}, "flags": [],)";
  return fmt::format(R"({{
  "schema": {schema}, {sample}
  "run": "{run}", "recipe": "arith-{method}", "method": "{method}",
  "base": {{"checkpoint": "runs/pre/best.ckpt", "step": 1000}},
  "tuned": {{"checkpoint": "{run}/checkpoints/step_300.ckpt", "step": 300}},
  "domains": [{lit}, {code}],
  "overall": {{}},
  "task": {{"name": "arith", "examples": 20, "base_loss": 2.0, "tuned_loss": {tuned_loss},
            "base_exact_match": 0.1, "tuned_exact_match": 0.7, {per_example}
            "samples": [{{"prompt": "1+2=", "reference": "3", "base_output": "7", "tuned_output": "3",
                         "base_correct": false, "tuned_correct": true}}]}},
  "gate": {gate}
}}
)",
                     fmt::arg("schema", schema), fmt::arg("sample", sample), fmt::arg("run", run),
                     fmt::arg("method", method), fmt::arg("lit", domain("literature", literature_pct)),
                     fmt::arg("code", domain("code", code_pct)), fmt::arg("tuned_loss", tuned_loss),
                     fmt::arg("per_example", per_example), fmt::arg("gate", gate));
}

void expect(const CliFixture& f, const std::string& args, int code, const std::vector<std::string>& needles) {
  auto r = f.plinth(args);
  INFO("plinth " << args << "\n" << r.output);
  CHECK(r.exit_code == code);
  for (const auto& n : needles) CHECK_THAT(r.output, Contains(n));
}

}  // namespace

TEST_CASE("plinth gate: exit 0 within budget, 1 with each breach listed", "[cli][gate]") {
  CliFixture f;
  f.dir().write("runs/lora/report.json", report_json("runs/lora", "lora", 1.0, 7.3, 40));

  expect(
      f, "gate runs/lora/report.json --max-forgetting 8%", 0,
      {"literature: forgetting 1.0% [", "] <= 8.0% budget", "code: forgetting 7.3% [", "passed: 2 checks"});
  // A run directory works as well as its report.json.
  expect(f, "gate runs/lora --max-forgetting 5 --domain literature=0.5% --min-task-gain 50%", 1,
         {"BREACH       literature: forgetting 1.0% [", "forgetting gate: 3 breaches",
          "  literature: forgetting 1.0% [", "] > 0.5% budget", "  code: forgetting 7.3% [",
          "] > 5.0% budget", "  task gain 40.0% [", "] < 50.0% minimum"});
  auto r = f.plinth("gate runs/lora --max-forgetting 5%");
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("internal") == std::string::npos);
  CHECK_THAT(r.output, Contains("failed: forgetting gate: 1 breach\n  code: forgetting 7.3% ["));
  // Beyond the budget only within the noise: inconclusive, exit 0 unless --strict.
  expect(f, "gate runs/lora --max-forgetting 7.28%", 0,
         {"inconclusive code: forgetting 7.30% [", "1 inconclusive"});
  expect(f, "gate runs/lora --max-forgetting 7.28% --strict", 1, {"inconclusive, failed by --strict"});
  expect(f, "gate runs/lora --max-kl 0.02", 1,
         {"code: KL 0.0730 [0.0730, 0.0730] > 0.0200 nats/token limit"});
  expect(f, "gate runs/lora --max-forgetting 7.28% --confidence 0.1", 1, {"code: forgetting 7.30% ["});
}

TEST_CASE("plinth gate: thresholds from the recipe in report.json, flags override", "[cli][gate]") {
  CliFixture f;
  const std::string gate = R"({"max_forgetting_pct": 5, "max_mean_forgetting_pct": null,
    "domains": {"code": 8}, "baseline": "", "tolerance_pct": null, "min_task_gain_pct": null})";
  f.dir().write("run/report.json", report_json("run", "lora", 1.0, 7.3, 40, gate));
  expect(f, "gate run", 0, {"(from the recipe)", "code: forgetting 7.3% [", "] <= 8.0% budget"});
  expect(f, "gate run --domain code=2%", 1,
         {"(recipe, then flags)", "code: forgetting 7.3% [", "] > 2.0% budget"});
}

TEST_CASE("plinth gate: baseline and tolerance", "[cli][gate]") {
  CliFixture f;
  f.dir().write("main/report.json", report_json("main", "lora", 1.0, 3.0, 40));
  f.dir().write("pr/report.json", report_json("pr", "lora", 1.3, 3.8, 40));
  expect(
      f, "gate pr --baseline main/report.json --tolerance 1%", 0,
      {"code: forgetting 3.8% vs baseline 3.0% on 20 common documents: 0.8 [", "] <= 1.0 points tolerance"});
  expect(
      f, "gate pr --baseline main --tolerance 0.5%", 1,
      {"forgetting gate: 2 breaches", "code: forgetting 3.8% vs baseline 3.0% on 20 common documents: 0.8 [",
       "] > 0.5 points tolerance"});
}

TEST_CASE("plinth gate: bad input exits 2", "[cli][gate]") {
  CliFixture f;
  f.dir().write("run/report.json", report_json("run", "lora", 1.0, 3.0, 40));
  SECTION("a domain the report does not hold") {
    expect(f, "gate run --max-forgetting 5% --domain cod=2%", 2,
           {"error:", "domain 'cod', which the report does not hold", "did you mean 'code'"});
  }
  SECTION("a baseline of another schema version") {
    f.dir().write("old/report.json", report_json("old", "lora", 1.0, 3.0, 40, "null", 4));
    expect(f, "gate run --baseline old/report.json --tolerance 0.5%", 2,
           {"report old/report.json has schema 4; this plinth reads schemas 1 to 3"});
  }
  SECTION("a report of schema 1 has no intervals to gate on") {
    f.dir().write("old/report.json", report_json("old", "lora", 1.0, 3.0, 40, "null", 1));
    expect(f, "gate old --max-forgetting 5%", 2,
           {"the report has no per-document scores (report schema 1)",
            "run plinth eval on its fine-tuning recipe again"});
    expect(f, "gate run --baseline old/report.json", 2,
           {"the baseline old/report.json has no per-document scores"});
  }
  SECTION("a confidence outside (0, 1)") {
    expect(f, "gate run --max-forgetting 5% --confidence 1.5", 2, {"--confidence '1.5' is not a fraction"});
    expect(f, "gate run --max-forgetting 5% --confidence 0", 2, {"--confidence '0' is not a fraction"});
  }
  SECTION("an unreadable or malformed report") {
    f.dir().write("broken/report.json", "{\"schema\": 1, \"run\": ");
    expect(f, "gate broken --max-forgetting 5%", 2, {"report broken/report.json is not valid JSON"});
    expect(f, "gate nowhere/report.json --max-forgetting 5%", 2, {"nowhere/report.json does not exist"});
    fs::create_directories(f.dir() / "empty");
    expect(f, "gate empty --max-forgetting 5%", 2, {"empty holds no report.json", "plinth eval"});
  }
  SECTION("bad threshold syntax") {
    expect(f, "gate run --max-forgetting five", 2, {"--max-forgetting 'five' is not a percentage", "hint:"});
    expect(f, "gate run --domain code:2%", 2, {"--domain 'code:2%': expected DOMAIN=PERCENT", "code=2%"});
    expect(f, "gate run --max-forgetting 5% --tolerance 0.5%", 2, {"a tolerance without a baseline report"});
  }
  SECTION("no thresholds at all") {
    expect(f, "gate run", 2, {"no gate thresholds", "--max-forgetting 5%"});
  }
}

TEST_CASE("plinth report compares runs: table and trade-off plot", "[cli][report]") {
  CliFixture f;
  f.dir().write("runs/full/report.json", report_json("runs/full", "full", 6.0, 12.0, 75));
  f.dir().write("runs/lora/report.json", report_json("runs/lora", "lora", 1.0, 2.0, 55));
  auto r = f.plinth("report runs/full runs/lora");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output,
             Contains("| run | method | task gain | exact match base → tuned | mean forgetting | worst "
                      "domain | mean KL | top-1 agreement | task KL | literature | code |"));
  CHECK_THAT(r.output, Contains("| runs/full | full | +75.0% [+7") &&
                           Contains("| 10.0% → 70.0% | +9.0% [+8.") && Contains("| code +12.0% [+11.") &&
                           Contains("| 0.0900 | 93.3% | n/a | +6.0% [+5."));
  CHECK_THAT(r.output, Contains("| runs/lora | lora | +55.0% ["));
  // Default output: the directory holding both runs.
  REQUIRE(fs::exists(f.dir() / "runs/comparison.md"));
  REQUIRE(fs::exists(f.dir() / "runs/comparison.svg"));
  // Runs written by hand have no report.html: the page links their report.json's directory's files.
  const std::string page = plinth::read_file(f.dir() / "runs/comparison.html");
  CHECK_THAT(page, Contains("<td>runs/lora</td>") && Contains("href=\"full/report.json\""));
  CHECK_THAT(plinth::read_file(f.dir() / "runs/comparison.md"), Contains("| runs/lora | lora |"));
  std::string svg = plinth::read_file(f.dir() / "runs/comparison.svg");
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK_THAT(svg, Contains("class=\"point\""));
  CHECK_THAT(svg, Contains(">runs/full (full)<"));
  CHECK_THAT(svg, Contains("mean forgetting"));
  CHECK_THAT(svg, Contains("class=\"error\""));  // the intervals as error bars
  // A schema-1 report still compares, without intervals.
  f.dir().write("runs/old/report.json", report_json("runs/old", "full", 6.0, 12.0, 75, "null", 1));
  expect(f, "report runs/old runs/lora --out cmp1", 0,
         {"| runs/old | full | +75.0% | 10.0% → 70.0% | +9.0% |"});

  expect(f, "report runs/full runs/lora --out cmp", 0, {"| runs/full |"});
  CHECK(fs::exists(f.dir() / "cmp/comparison.svg"));

  fs::create_directories(f.dir() / "runs/pending");
  expect(f, "report runs/full runs/pending", 2, {"runs/pending holds no report.json", "run plinth eval"});
}
