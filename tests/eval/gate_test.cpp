// The CI gate: thresholds parsed from text and from a recipe, every check with value and limit,
// breaches listed, and bad input (not a breach) when the thresholds cannot apply to the report.
#include <algorithm>
#include <catch2/catch.hpp>

#include <cmath>
#include <nlohmann/json.hpp>

#include "eval/gate.h"
#include "recipe/recipe_loader.h"
#include "report_fixture.h"
#include "test_support.h"
#include "util/atomic_file.h"

namespace plinth::eval {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Catch::Matchers::EndsWith;
using Catch::Matchers::StartsWith;

using testing::report_with;
using testing::suite_result;

GateThresholds max_forgetting(double pct) {
  GateThresholds t;
  t.max_forgetting_pct = pct;
  return t;
}

GateThresholds bind_yaml(const std::string& yaml, Diagnostics& diag) {
  ConfigNode root = recipe::parse_yaml(yaml, "recipe.yaml");
  ConfigSection s(&root, "", diag, Location{"recipe.yaml"});
  ConfigSection g = s.child("gate");
  GateThresholds t;
  bind(g, root.find("gate"), t);
  return t;
}

}  // namespace

TEST_CASE("parse_percent and parse_domain_threshold", "[eval][gate]") {
  double v = 0;
  CHECK((parse_percent("5%", v) && v == 5));
  CHECK((parse_percent("5", v) && v == 5));
  CHECK((parse_percent(" 0.5 % ", v) && v == 0.5));
  CHECK((parse_percent("-1%", v) && v == -1));
  for (const char* bad : {"", "%", "five", "5%%", "nan", "inf", "0x10", "5 percent", "1,5%"})
    CHECK_FALSE(parse_percent(bad, v));

  auto [name, pct] = parse_domain_threshold("code=2%", "--domain");
  CHECK(name == "code");
  CHECK(pct == 2);
  CHECK_THROWS_AS(parse_domain_threshold("code:2%", "--domain"), BadInput);
  CHECK_THROWS_WITH(parse_domain_threshold("code:2%", "--domain"),
                    Contains("--domain 'code:2%': expected DOMAIN=PERCENT") && Contains("code=2%"));
  CHECK_THROWS_WITH(parse_domain_threshold("=2%", "--domain"), Contains("the domain name is empty"));
  CHECK_THROWS_WITH(parse_domain_threshold("code=lots", "--domain"), Contains("'lots' is not a percentage"));
}

TEST_CASE("gate passes within budget and lists each check with its interval", "[eval][gate]") {
  ForgettingReport r = report_with({{"literature", 1.0}, {"code", 3.0}});
  GateResult g = check_gate(r, max_forgetting(5));
  CHECK(g.passed());
  REQUIRE(g.checks.size() == 2);
  CHECK_THAT(g.checks[0],
             StartsWith("ok") && Contains("literature: forgetting 1.0% [") && Contains("] <= 5.0% budget"));
  CHECK_THAT(g.checks[1], Contains("code: forgetting 3.0% ["));
}

TEST_CASE("gate breaches: per domain, mean, KL, task gain, each beyond its interval", "[eval][gate]") {
  ForgettingReport r = report_with({{"literature", 1.0}, {"code", 7.3}, {"law", 6.0}});
  GateThresholds t = max_forgetting(5);
  t.max_mean_forgetting_pct = 4;
  t.min_task_gain_pct = 30;
  t.max_kl = 0.0165;  // the fixture's KL: 0.01 + pct / 1000 nats per token
  GateResult g = check_gate(r, t);
  CHECK_FALSE(g.passed());
  REQUIRE(g.breaches.size() == 5);
  CHECK_THAT(g.breaches[0], StartsWith("code: forgetting 7.3% [") && EndsWith("] > 5.0% budget"));
  CHECK_THAT(g.breaches[1], StartsWith("law: forgetting 6.0% ["));
  CHECK_THAT(g.breaches[2], StartsWith("mean forgetting 4.8% [") && EndsWith("] > 4.0% budget"));
  CHECK_THAT(g.breaches[3], StartsWith("code: KL 0.0173 [0.0173, 0.0173] > 0.0165 nats/token limit"));
  CHECK_THAT(g.breaches[4], StartsWith("task gain 25.0% [") && EndsWith("] < 30.0% minimum"));
  CHECK(g.checks.size() == 8);  // 3 domains, the mean, 3 KL, the task
  CHECK_THAT(g.checks[0], StartsWith("ok") && Contains("literature"));
  CHECK_THAT(g.checks[1], StartsWith("BREACH") && Contains("code"));
  for (const auto& d : r.domains) {
    CHECK(d.forgetting_ci.lo < d.forgetting_pct);
    CHECK(d.forgetting_ci.hi > d.forgetting_pct);
  }

  GateBreached e(g);
  CHECK_THAT(std::string(e.what()),
             Contains("forgetting gate: 5 breaches") && Contains("\n  code: forgetting 7.3%"));
  CHECK(dynamic_cast<const Failure*>(&e));  // exit 1, not bad input
}

