// What a fine-tune forgot, domain by domain, and what it learned: the base and the tuned
// checkpoint's bits per byte on every pretraining domain (two eval::EvalReport) beside the
// task's loss and exact match. Written to <run_dir>/report.json (versioned schema, below),
// report.md and report.svg; read back by `plinth report` (run_comparison.h) and `plinth gate`
// (gate.h). No torch here.
//
// Definitions (percentages are of the base value; positive forgetting = worse after tuning):
//   forgetting_pct       = 100 * (tuned_bpb - base_bpb) / base_bpb               per domain
//   mean_forgetting_pct  = macro average of forgetting_pct (every domain weighs the same)
//   worst                = the domain with the largest forgetting_pct
//   task gain_pct        = 100 * (base_loss - tuned_loss) / base_loss            (task loss: nats per
//                          completion token; positive = learned)
//   exact_match_gain_points = 100 * (tuned_exact_match - base_exact_match)
//
// report.json, schema 1:
//   {"schema": 1, "run": str, "recipe": str, "method": str,
//    "base":  {"checkpoint": str, "step": n},      step -1 when unknown
//    "tuned": {"checkpoint": str, "step": n},
//    "domains": [{"name", "base_bpb", "tuned_bpb", "delta_bpb", "forgetting_pct"}],
//    "overall": {"domains": n, "mean_forgetting_pct", "worst_domain", "worst_forgetting_pct",
//                "mean_base_bpb", "mean_tuned_bpb"},
//    "task": null | {"name", "examples", "base_loss", "tuned_loss", "base_exact_match",
//                    "tuned_exact_match" (fractions), "gain_pct", "exact_match_gain_points",
//                    "samples": [{"prompt", "reference", "base_output", "tuned_output",
//                                 "base_correct", "tuned_correct"}]},
//    "gate": null | {"max_forgetting_pct", "max_mean_forgetting_pct", "domains": {name: pct},
//                    "baseline": str, "tolerance_pct", "min_task_gain_pct"}}   absent limits null
// A value that cannot be computed (a diverged tuned model's NaN) is null. Reading recomputes the
// derived values (delta, forgetting, mean, worst, gains) from the measured ones, so a hand-edited
// forgetting_pct cannot pass a gate its bits per byte would fail.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "eval/eval_report.h"
#include "eval/gate_spec.h"

namespace plinth::eval {

inline constexpr int kReportSchemaVersion = 1;

// One task example as each model answered it (text decoded by the caller).
struct TaskSample {
  std::string prompt, reference, base_output, tuned_output;
  bool base_correct = false, tuned_correct = false;
};

// The fine-tuning task scored on base and tuned (task_metrics.h computes it).
struct TaskResult {
  std::string name;
  uint64_t examples = 0;
  double base_loss = std::numeric_limits<double>::quiet_NaN();  // nats per completion token
  double tuned_loss = std::numeric_limits<double>::quiet_NaN();
  double base_exact_match = std::numeric_limits<double>::quiet_NaN();  // fractions in [0, 1]
  double tuned_exact_match = std::numeric_limits<double>::quiet_NaN();
  std::vector<TaskSample> samples;  // a few examples for the Markdown report

  double gain_pct() const;                 // 100 * (base_loss - tuned_loss) / base_loss
  double exact_match_gain_points() const;  // 100 * (tuned - base exact match)
};

struct DomainForgetting {
  std::string name;
  double base_bpb = 0, tuned_bpb = 0;
  double delta_bpb = 0;       // tuned - base
  double forgetting_pct = 0;  // 100 * delta / base; NaN when tuned_bpb is NaN
};

// Which run, which recipe, which method: the labels a comparison shows.
struct RunIdentity {
  std::string run;          // the run directory (or a name for it)
  std::string recipe_name;  // the fine-tuning recipe's name
  std::string method;       // how it was tuned: "full", "lora", "replay", "ewc", ... as the recipe says
};

struct ForgettingReport {
  int schema = kReportSchemaVersion;
  std::string run, recipe_name, method;
  std::string base_checkpoint, tuned_checkpoint;
  int64_t base_step = -1, tuned_step = -1;
  std::vector<DomainForgetting> domains;  // in the base report's order
  double mean_forgetting_pct = 0;         // NaN when a domain's is NaN
  std::string worst_domain;               // largest forgetting_pct (a NaN one counts as worst)
  double worst_forgetting_pct = 0;
  double mean_base_bpb = 0, mean_tuned_bpb = 0;
  std::optional<TaskResult> task;
  std::optional<GateThresholds> gate;  // the recipe's `gate:` section, when it has one

  double task_gain_pct() const;  // NaN without a task
  const DomainForgetting* find_domain(const std::string& name) const;
};

// Pairs the domains by name. BadInput when the two reports do not hold the same domains, or
// a base domain has no bits per byte to compare against (no bytes scored, or NaN).
ForgettingReport make_forgetting_report(const RunIdentity& id, const EvalReport& base,
                                        const EvalReport& tuned, std::optional<TaskResult> task,
                                        std::optional<GateThresholds> gate = std::nullopt);

std::string report_json(const ForgettingReport& report);  // pretty-printed, ends with a newline
// `file` names the source in messages. BadInput for malformed JSON, a missing or mistyped key,
// or another schema version ("report X has schema N; this plinth reads schema 1").
ForgettingReport parse_report_json(const std::string& text, const std::string& file);
// Reads a report.json, or <dir>/report.json when `path` is a directory. BadInput when missing.
ForgettingReport load_report(const std::filesystem::path& path);
// A run directory (or a report file) -> the report.json path.
std::filesystem::path report_path(const std::filesystem::path& run_dir_or_file);

std::string report_markdown(const ForgettingReport& report);
// Grouped bars per domain (base vs tuned bits per byte), each group labelled with its forgetting %.
std::string report_svg(const ForgettingReport& report);
// <dir>/report.json, report.md and report.svg, each written atomically.
void write_report(const ForgettingReport& report, const std::filesystem::path& dir);

}  // namespace plinth::eval
