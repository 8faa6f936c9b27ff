// The CI gate: a forgetting report checked against a budget (gate_spec.h). Every check is
// listed with its measured value, its interval and its limit. `plinth gate` exits 0 when nothing
// is breached, 1 on breaches (GateBreached), 2 on bad input. No torch here.
//
// Each check reads the figure's paired bootstrap interval at the gate's confidence (the report's,
// or --confidence; the report's per-document columns are resampled again for another level):
//   ok            the estimate is within the limit
//   inconclusive  the estimate is beyond the limit but its interval still reaches back within it:
//                 the sample cannot tell a breach from noise. Fails only with --strict.
//   BREACH        the whole interval lies beyond the limit
// Checks, in this order:
//   per domain     forgetting_pct <= its budget (domains: entry, else max_forgetting)
//   mean           mean_forgetting_pct <= max_mean_forgetting
//   KL             per domain, mean KL(base || tuned) <= max_kl (nats per token)
//   baseline       per domain and mean: the paired difference of forgetting between this report
//                  and the baseline, resampled over the documents both scored (the same base's
//                  sample: same seed and shards), <= tolerance (percentage points)
//   suites         per suite of max_acc_drop: 100 * (base acc - tuned acc) <= its points, read
//                  through the interval of the paired change over questions; with a baseline,
//                  every suite both reports hold: the acc the tuned model lost against the
//                  baseline's tuned model on the questions both scored <= tolerance (points)
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
  std::vector<std::string> breaches;      // "code: forgetting 7.3% [6.1, 8.4] > 2.0% budget"
  std::vector<std::string> inconclusive;  // beyond the limit, but not beyond the noise
  std::vector<std::string> checks;        // every check, in order, for the log
  bool strict = false;                    // inconclusive checks fail too
  bool passed() const { return breaches.empty() && (!strict || inconclusive.empty()); }
};

// Checks `report` against `t`; `baseline` is the report t.baseline names (null when none).
// BadInput (not a breach) when: no threshold is set at all; the report (or baseline) has no
// per-document scores (schema 1: run plinth eval again); a domain named in t.domain_max_pct
// is not in the report; t.baseline is set but `baseline` is null; the baseline's domains differ
// from the report's, or it scored other documents (another seed or other shards: each domain
// and how many documents differ are named), or other questions of a suite; a suite of
// max_acc_drop the report does not hold; min_task_gain is set but the report has no task;
// a tolerance has no baseline.
GateResult check_gate(const ForgettingReport& report, const GateThresholds& t,
                      const ForgettingReport* baseline = nullptr, bool strict = false);

// Loads the baseline t.baseline names (load_report: BadInput when missing, malformed or of
// another schema), then check_gate.
GateResult run_gate(const ForgettingReport& report, const GateThresholds& t, bool strict = false);

// Thrown by `plinth gate` when a check fails: a Failure (exit 1) whose message lists every breach
// (and, with --strict, every inconclusive check).
class GateBreached : public Failure {
 public:
  explicit GateBreached(const GateResult& result);
};

}  // namespace plinth::eval