TEST_CASE("gate: beyond the budget but within the noise is inconclusive - --strict fails it",
          "[eval][gate]") {
  // 5.3% with documents that scatter by several points: the interval reaches below 5%.
  ForgettingReport r = report_with({{"code", 5.3}}, 0.05);
  REQUIRE(r.domains[0].forgetting_ci.lo < 5.0);
  GateResult g = check_gate(r, max_forgetting(5));
  CHECK(g.passed());
  CHECK(g.breaches.empty());
  REQUIRE(g.inconclusive.size() == 1);
  CHECK_THAT(g.checks[0], StartsWith("inconclusive") && Contains("code: forgetting 5.3% ["));
  GateResult strict = check_gate(r, max_forgetting(5), nullptr, true);
  CHECK_FALSE(strict.passed());
  CHECK_THAT(std::string(GateBreached(strict).what()), Contains("inconclusive, failed by --strict"));

  // A lower confidence narrows the interval until it clears the budget.
  GateThresholds loose = max_forgetting(5);
  loose.confidence = 0.2;
  GateResult narrow = check_gate(r, loose);
  CHECK(narrow.breaches.size() + narrow.inconclusive.size() == 1);
  CHECK(check_gate(report_with({{"code", 5.3}}, 0.001), max_forgetting(5)).breaches.size() == 1);
}

TEST_CASE("gate: a per-domain budget replaces the general one", "[eval][gate]") {
  ForgettingReport r = report_with({{"literature", 4.0}, {"code", 2.5}}, 0.001);
  GateThresholds t = max_forgetting(5);
  t.set_domain("code", 2);
  GateResult g = check_gate(r, t);
  REQUIRE(g.breaches.size() == 1);
  CHECK_THAT(g.breaches[0], StartsWith("code: forgetting 2.5% [") && EndsWith("] > 2.0% budget"));

  // A domain budget alone checks only that domain.
  GateThresholds only_code;
  only_code.set_domain("code", 3);
  g = check_gate(r, only_code);
  CHECK(g.passed());
  CHECK(g.checks.size() == 1);

  // Close values get the decimals that tell them apart.
  ForgettingReport close = report_with({{"code", 2.04}}, 0.0001);
  only_code.set_domain("code", 2.0);
  g = check_gate(close, only_code);
  REQUIRE(g.breaches.size() == 1);
  CHECK_THAT(g.breaches[0], StartsWith("code: forgetting 2.04% [2.0") && EndsWith("] > 2.00% budget"));
}

