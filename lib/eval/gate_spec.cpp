#include "eval/gate_spec.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

#include "eval/eval_spec.h"
#include "util/text.h"

namespace plinth::eval {

bool GateThresholds::empty() const {
  return !max_forgetting_pct && !max_mean_forgetting_pct && domain_max_pct.empty() && baseline.empty() &&
         !min_task_gain_pct && !max_kl && suite_max_drop_points.empty();
}

std::optional<double> GateThresholds::domain_limit(const std::string& domain) const {
  for (const auto& [name, pct] : domain_max_pct)
    if (name == domain) return pct;
  return max_forgetting_pct;
}

namespace {

// A per-name limit, in the order first written; a later entry of the same name replaces it.
void set_named(std::vector<std::pair<std::string, double>>& limits, const std::string& name, double v) {
  for (auto& [n, value] : limits)
    if (n == name) {
      value = v;
      return;
    }
  limits.emplace_back(name, v);
}

}  // namespace

void GateThresholds::set_domain(const std::string& domain, double pct) {
  set_named(domain_max_pct, domain, pct);
}

void GateThresholds::set_suite_drop(const std::string& suite, double points) {
  set_named(suite_max_drop_points, suite, points);
}

bool parse_percent(std::string_view text, double& out) {
  std::string_view t = trim(text);
  if (!t.empty() && t.back() == '%') t = trim(t.substr(0, t.size() - 1));
  // Plain decimal notation only: strtod alone would also take "nan", "inf" and hex floats.
  if (t.empty() || t.find_first_not_of("0123456789+-.eE") != std::string_view::npos) return false;
  std::string number(t);
  char* end = nullptr;
  double v = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(v)) return false;
  out = v;
  return true;
}

std::pair<std::string, double> parse_domain_threshold(std::string_view text, const std::string& what,
                                                      const std::string& unit) {
  const bool points = unit == "POINTS";
  const std::string hint =
      points ? "write SUITE=POINTS, e.g. arc-mini=2" : "write DOMAIN=PERCENT, e.g. code=2%";
  const char* name_of = points ? "SUITE" : "DOMAIN";
  size_t eq = text.find('=');
  if (eq == std::string_view::npos)
    throw BadInput(fmt::format("{} '{}': expected {}={}", what, text, name_of, unit), hint);
  std::string name(trim(text.substr(0, eq)));
  if (name.empty())
    throw BadInput(fmt::format("{} '{}': the {} name is empty", what, text, points ? "suite" : "domain"),
                   hint);
  double pct = 0;
  if (!parse_percent(text.substr(eq + 1), pct))
    throw BadInput(fmt::format("{} '{}': '{}' is not a {}", what, text, text.substr(eq + 1),
                               points ? "number of points" : "percentage"),
                   hint);
  return {name, pct};
}

GateThresholds merge_thresholds(const GateThresholds& base, const GateThresholds& over) {
  GateThresholds t = base;
  if (over.max_forgetting_pct) t.max_forgetting_pct = over.max_forgetting_pct;
  if (over.max_mean_forgetting_pct) t.max_mean_forgetting_pct = over.max_mean_forgetting_pct;
  for (const auto& [name, pct] : over.domain_max_pct) t.set_domain(name, pct);
  if (!over.baseline.empty()) t.baseline = over.baseline;
  if (over.tolerance_pct) t.tolerance_pct = over.tolerance_pct;
  if (over.min_task_gain_pct) t.min_task_gain_pct = over.min_task_gain_pct;
  if (over.max_kl) t.max_kl = over.max_kl;
  if (over.confidence) t.confidence = over.confidence;
  for (const auto& [name, points] : over.suite_max_drop_points) t.set_suite_drop(name, points);
  return t;
}

void validate_thresholds(const GateThresholds& t, const std::string& where) {
  std::vector<Problem> problems;
  auto bad = [&](std::string key, std::string message, std::string hint) {
    problems.push_back(Problem{Location{where}, std::move(key), std::move(message), std::move(hint)});
  };
  auto finite = [&](const char* key, const std::optional<double>& v) {
    if (v && !std::isfinite(*v)) bad(key, "is not a finite number", "write a percentage such as 5%");
  };
  finite("max_forgetting", t.max_forgetting_pct);
  finite("max_mean_forgetting", t.max_mean_forgetting_pct);
  finite("tolerance", t.tolerance_pct);
  finite("min_task_gain", t.min_task_gain_pct);
  if (t.max_kl && !(std::isfinite(*t.max_kl) && *t.max_kl >= 0))
    bad("max_kl", fmt::format("{} is not a KL divergence (nats per token, 0 or more)", *t.max_kl),
        "write e.g. max_kl: 0.05");
  if (t.confidence && !(*t.confidence > 0 && *t.confidence < 1))
    bad("confidence", fmt::format("{} is outside (0, 1)", *t.confidence), "write e.g. 0.95 (or 95%)");
  for (const auto& [name, pct] : t.domain_max_pct)
    if (!std::isfinite(pct))
      bad("domains." + name, "is not a finite number", "write a percentage such as 2%");
  for (const auto& [name, points] : t.suite_max_drop_points)
    if (!std::isfinite(points))
      bad("max_acc_drop." + name, "is not a finite number", "write points of accuracy such as 2");
  if (t.tolerance_pct && *t.tolerance_pct < 0)
    bad("tolerance", fmt::format("{}% is negative", *t.tolerance_pct),
        "the tolerance is how many points forgetting may exceed the baseline's: 0 or more");
  if (t.tolerance_pct && t.baseline.empty())
    bad("tolerance", "a tolerance without a baseline report",
        "name the earlier report.json to compare with (--baseline / gate.baseline)");
  if (!problems.empty()) throw BadInput(std::move(problems));
}

