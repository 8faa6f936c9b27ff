// Variants of a fine-tuned model scored on the forgetting report's own documents and task
// examples, against the same base: what to do about the forgetting a report shows.
//   interpolation  θ(α) = (1 − α)·θ_base + α·θ_tuned for each α of eval.interpolate (WiSE-FT):
//                  the curve of task gain against forgetting between base (α = 0) and tuned (1)
//   attribution    the tuned model with one part (a block, the embeddings, the final norm, for
//                  LoRA a projection kind) put back to the base's weights (eval.attribute,
//                  plinth attribute): how much forgetting each domain recovers, how much task
//                  gain is lost
// Only the measured columns are stored (each variant's summed NLL per scored document and per
// task example, its exact answers); every figure and interval is derived from them and from the
// report's own columns, with the report's bootstrap replicates (the same seeds), so a variant's
// change against the tuned model (recovered forgetting, lost gain) has a paired interval.
// No torch here.
//
// report.json: "interpolation" and "attribution", each null or a list of
//   {"label": str, "alpha": number | null, "unchanged": bool (a part the fine-tune left alone:
//    nothing scored), "domain_nll": {domain: [per document]}, "task_nll": [per example] | null,
//    "task_correct": [per example] | null,
//    derived: "mean_forgetting_pct", "mean_forgetting_ci", "worst_domain", "worst_forgetting_pct",
//    "worst_forgetting_ci", "mean_recovered_pts", "mean_recovered_ci", "task_gain_pct",
//    "task_gain_ci", "task_gain_lost_pts", "task_gain_lost_ci", "exact_match",
//    "domains": {domain: {"forgetting_pct", "forgetting_ci", "recovered_pts", "recovered_ci"}}}
#pragma once

#include <limits>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "eval/bootstrap.h"

namespace plinth {
struct ScatterPoint;
}

namespace plinth::eval {

struct ForgettingReport;
class JsonReader;

struct VariantDomain {
  double forgetting_pct = std::numeric_limits<double>::quiet_NaN();  // the variant against the base
  Interval forgetting_ci;
  double recovered_pts = std::numeric_limits<double>::quiet_NaN();  // tuned's forgetting - the variant's
  Interval recovered_ci;
};

struct ReportVariant {
  // Measured.
  std::string label;                                        // "α=0.25", "block 2", "embeddings", ...
  double alpha = std::numeric_limits<double>::quiet_NaN();  // interpolation only
  bool unchanged = false;  // attribution: the part has the base's weights already (nothing scored)
  std::map<std::string, std::vector<double>> domain_nll;  // per report domain: per document, nats
  std::vector<double> task_nll;                           // per task example; empty = not scored
  std::vector<bool> task_correct;                         // per task example; empty = not generated

  // Derived (derive_variants), at the report's confidence.
  std::vector<VariantDomain> domains;  // in the report's domain order
  double mean_forgetting_pct = std::numeric_limits<double>::quiet_NaN();
  Interval mean_forgetting_ci;
  std::string worst_domain;
  double worst_forgetting_pct = std::numeric_limits<double>::quiet_NaN();
  Interval worst_forgetting_ci;
  double mean_recovered_pts = std::numeric_limits<double>::quiet_NaN();
  Interval mean_recovered_ci;
  double task_gain_pct = std::numeric_limits<double>::quiet_NaN();  // as TaskResult::gain_pct
  Interval task_gain_ci;
  double task_gain_lost_pts = std::numeric_limits<double>::quiet_NaN();  // tuned's gain - the variant's
  Interval task_gain_lost_ci;
  double exact_match = std::numeric_limits<double>::quiet_NaN();  // fraction; NaN when not generated
};

// Every variant's figures from its columns and the report's (derive() calls it last). A domain
// or the task whose columns a variant lacks (or holds in another length) is left n/a.
void derive_variants(ForgettingReport& report);

// report.json's two lists (null when empty), and reading them back (measured keys only).
void add_variants_json(const ForgettingReport& report, nlohmann::json& j);
// BadInput (via `reader`) for columns that do not match the report's documents or examples. Read
// after the report's domains and task.
void read_variants_json(const nlohmann::json& j, const JsonReader& reader, ForgettingReport& report);

// The two sections of report.md ("" when the report has neither).
std::string variants_markdown(const ForgettingReport& report);

// Task gain against mean forgetting, a point per α with both intervals, joined from α = 0 to 1
// (interpolation.svg). "" without interpolation.
std::string interpolation_svg(const ForgettingReport& report);
// Parts x domains: forgetting recovered by restoring each part, with a column for the task gain
// it costs (attribution.svg). "" without attribution.
std::string attribution_svg(const ForgettingReport& report);

// `plinth report`: the interpolation curves of several runs on one chart (x mean forgetting, y
// task gain), one colour per run, so that e.g. LoRA at α = 1 and full at α = 0.5 can be compared
// at equal forgetting; a run without one (and with a task) is drawn as its tuned model's point.
// "" when no run has an interpolation.
struct LabelledReport {
  std::string label;
  const ForgettingReport* report = nullptr;
};
std::string interpolation_overlay_svg(const std::vector<LabelledReport>& runs);
// One report's tuned model as a chart point: x mean forgetting, y task gain (NaN without a
// task), both intervals as error bars. The overlay and `plinth report`'s comparison chart use it.
ScatterPoint tuned_point(const ForgettingReport& report, std::string label);

}  // namespace plinth::eval