TEST_CASE("gate: baseline compared document by document, beyond tolerance and noise", "[eval][gate]") {
  ForgettingReport before = report_with({{"literature", 1.0}, {"code", 3.0}});
  ForgettingReport now = report_with({{"literature", 1.4}, {"code", 3.8}});
  GateThresholds t;
  t.baseline = "old/report.json";
  t.tolerance_pct = 0.5;
  GateResult g = check_gate(now, t, &before);
  REQUIRE(g.breaches.size() == 2);
  CHECK_THAT(g.breaches[0],
             StartsWith("code: forgetting 3.8% vs baseline 3.0% on 40 common documents: 0.8 [") &&
                 EndsWith("] > 0.5 points tolerance"));
  CHECK_THAT(g.breaches[1], StartsWith("mean forgetting 2.6% vs baseline 2.0%: 0.6 ["));
  CHECK_THAT(g.checks[0],
             Contains("literature: forgetting 1.4% vs baseline 1.0% on 40 common documents: 0.4 [") &&
                 Contains("] <= 0.5 points tolerance"));

  t.tolerance_pct = 1.0;
  CHECK(check_gate(now, t, &before).passed());
  t.tolerance_pct.reset();  // default: no worse than the baseline at all
  CHECK(check_gate(before, t, &before).passed());
  CHECK(check_gate(now, t, &before).breaches.size() == 3);

  SECTION("a baseline that scored a prefix of the same sample: compared on the common documents") {
    EvalReport b, tu;
    for (const auto& [name, pct] :
         std::vector<std::pair<std::string, double>>{{"literature", 1.0}, {"code", 3.0}}) {
      auto [x, y] = testing::paired_domain(name, pct, 25);
      b.domains.push_back(x);
      tu.domains.push_back(y);
    }
    ForgettingReport shorter =
        make_forgetting_report({"old", "recipe", "lora"}, b, tu, testing::task_result());
    t.tolerance_pct = 1.0;
    GateResult p = check_gate(now, t, &shorter);
    CHECK(p.passed());
    CHECK_THAT(p.checks[0], Contains("on 25 common documents"));
  }
  SECTION("a baseline scored on other documents is bad input naming the domain and the counts") {
    EvalReport b, tu;
    for (const auto& [name, pct] :
         std::vector<std::pair<std::string, double>>{{"literature", 1.0}, {"code", 3.0}}) {
      auto [x, y] = testing::paired_domain(name, pct, 40, 0.01, name == "code" ? 30 : 0);
      b.domains.push_back(x);
      tu.domains.push_back(y);
    }
    ForgettingReport other = make_forgetting_report({"old", "recipe", "lora"}, b, tu, testing::task_result());
    CHECK_THROWS_AS(check_gate(now, t, &other), BadInput);
    CHECK_THROWS_WITH(
        check_gate(now, t, &other),
        Contains("domain 'code': the report and the baseline old/report.json scored other documents "
                 "(30 of the report's 40 are not in the baseline, 30 of the baseline's 40 not in the "
                 "report)") &&
            Contains("eval.seed") && !Contains("domain 'literature'"));
  }
}

TEST_CASE("gate: a NaN forgetting (diverged model) is a breach", "[eval][gate]") {
  ForgettingReport r = report_with({{"code", 1.0}});
  r.domains[0].docs.tuned_nll[3] = std::nan("");
  derive(r);
  GateResult g = check_gate(r, max_forgetting(5));
  REQUIRE(g.breaches.size() == 1);
  CHECK(g.breaches[0] == "code: forgetting n/a > 5.0% budget");
}

TEST_CASE("gate: bad input is not a breach", "[eval][gate]") {
  ForgettingReport r = report_with({{"literature", 1.0}, {"code", 3.0}});
  SECTION("no thresholds anywhere") {
    CHECK_THROWS_AS(check_gate(r, GateThresholds{}), BadInput);
    CHECK_THROWS_WITH(check_gate(r, GateThresholds{}),
                      Contains("no gate thresholds") && Contains("--max-forgetting 5%") && Contains("gate:"));
  }
  SECTION("a domain the report does not hold") {
    GateThresholds t = max_forgetting(5);
    t.set_domain("cod", 2);
    CHECK_THROWS_AS(check_gate(r, t), BadInput);
    CHECK_THROWS_WITH(check_gate(r, t), Contains("domain 'cod', which the report does not hold") &&
                                            Contains("literature, code") && Contains("did you mean 'code'"));
  }
  SECTION("a tolerance without baseline") {
    GateThresholds t = max_forgetting(5);
    t.tolerance_pct = 0.5;
    CHECK_THROWS_WITH(check_gate(r, t), Contains("a tolerance without a baseline report"));
  }
  SECTION("a confidence outside (0, 1)") {
    GateThresholds t = max_forgetting(5);
    t.confidence = 1.0;
    CHECK_THROWS_WITH(check_gate(r, t), Contains("confidence") && Contains("outside (0, 1)"));
  }
  SECTION("a baseline over other domains") {
    ForgettingReport other = report_with({{"literature", 1.0}, {"maths", 3.0}});
    GateThresholds t;
    t.baseline = "old.json";
    CHECK_THROWS_WITH(check_gate(r, t, &other),
                      Contains("the baseline old.json lacks domains of the report: code") &&
                          Contains("the report lacks domains of the baseline old.json: maths"));
  }
  SECTION("a minimum task gain on a report without task") {
    r.task.reset();
    GateThresholds t;
    t.min_task_gain_pct = 10;
    CHECK_THROWS_WITH(check_gate(r, t), Contains("the report holds no task results"));
  }
  SECTION("a report of schema 1: no intervals, so no gate") {
    auto j = nlohmann::json::parse(report_json(r));
    j["schema"] = 1;
    for (auto& d : j["domains"]) d.erase("per_document");
    ForgettingReport old = parse_report_json(j.dump(), "old.json");
    CHECK_FALSE(old.has_intervals());
    CHECK_THROWS_AS(check_gate(old, max_forgetting(5)), BadInput);
    CHECK_THROWS_WITH(
        check_gate(old, max_forgetting(5)),
        Contains("has no per-document scores (report schema 1)") && Contains("run plinth eval"));
    GateThresholds t;
    t.baseline = "old.json";
    CHECK_THROWS_WITH(check_gate(r, t, &old), Contains("the baseline old.json has no per-document scores"));
  }
}

