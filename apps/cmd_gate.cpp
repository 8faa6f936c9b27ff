// plinth gate REPORT [--max-forgetting 5%] [--domain code=2% ...] [--max-acc-drop SUITE=POINTS ...]
// [--baseline OLD --tolerance 0.5%]:
// the CI gate. Prints every check with its measured value and limit; exit 0 within budget,
// 1 when a check fails (the breaches listed on stderr), 2 on bad input.
#include <fmt/format.h>

#include <cmath>
#include <optional>
#include <string>

#include "command.h"
#include "eval/eval_spec.h"
#include "eval/gate.h"
#include "util/error.h"
#include "util/log.h"

namespace plinth {

namespace {

struct GateArgs {
  std::string report;
  std::string max_forgetting, max_mean_forgetting, tolerance, min_task_gain, confidence;
  std::string max_kl;  // "" = not given
  bool strict = false;
  std::vector<std::string> domains;
  std::vector<std::string> acc_drops;  // SUITE=POINTS
  std::string baseline;
};

std::optional<double> percent_flag(const std::string& flag, const std::string& text) {
  if (text.empty()) return std::nullopt;
  double v = 0;
  if (!eval::parse_percent(text, v))
    throw BadInput(fmt::format("{} '{}' is not a percentage", flag, text), "write e.g. 5% (or 5), 0.5%");
  return v;
}

void run_gate(const GateArgs& a) {
  eval::ForgettingReport report = eval::load_report(a.report);

  eval::GateThresholds flags;
  flags.max_forgetting_pct = percent_flag("--max-forgetting", a.max_forgetting);
  flags.max_mean_forgetting_pct = percent_flag("--max-mean-forgetting", a.max_mean_forgetting);
  flags.tolerance_pct = percent_flag("--tolerance", a.tolerance);
  flags.min_task_gain_pct = percent_flag("--min-task-gain", a.min_task_gain);
  for (const auto& d : a.domains) {
    auto [name, pct] = eval::parse_domain_threshold(d, "--domain");
    flags.set_domain(name, pct);
  }
  for (const auto& d : a.acc_drops) {
    auto [name, points] = eval::parse_domain_threshold(d, "--max-acc-drop", "POINTS");
    flags.set_suite_drop(name, points);
  }
  flags.baseline = a.baseline;
  if (!a.max_kl.empty()) {
    double kl = -1;
    size_t used = 0;
    try {
      kl = std::stod(a.max_kl, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != a.max_kl.size() || !(std::isfinite(kl) && kl >= 0))
      throw BadInput(fmt::format("--max-kl {} is not a KL budget (nats per token, 0 or more)", a.max_kl),
                     "write e.g. --max-kl 0.05");
    flags.max_kl = kl;
  }
  if (!a.confidence.empty()) {
    double c = 0;
    if (!eval::parse_fraction(a.confidence, c))
      throw BadInput(
          fmt::format("--confidence '{}' is not a fraction between 0 and 1 (exclusive)", a.confidence),
          "write e.g. 0.95 (or 95%)");
    flags.confidence = c;
  }

  const eval::GateThresholds t = merge_thresholds(report.gate.value_or(eval::GateThresholds{}), flags);
  eval::GateResult result = eval::run_gate(report, t, a.strict);

  fmt::print("gate: {} (run {}, method {})\n", eval::report_path(a.report).string(),
             report.run.empty() ? "n/a" : report.run, report.method.empty() ? "n/a" : report.method);
  fmt::print("thresholds: {}{}\n", eval::describe_thresholds(t),
             report.gate ? (flags.empty() ? " (from the recipe)" : " (recipe, then flags)") : "");
  for (const auto& c : result.checks) fmt::print("  {}\n", c);
  if (!result.passed()) {
    std::fflush(stdout);  // the checks first, then the breaches on stderr
    throw eval::GateBreached(result);
  }
  fmt::print(
      "passed: {} check{}, {} inconclusive (beyond the limit but within the noise; --strict fails them)\n",
      result.checks.size(), result.checks.size() == 1 ? "" : "s", result.inconclusive.size());
}

}  // namespace

void add_gate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "gate",
      "CI gate: exit 1 when a fine-tune forgot more than its budget (exit 0 within it, 2 on bad input)");
  static GateArgs a;
  cmd->add_option("report", a.report, "report.json of a fine-tuned run (or its run directory)")->required();
  cmd->add_option("--max-forgetting", a.max_forgetting, "Budget for every domain, e.g. 5% (or 5)");
  cmd->add_option("--max-mean-forgetting", a.max_mean_forgetting,
                  "Budget for the mean over domains, e.g. 3%");
  cmd->add_option("--domain", a.domains, "A domain's own budget, DOMAIN=PERCENT (repeatable), e.g. code=2%");
  cmd->add_option("--max-acc-drop", a.acc_drops,
                  "A capability suite's budget, SUITE=POINTS (repeatable): its acc may fall at most this "
                  "many points, e.g. arc-mini=2");
  cmd->add_option("--baseline", a.baseline,
                  "An earlier report.json: forgetting may not exceed its by more than --tolerance");
  cmd->add_option("--tolerance", a.tolerance, "Points over the baseline allowed, e.g. 0.5% (default 0)");
  cmd->add_option("--min-task-gain", a.min_task_gain,
                  "Minimum task gain (relative task-loss reduction), e.g. 10%");
  cmd->add_option(
      "--max-kl", a.max_kl,
      "Per domain: maximum mean KL(base || tuned) of the next-token distributions, nats per token");
  cmd->add_option("--confidence", a.confidence,
                  "Confidence of the intervals the checks read, e.g. 0.95 (default: the report's)");
  cmd->add_flag("--strict", a.strict,
                "Inconclusive checks (beyond the limit, but not beyond the noise) fail too");
  cmd->footer(
      "Example:\n"
      "  plinth gate runs/ft-lora/report.json --max-forgetting 5% --domain code=2%\n"
      "  plinth gate runs/ft-lora --baseline ci/baseline/report.json --tolerance 0.5%\n"
      "  plinth gate runs/ft-lora --max-forgetting 5% --min-task-gain 10% --max-kl 0.05 --strict\n"
      "  plinth gate runs/ft-lora --max-acc-drop cloze-prose=2 --max-acc-drop arc-mini=3\n"
      "Thresholds of the recipe's gate: section (copied into report.json by plinth eval) apply when\n"
      "no flag is given; each flag overrides its recipe value. Forgetting of a domain is\n"
      "100 * (tuned - base) / base bits per byte on its sampled validation documents.\n"
      "Every check reads the figure's paired bootstrap interval: BREACH when the whole interval is\n"
      "beyond the limit, 'inconclusive' when only the estimate is (a failure only with --strict).\n"
      "--tolerance is in percentage points: against --baseline, the paired difference of forgetting\n"
      "on the documents both scored must not exceed it beyond the noise, and each capability\n"
      "suite's accuracy may not fall below the baseline's by more than it.\n"
      "--max-acc-drop reads a suite's acc (lm-evaluation-harness's multiple-choice accuracy) on\n"
      "base and tuned: the drop, 100 * (base - tuned) points, through its paired interval.\n"
      "exit 0: all within budget, 1: breaches (listed on stderr), 2: bad input (unreadable report,\n"
      "a schema-1 report without intervals, a domain the report lacks, a baseline scored on other\n"
      "documents, no thresholds at all).");
  cmd->callback([] { run_gate(a); });
}

}  // namespace plinth
