// The forgetting budget a CI gate enforces (`plinth gate`), from the recipe's `gate:` section
// and/or command-line flags. No torch here.
//
//   gate:
//     max_forgetting: 5%         # every domain: tuned bits/byte at most 5% above base
//     max_mean_forgetting: 3%    # the macro average over domains
//     domains: {code: 2%}        # per-domain budgets, replacing max_forgetting for that domain
//     baseline: runs/main/report.json   # an earlier report.json (relative: working directory)
//     tolerance: 0.5%            # points each domain's (and the mean) forgetting may exceed the baseline's
//     min_task_gain: 10%         # task loss at least 10% below the base model's
//     max_kl: 0.05               # every domain: mean KL(base || tuned) at most 0.05 nats per token
//     max_acc_drop: {arc-mini: 2}   # a capability suite's acc at most 2 points below the base's
//     confidence: 95%            # of the intervals the checks read (default: the report's)
//
// Every check reads the figure's interval (the report's paired bootstrap, gate.h): a breach is
// an interval wholly beyond the limit; an estimate beyond it whose interval still reaches back
// within is "inconclusive", which fails only with --strict.
// Percentages are written "5%" or "5" (both mean five percent; "0.5%" is half a percent).
// `plinth eval` copies the recipe's thresholds into report.json, so `plinth gate REPORT` with no
// flags enforces them; flags override them one by one (merge_thresholds).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/config_node.h"
#include "util/config_section.h"

namespace plinth::eval {

struct GateThresholds {
  std::optional<double> max_forgetting_pct;       // per domain, unless the domain has its own
  std::optional<double> max_mean_forgetting_pct;  // mean over domains
  // Per-domain budgets in the order written; a name appears once (a later entry replaces).
  std::vector<std::pair<std::string, double>> domain_max_pct;
  std::string baseline;                     // path of an earlier report.json; "" = none
  std::optional<double> tolerance_pct;      // percentage points over the baseline; needs baseline (default 0)
  std::optional<double> min_task_gain_pct;  // minimum relative task-loss reduction
  std::optional<double> max_kl;             // per domain, mean KL(base || tuned), nats per token
  std::optional<double> confidence;         // of the intervals, in (0, 1); default: the report's
  // Per capability suite (eval.suites): the most its acc may fall, base to tuned, in points.
  std::vector<std::pair<std::string, double>> suite_max_drop_points;

  // Nothing to check at all.
  bool empty() const;
  // The budget of one domain: its own entry, else max_forgetting_pct.
  std::optional<double> domain_limit(const std::string& domain) const;
  // Adds or replaces a per-domain budget.
  void set_domain(const std::string& domain, double pct);
  // Adds or replaces a suite's acc budget.
  void set_suite_drop(const std::string& suite, double points);
};

// "5%", "5", "0.5 %", "-1%" -> percent. False for anything else (empty, "5%%", "five", NaN).
bool parse_percent(std::string_view text, double& out);

// "code=2%" -> {"code", 2}. Throws BadInput naming `what` (e.g. "--domain") for bad syntax;
// `unit` names what follows '=' in messages ("PERCENT", or "POINTS" for --max-acc-drop).
std::pair<std::string, double> parse_domain_threshold(std::string_view text, const std::string& what,
                                                      const std::string& unit = "PERCENT");

// `over`'s values replace `base`'s one by one; per-domain budgets are merged by name.
GateThresholds merge_thresholds(const GateThresholds& base, const GateThresholds& over);

// Problems that make a set of thresholds meaningless (not a breach): a tolerance without a
// baseline, a negative tolerance, a non-finite value. `where` names the source ("--tolerance",
// "recipe gate:", "report.json"). Throws BadInput listing them all.
void validate_thresholds(const GateThresholds& t, const std::string& where);

// Binds the recipe's `gate:` mapping. `node` is the same mapping `s` reads (or null when the
// section is absent): ConfigSection cannot list its keys, and `domains:` is keyed by domain
// name. Problems go to s's Diagnostics (bad percentages, tolerance without baseline, unknown keys).
//   ConfigSection g = root.child("gate");
//   eval::bind(g, recipe.loaded.root.find("gate"), thresholds);
void bind(ConfigSection& s, const ConfigNode* node, GateThresholds& t);

// "max forgetting 5%, code 2%, baseline runs/a/report.json + 0.5 points": one line for logs.
std::string describe_thresholds(const GateThresholds& t);

}  // namespace plinth::eval