TEST_CASE("run_gate loads the baseline - another schema version is bad input", "[eval][gate]") {
  test::TempDir dir;
  ForgettingReport before = report_with({{"literature", 1.0}, {"code", 3.0}});
  write_report(before, dir / "old");
  GateThresholds t;
  t.baseline = (dir / "old" / "report.json").string();
  t.tolerance_pct = 0.5;
  CHECK(run_gate(before, t).passed());

  auto j = nlohmann::json::parse(read_file(dir / "old" / "report.json"));
  j["schema"] = 7;
  write_file_atomic(dir / "old" / "report.json", j.dump());
  CHECK_THROWS_AS(run_gate(before, t), BadInput);
  CHECK_THROWS_WITH(run_gate(before, t), Contains("has schema 7; this plinth reads schemas 1 to 3"));

  t.baseline = (dir / "missing.json").string();
  CHECK_THROWS_WITH(run_gate(before, t), Contains("does not exist"));
}

TEST_CASE("recipe gate: section binds every key - flags override it", "[eval][gate]") {
  Diagnostics diag;
  GateThresholds t = bind_yaml(R"(gate:
  max_forgetting: 5%
  max_mean_forgetting: 3
  domains:
    code: 2%
    law: 4.5
  baseline: ci/report.json
  tolerance: 0.5%
  min_task_gain: 10%
  max_kl: 0.05
  confidence: 90%
)",
                               diag);
  CHECK(diag.empty());
  CHECK(t.max_kl == 0.05);
  CHECK(t.confidence == Approx(0.9));
  CHECK(t.max_forgetting_pct == 5.0);
  CHECK(t.max_mean_forgetting_pct == 3.0);
  REQUIRE(t.domain_max_pct.size() == 2);
  CHECK(t.domain_limit("code") == 2.0);
  CHECK(t.domain_limit("law") == 4.5);
  CHECK(t.domain_limit("maths") == 5.0);
  CHECK(t.baseline == "ci/report.json");
  CHECK(t.tolerance_pct == 0.5);
  CHECK(t.min_task_gain_pct == 10.0);

  GateThresholds flags;
  flags.max_forgetting_pct = 8;
  flags.set_domain("code", 1);
  flags.set_domain("maths", 6);
  GateThresholds m = merge_thresholds(t, flags);
  CHECK(m.max_forgetting_pct == 8.0);
  CHECK(m.domain_limit("code") == 1.0);
  CHECK(m.domain_limit("law") == 4.5);  // kept from the recipe
  CHECK(m.domain_limit("maths") == 6.0);
  CHECK(m.max_mean_forgetting_pct == 3.0);
  CHECK(m.baseline == "ci/report.json");

  Diagnostics none;
  CHECK(bind_yaml("name: x\n", none).empty());
  CHECK(none.empty());
}