void bind(ConfigSection& s, const ConfigNode* node, GateThresholds& t) {
  auto percent = [&](ConfigSection& section, std::string_view key, std::optional<double>& out) {
    std::string text;
    if (!section.read(key, text)) return;
    double v = 0;
    if (!parse_percent(text, v)) {
      section.error(key, fmt::format("'{}' is not a percentage", text), "write e.g. 5% (or 5)");
      return;
    }
    out = v;
  };
  percent(s, "max_forgetting", t.max_forgetting_pct);
  percent(s, "max_mean_forgetting", t.max_mean_forgetting_pct);
  percent(s, "tolerance", t.tolerance_pct);
  percent(s, "min_task_gain", t.min_task_gain_pct);
  double kl = 0;
  if (s.read("max_kl", kl, Range<double>::at_least(0))) t.max_kl = kl;
  std::string confidence;
  if (s.read("confidence", confidence)) {
    double c = 0;
    if (parse_fraction(confidence, c))
      t.confidence = c;
    else
      s.error("confidence", fmt::format("'{}' is not a fraction between 0 and 1 (exclusive)", confidence),
              "write e.g. 95% (or 0.95)");
  }
  s.read("baseline", t.baseline);
  if (t.tolerance_pct && *t.tolerance_pct < 0)
    s.error("tolerance", fmt::format("{}% is negative", *t.tolerance_pct),
            "the tolerance is how many points forgetting may exceed the baseline's: 0 or more");
  if (t.tolerance_pct && t.baseline.empty())
    s.error("tolerance", "a tolerance without a baseline report",
            "add gate.baseline: the earlier report.json to compare with");

  // A mapping keyed by name (a domain, a suite) of percentages or points.
  auto named = [&](const char* key, const char* what, const char* example, auto set) {
    ConfigSection section = s.child(key);
    const ConfigNode* map = node && node->is_map() ? node->find(key) : nullptr;
    if (!section.present() || !map || !map->is_map()) return;
    for (const auto& entry : map->entries()) {
      std::optional<double> v;
      if (entry.second.is_null()) {
        section.ignore(entry.first);
        section.error(entry.first, what, "write e.g. " + entry.first + ": " + example);
        continue;
      }
      percent(section, entry.first, v);
      if (v) set(entry.first, *v);
    }
    section.finish();
  };
  named("domains", "no percentage given", "2%",
        [&](const std::string& name, double v) { t.set_domain(name, v); });
  named("max_acc_drop", "no points given", "2",
        [&](const std::string& name, double v) { t.set_suite_drop(name, v); });
  s.finish();
}

std::string describe_thresholds(const GateThresholds& t) {
  std::vector<std::string> parts;
  if (t.max_forgetting_pct) parts.push_back(fmt::format("max forgetting {:g}%", *t.max_forgetting_pct));
  for (const auto& [name, pct] : t.domain_max_pct) parts.push_back(fmt::format("{} {:g}%", name, pct));
  if (t.max_mean_forgetting_pct)
    parts.push_back(fmt::format("max mean forgetting {:g}%", *t.max_mean_forgetting_pct));
  if (!t.baseline.empty())
    parts.push_back(fmt::format("baseline {} + {:g} points", t.baseline, t.tolerance_pct.value_or(0)));
  if (t.min_task_gain_pct) parts.push_back(fmt::format("min task gain {:g}%", *t.min_task_gain_pct));
  if (t.max_kl) parts.push_back(fmt::format("max KL {:g} nats/token", *t.max_kl));
  for (const auto& [name, points] : t.suite_max_drop_points)
    parts.push_back(fmt::format("{} acc drop at most {:g} points", name, points));
  if (t.confidence) parts.push_back(fmt::format("confidence {:g}%", 100 * *t.confidence));
  if (parts.empty()) return "no thresholds";
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

}  // namespace plinth::eval
