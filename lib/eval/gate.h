// The CI gate: a forgetting report checked against a budget (gate_spec.h). Every check is
// listed with its measured value and limit; a breach is a failed check. `plinth gate` exits 0
// when nothing is breached, 1 on breaches (GateBreached), 2 on bad input. No torch here.
//
// Checks, in this order:
//   per domain     forgetting_pct <= its budget (domains: entry, else max_forgetting)
//   mean           mean_forgetting_pct <= max_mean_forgetting
//   baseline       per domain and mean: forgetting_pct <= baseline's + tolerance (points)
//   task           task gain_pct >= min_task_gain
// A non-finite measurement (a diverged tuned model) breaches every check it takes part in.
#pragma once

#include <string>
#include <vector>

#include "eval/forgetting_report.h"
#include "eval/gate_spec.h"
#include "util/error.h"

namespace plinth::eval {

struct GateResult {
  std::vector<std::string> breaches;  // "code: forgetting 7.3% > 2.0% budget"
  std::vector<std::string> checks;    // every check, passed or not, in order, for the log
  bool passed() const { return breaches.empty(); }
};

// Checks `report` against `t`; `baseline` is the report t.baseline names (null when none).
// BadInput (not a breach) when: no threshold is set at all; a domain named in t.domain_max_pct
// is not in the report; t.baseline is set but `baseline` is null; the baseline's domains differ
// from the report's; min_task_gain is set but the report has no task; a tolerance has no baseline.
GateResult check_gate(const ForgettingReport& report, const GateThresholds& t,
                      const ForgettingReport* baseline = nullptr);

// Loads the baseline t.baseline names (load_report: BadInput when missing, malformed or of
// another schema), then check_gate.
GateResult run_gate(const ForgettingReport& report, const GateThresholds& t);

// Thrown by `plinth gate` when a check fails: a Failure (exit 1) whose message lists every breach.
class GateBreached : public Failure {
 public:
  explicit GateBreached(const GateResult& result);
};

}  // namespace plinth::eval