TEST_CASE("recipe gate: bad values are reported together, with keys and did-you-mean", "[eval][gate]") {
  Diagnostics diag;
  bind_yaml(R"(gate:
  max_forgetting: lots
  max_forgeting_mean: 3%
  domains:
    code: 2%%
    law:
  tolerance: 1%
  confidence: 1.5
)",
            diag);
  REQUIRE_FALSE(diag.empty());
  try {
    diag.throw_if_any();
  } catch (const BadInput& e) {
    std::string m = e.what();
    CHECK_THAT(m, Contains("recipe.yaml:2:19: gate.max_forgetting: 'lots' is not a percentage"));
    CHECK_THAT(m, Contains("gate.max_forgeting_mean: unknown key"));
    CHECK_THAT(m, Contains("did you mean"));
    CHECK_THAT(m, Contains("gate.domains.code: '2%%' is not a percentage"));
    CHECK_THAT(m, Contains("gate.domains.law: no percentage given"));
    CHECK_THAT(m, Contains("gate.tolerance: a tolerance without a baseline report"));
    CHECK_THAT(m, Contains("gate.confidence: '1.5' is not a fraction between 0 and 1"));
  }
}

TEST_CASE("gate: a suite's acc drop is read through its paired interval", "[eval][gate][suite]") {
  ForgettingReport r = report_with({{"code", 1.0}});
  // 200 questions: the base answers 150, the tuned model 110 (40 lost, none gained): a 20-point drop.
  r.suites.push_back(suite_result("cloze", 200, 150, 110));
  // 200 questions, 150 -> 147: a 1.5-point drop.
  r.suites.push_back(suite_result("arc", 200, 150, 147));
  derive(r);
  REQUIRE(r.suites[0].acc_change_points() == Approx(-20.0));
  REQUIRE(r.suites[0].acc_mcnemar_p < 1e-9);
  GateThresholds t;
  t.set_suite_drop("cloze", 5);
  t.set_suite_drop("arc", 5);
  GateResult g = check_gate(r, t);
  REQUIRE(g.breaches.size() == 1);
  CHECK_THAT(g.breaches[0],
             Contains("suite cloze: acc 75.0% -> 55.0%, drop 20.0") && Contains("> 5.0 points"));
  CHECK_THAT(g.checks[1], Contains("ok") && Contains("suite arc"));
  // A drop just beyond the budget, within the noise of 200 questions: inconclusive.
  t.set_suite_drop("arc", 1);
  g = check_gate(r, t);
  CHECK(g.inconclusive.size() == 1);
  CHECK_THAT(g.inconclusive[0], Contains("suite arc"));
  // A gain passes any budget of 0 or more.
  r.suites[1] = suite_result("arc", 200, 100, 150);
  derive(r);
  t.set_suite_drop("arc", 0);
  g = check_gate(r, t);
  CHECK(g.inconclusive.empty());
  CHECK(g.breaches.size() == 1);
}

TEST_CASE("gate: a suite is read by its headline metric", "[eval][gate][suite]") {
  ForgettingReport r = report_with({{"code", 1.0}});
  // acc: 150 -> 150 of 200. Without the query the tuned model now favours choice 2 on the first 40
  // questions (gains -2, -3, +1), so acc_mutual_info falls 150 -> 110: a 20-point drop.
  SuiteResult s = suite_result("cloze", 200, 150, 150);
  s.base_ll_unconditional.assign(200, {0.0, 0.0, 0.0});
  s.tuned_ll_unconditional.assign(200, {0.0, 0.0, 0.0});
  for (size_t i = 0; i < 40; ++i) s.tuned_ll_unconditional[i] = {1.0, 0.0, -3.0};
  r.suites.push_back(s);
  derive(r);
  REQUIRE(r.suites[0].acc_change_points() == 0.0);
  REQUIRE(r.suites[0].acc_mutual_info_change_points() == Approx(-20.0));
  GateThresholds t;
  t.set_suite_drop("cloze", 5);
  CHECK(check_gate(r, t).breaches.empty());
  r.suites[0].metric = "acc_mutual_info";
  const GateResult g = check_gate(r, t);
  REQUIRE(g.breaches.size() == 1);
  CHECK_THAT(g.breaches[0], Contains("suite cloze: acc_mutual_info 75.0% -> 55.0%, drop 20.0"));
  // Against a baseline, both are read by this report's metric.
  ForgettingReport before = r;
  before.suites[0].tuned_ll_unconditional.assign(200, {0.0, 0.0, 0.0});
  derive(before);
  t.baseline = "before/report.json";
  t.tolerance_pct = 2;
  const GateResult b = check_gate(r, t, &before);
  REQUIRE(b.breaches.size() == 2);
  CHECK_THAT(b.breaches[1], Contains("suite cloze: acc_mutual_info 55.0% vs baseline 75.0%"));
  // A baseline written before acc_mutual_info existed cannot be read by it: bad input, not a pass.
  before.suites[0].base_ll_unconditional.clear();
  before.suites[0].tuned_ll_unconditional.clear();
  CHECK_THROWS_WITH(check_gate(r, t, &before),
                    Contains("suite 'cloze' is read by acc_mutual_info, but the baseline before/report.json "
                             "has no scores of its choices without the query") &&
                        Contains("evaluate the baseline's run again"));
}

