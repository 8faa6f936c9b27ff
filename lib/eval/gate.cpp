#include "eval/gate.h"

#include <fmt/format.h>

#include <cmath>

#include "util/text.h"

namespace plinth::eval {

namespace {

// A problem with no file position (its message names the file).
Problem problem(std::string message, std::string hint) {
  Problem p;
  p.message = std::move(message);
  p.hint = std::move(hint);
  return p;
}

// The two numbers with the fewest decimals (1 to 4) that still tell them apart, so a
// breach never reads "2.0% > 2.0%".
std::pair<std::string, std::string> pair_text(double measured, double limit, const char* unit) {
  auto text = [unit](double v, int d) {
    return std::isfinite(v) ? fmt::format("{:.{}f}{}", v, d, unit) : std::string("n/a");
  };
  int d = 1;
  while (d < 4 && measured != limit && text(measured, d) == text(limit, d)) ++d;
  return {text(measured, d), text(limit, d)};
}

// Passes when value <= limit (or >= for a minimum); a non-finite value never passes.
bool within(double value, double limit, bool is_minimum) {
  if (!std::isfinite(value)) return false;
  return is_minimum ? value >= limit : value <= limit;
}

void record(GateResult& result, bool ok, std::string line) {
  result.checks.push_back(fmt::format("{} {}", ok ? "ok    " : "BREACH", line));
  if (!ok) result.breaches.push_back(std::move(line));
}

std::string names(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& n : list) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

GateResult check_gate(const ForgettingReport& report, const GateThresholds& t,
                      const ForgettingReport* baseline) {
  if (t.empty())
    throw BadInput("no gate thresholds: nothing to check",
                   "give a budget, e.g. plinth gate REPORT --max-forgetting 5%, or add a gate: section "
                   "(max_forgetting: 5%) to the fine-tuning recipe and run plinth eval again");
  validate_thresholds(t, "gate");

  std::vector<std::string> report_domains;
  for (const auto& d : report.domains) report_domains.push_back(d.name);
  std::vector<Problem> problems;
  for (const auto& [name, pct] : t.domain_max_pct)
    if (!report.find_domain(name)) {
      std::string hint = did_you_mean(name, report_domains);
      problems.push_back(
          problem(fmt::format("the thresholds name domain '{}', which the report does not hold "
                              "(its domains: {})",
                              name, names(report_domains)),
                  hint.empty() ? "fix the domain name in --domain / gate.domains" : hint));
    }
  if (!t.baseline.empty() && !baseline)
    problems.push_back(problem(fmt::format("the baseline report {} was not loaded", t.baseline), ""));
  if (baseline) {
    std::vector<std::string> missing, extra;
    for (const auto& d : report.domains)
      if (!baseline->find_domain(d.name)) missing.push_back(d.name);
    for (const auto& d : baseline->domains)
      if (!report.find_domain(d.name)) extra.push_back(d.name);
    const std::string hint = "compare with a baseline evaluated on the same domains, or drop the baseline";
    if (!missing.empty())
      problems.push_back(problem(
          fmt::format("the baseline {} lacks domains of the report: {}", t.baseline, names(missing)), hint));
    if (!extra.empty())
      problems.push_back(problem(
          fmt::format("the report lacks domains of the baseline {}: {}", t.baseline, names(extra)), hint));
  }
  if (t.min_task_gain_pct && !report.task)
    problems.push_back(
        problem("min_task_gain is set but the report holds no task results",
                "evaluate the fine-tuned run with its task (plinth eval), or drop min_task_gain"));
  if (!problems.empty()) throw BadInput(std::move(problems));

  GateResult result;
  for (const auto& d : report.domains) {
    std::optional<double> limit = t.domain_limit(d.name);
    if (!limit) continue;
    bool ok = within(d.forgetting_pct, *limit, false);
    auto [v, l] = pair_text(d.forgetting_pct, *limit, "%");
    record(result, ok, fmt::format("{}: forgetting {} {} {} budget", d.name, v, ok ? "<=" : ">", l));
  }
  if (t.max_mean_forgetting_pct) {
    bool ok = within(report.mean_forgetting_pct, *t.max_mean_forgetting_pct, false);
    auto [v, l] = pair_text(report.mean_forgetting_pct, *t.max_mean_forgetting_pct, "%");
    record(result, ok, fmt::format("mean forgetting {} {} {} budget", v, ok ? "<=" : ">", l));
  }
  if (baseline) {
    const double tolerance = t.tolerance_pct.value_or(0);
    auto compare = [&](const std::string& what, double now, double before) {
      double excess = now - before;
      bool ok = std::isfinite(before) ? within(excess, tolerance, false) : std::isfinite(now);
      auto [e, tol] = pair_text(excess, tolerance, "");
      auto [n, b] = pair_text(now, before, "%");
      record(result, ok,
             fmt::format("{} {} vs baseline {}: {}{} points {} {} tolerance", what, n, b,
                         std::isfinite(excess) && excess >= 0 ? "+" : "", e, ok ? "<=" : ">", tol));
    };
    for (const auto& d : report.domains)
      compare(d.name + ": forgetting", d.forgetting_pct, baseline->find_domain(d.name)->forgetting_pct);
    compare("mean forgetting", report.mean_forgetting_pct, baseline->mean_forgetting_pct);
  }
  if (t.min_task_gain_pct) {
    double gain = report.task_gain_pct();
    bool ok = within(gain, *t.min_task_gain_pct, true);
    auto [v, l] = pair_text(gain, *t.min_task_gain_pct, "%");
    record(result, ok, fmt::format("task gain {} {} {} minimum", v, ok ? ">=" : "<", l));
  }
  return result;
}

GateResult run_gate(const ForgettingReport& report, const GateThresholds& t) {
  if (t.baseline.empty()) return check_gate(report, t, nullptr);
  ForgettingReport baseline = load_report(t.baseline);
  return check_gate(report, t, &baseline);
}

static std::string breach_message(const GateResult& result) {
  std::string out = fmt::format("forgetting gate: {} breach{}", result.breaches.size(),
                                result.breaches.size() == 1 ? "" : "es");
  for (const auto& b : result.breaches) out += "\n  " + b;
  return out;
}

GateBreached::GateBreached(const GateResult& result) : Failure(breach_message(result)) {}

}  // namespace plinth::eval
