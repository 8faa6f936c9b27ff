// The CI gate: thresholds parsed from text and from a recipe, every check with value and limit,
// breaches listed, and bad input (not a breach) when the thresholds cannot apply to the report.
#include <catch2/catch.hpp>

#include <cmath>
#include <nlohmann/json.hpp>

#include "eval/gate.h"
#include "recipe/recipe_loader.h"
#include "test_support.h"
#include "util/atomic_file.h"

namespace plinth::eval {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

// A report with the given forgetting per domain (base 1.0 bits/byte each), task loss 2 -> 1.5.
ForgettingReport report_with(const std::vector<std::pair<std::string, double>>& forgetting_pct) {
  EvalReport base, tuned;
  for (const auto& [name, pct] : forgetting_pct) {
    DomainScore b;
    b.name = name;
    b.bytes = 1000;
    b.tokens = 300;
    b.nll = 1000 * std::log(2.0);  // 1 bit per byte
    DomainScore t = b;
    t.nll *= 1 + pct / 100;
    base.domains.push_back(b);
    tuned.domains.push_back(t);
  }
  TaskResult task;
  task.name = "arith";
  task.examples = 10;
  task.base_loss = 2.0;
  task.tuned_loss = 1.5;  // gain 25%
  task.base_exact_match = 0;
  task.tuned_exact_match = 0.5;
  return make_forgetting_report({"run", "recipe", "lora"}, base, tuned, task);
}

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

TEST_CASE("gate passes within budget and lists each check", "[eval][gate]") {
  ForgettingReport r = report_with({{"literature", 1.0}, {"code", 3.0}});
  GateResult g = check_gate(r, max_forgetting(5));
  CHECK(g.passed());
  REQUIRE(g.checks.size() == 2);
  CHECK_THAT(g.checks[0], Contains("literature: forgetting 1.0% <= 5.0% budget"));
  CHECK_THAT(g.checks[1], Contains("code: forgetting 3.0% <= 5.0% budget"));
}

TEST_CASE("gate breaches: per domain, mean, task gain", "[eval][gate]") {
  ForgettingReport r = report_with({{"literature", 1.0}, {"code", 7.3}, {"law", 6.0}});
  GateThresholds t = max_forgetting(5);
  t.max_mean_forgetting_pct = 4;
  t.min_task_gain_pct = 30;
  GateResult g = check_gate(r, t);
  CHECK_FALSE(g.passed());
  REQUIRE(g.breaches.size() == 4);
  CHECK(g.breaches[0] == "code: forgetting 7.3% > 5.0% budget");
  CHECK(g.breaches[1] == "law: forgetting 6.0% > 5.0% budget");
  CHECK(g.breaches[2] == "mean forgetting 4.8% > 4.0% budget");
  CHECK(g.breaches[3] == "task gain 25.0% < 30.0% minimum");
  CHECK(g.checks.size() == 5);  // 3 domains, the mean, the task
  CHECK_THAT(g.checks[0], Contains("ok") && Contains("literature"));
  CHECK_THAT(g.checks[1], Contains("BREACH") && Contains("code"));

  GateBreached e(g);
  CHECK_THAT(std::string(e.what()),
             Contains("forgetting gate: 4 breaches") && Contains("\n  code: forgetting 7.3%"));
  CHECK(dynamic_cast<const Failure*>(&e));  // exit 1, not bad input
}

TEST_CASE("gate: a per-domain budget replaces the general one", "[eval][gate]") {
  ForgettingReport r = report_with({{"literature", 4.0}, {"code", 2.5}});
  GateThresholds t = max_forgetting(5);
  t.set_domain("code", 2);
  GateResult g = check_gate(r, t);
  REQUIRE(g.breaches.size() == 1);
  CHECK(g.breaches[0] == "code: forgetting 2.5% > 2.0% budget");

  // A domain budget alone checks only that domain.
  GateThresholds only_code;
  only_code.set_domain("code", 3);
  g = check_gate(r, only_code);
  CHECK(g.passed());
  CHECK(g.checks.size() == 1);

  // Close values get the decimals that tell them apart.
  ForgettingReport close = report_with({{"code", 2.04}});
  only_code.set_domain("code", 2.0);
  g = check_gate(close, only_code);
  REQUIRE(g.breaches.size() == 1);
  CHECK(g.breaches[0] == "code: forgetting 2.04% > 2.00% budget");
}

TEST_CASE("gate: baseline with tolerance", "[eval][gate]") {
  ForgettingReport before = report_with({{"literature", 1.0}, {"code", 3.0}});
  ForgettingReport now = report_with({{"literature", 1.4}, {"code", 3.8}});
  GateThresholds t;
  t.baseline = "old/report.json";
  t.tolerance_pct = 0.5;
  GateResult g = check_gate(now, t, &before);
  REQUIRE(g.breaches.size() == 2);
  CHECK(g.breaches[0] == "code: forgetting 3.8% vs baseline 3.0%: +0.8 points > 0.5 tolerance");
  CHECK(g.breaches[1] == "mean forgetting 2.6% vs baseline 2.0%: +0.6 points > 0.5 tolerance");
  CHECK_THAT(g.checks[0],
             Contains("literature: forgetting 1.4% vs baseline 1.0%: +0.4 points <= 0.5 tolerance"));

  t.tolerance_pct = 1.0;
  CHECK(check_gate(now, t, &before).passed());
  t.tolerance_pct.reset();  // default: no worse than the baseline at all
  CHECK(check_gate(before, t, &before).passed());
  CHECK(check_gate(now, t, &before).breaches.size() == 3);
}

TEST_CASE("gate: a NaN forgetting (diverged model) is a breach", "[eval][gate]") {
  ForgettingReport r = report_with({{"code", 1.0}});
  r.domains[0].forgetting_pct = std::nan("");
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
}

TEST_CASE("run_gate loads the baseline; another schema version is bad input", "[eval][gate]") {
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
  CHECK_THROWS_WITH(run_gate(before, t), Contains("has schema 7; this plinth reads schema 1"));

  t.baseline = (dir / "missing.json").string();
  CHECK_THROWS_WITH(run_gate(before, t), Contains("does not exist"));
}

TEST_CASE("recipe gate: section binds every key; flags override it", "[eval][gate]") {
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
)",
                               diag);
  CHECK(diag.empty());
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
  }
}

}  // namespace plinth::eval