TEST_CASE("gate: suites against a baseline, question by question, and unknown suites as bad input",
          "[eval][gate][suite]") {
  ForgettingReport before = report_with({{"code", 1.0}});
  before.suites.push_back(suite_result("cloze", 200, 150, 145));
  derive(before);
  ForgettingReport now = report_with({{"code", 1.0}});
  now.suites.push_back(suite_result("cloze", 200, 150, 110));
  derive(now);
  GateThresholds t;
  t.baseline = "before/report.json";
  t.tolerance_pct = 2;
  GateResult g = check_gate(now, t, &before);
  REQUIRE(g.breaches.size() == 1);
  CHECK_THAT(g.breaches[0], Contains("suite cloze: acc 55.0% vs baseline 72.5% on 200 common questions") &&
                                Contains("> 2.0 points"));
  // The baseline against itself: nothing lost.
  CHECK(check_gate(before, t, &before).passed());
  // Other questions (another seed): the comparison would mean nothing.
  ForgettingReport other = report_with({{"code", 1.0}});
  other.suites.push_back(suite_result("cloze", 200, 150, 145, 1000));
  derive(other);
  CHECK_THROWS_WITH(check_gate(now, t, &other), Contains("suite 'cloze': the report and the baseline") &&
                                                    Contains("scored other questions"));
  // A suite the report does not hold, with a did-you-mean.
  GateThresholds typo;
  typo.set_suite_drop("clozze", 2);
  CHECK_THROWS_WITH(check_gate(now, typo), Contains("suite 'clozze', which the report does not hold") &&
                                               Contains("did you mean 'cloze'"));
  ForgettingReport none = report_with({{"code", 1.0}});
  CHECK_THROWS_WITH(check_gate(none, typo), Contains("the report holds no capability suite"));
}

TEST_CASE("recipe gate: max_acc_drop binds per suite, and survives report.json", "[eval][gate][suite]") {
  Diagnostics diag;
  const GateThresholds t = bind_yaml("gate:\n  max_acc_drop: {cloze: 2, arc: 3.5}\n", diag);
  CHECK(diag.empty());
  REQUIRE(t.suite_max_drop_points.size() == 2);
  CHECK(t.suite_max_drop_points[1] == std::pair<std::string, double>{"arc", 3.5});
  CHECK_THAT(describe_thresholds(t), Contains("cloze acc drop at most 2 points"));
  ForgettingReport r = report_with({{"code", 1.0}});
  r.suites.push_back(suite_result("cloze", 20, 15, 11));
  r.gate = t;
  derive(r);
  const ForgettingReport back = parse_report_json(report_json(r), "r.json");
  REQUIRE(back.gate);
  // JSON objects keep no order: compared as sets.
  auto sorted = [](std::vector<std::pair<std::string, double>> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  CHECK(sorted(back.gate->suite_max_drop_points) == sorted(t.suite_max_drop_points));
  REQUIRE(back.suites.size() == 1);
  CHECK(back.suites[0].tuned_acc == Approx(0.55));
  CHECK(back.suites[0].acc_change_ci.lo == r.suites[0].acc_change_ci.lo);
  Diagnostics bad;
  bind_yaml("gate:\n  max_acc_drop: {cloze: }\n", bad);
  CHECK_THROWS_WITH(bad.throw_if_any(), Contains("gate.max_acc_drop.cloze: no points given"));
  CHECK_THROWS_WITH(parse_domain_threshold("cloze", "--max-acc-drop", "POINTS"),
                    Contains("--max-acc-drop 'cloze': expected SUITE=POINTS"));
}

}  // namespace plinth::eval
