// What a fine-tune forgot, domain by domain, and what it learned: base and tuned scored on the
// same sampled documents and windows of every pretraining domain (evaluate_pair), beside the
// task's loss and exact match on a sample of its test split, every figure with its paired
// bootstrap interval (bootstrap.h). Written to <run_dir>/report.json (versioned schema, below),
// report.md, report.svg and report.html; read back by `plinth report` (run_comparison.h) and `plinth gate`
// (gate.h). No torch here.
//
// Definitions (percentages are of the base value; positive forgetting = worse after tuning):
//   forgetting_pct       = 100 * (tuned_bpb - base_bpb) / base_bpb = 100 * (sum tuned_nll /
//                          sum base_nll - 1) over the domain's scored documents
//   mean_forgetting_pct  = macro average of forgetting_pct (every domain weighs the same)
//   worst                = the domain with the largest forgetting_pct
//   kl                   = mean over scored tokens of KL(base || tuned) of the next-token
//                          distributions, nats per token: how far the model moved, even where
//                          bits per byte averages the changes away
//   top1_agreement       = share of scored tokens where both models' most likely next token is the same
//   task gain_pct        = 100 * (base_loss - tuned_loss) / base_loss  (task loss: nats per
//                          completion token; positive = learned)
//   exact_match_gain_points = 100 * (tuned_exact_match - base_exact_match)
//   task kl, top1_agreement = the domains' definitions on the task's own test examples: over
//                          their completion tokens, and apart over their prompts' tokens
// Intervals: a paired bootstrap over documents (each domain resampled on its own; mean and worst
// from the same replicates) and over task examples, `sample.resamples` replicates seeded from
// `sample.seed` (bootstrap_seed), percentile intervals at `sample.confidence`.
//
// report.json, schema 3 (schema 2 is the same without "suites"):
//   {"schema": 3, "run": str, "recipe": str, "method": str,
//    "base":  {"checkpoint": str, "step": n},      step -1 when unknown
//    "tuned": {"checkpoint": str, "step": n},
//    "sample": {"seed", "confidence", "resamples", "target_ci" (fraction, 0 = none), "max_tokens",
//               "min_documents", "max_document_tokens"},
//    "domains": [{"name", "documents", "tokens", "bytes", "base_bpb", "tuned_bpb",
//                 "delta_bpb", "delta_bpb_ci": [lo, hi], "forgetting_pct", "forgetting_ci",
//                 "kl", "kl_ci", "top1_agreement", "top1_agreement_ci", "target_reached",
//                 "per_document": {"index", "first_token", "tokens", "bytes", "base_nll",
//                                  "tuned_nll", "kl", "agree"}}],   columns of equal length
//    "overall": {"domains": n, "mean_forgetting_pct", "mean_forgetting_ci", "worst_domain",
//                "worst_forgetting_pct", "worst_forgetting_ci", "mean_base_bpb", "mean_tuned_bpb",
//                "mean_kl", "mean_top1_agreement"},
//    "flags": [str],    warnings about the run, e.g. a tuned model that predicts exactly as the base
//    "task": null | {"name", "examples", "base_loss", "tuned_loss", "base_exact_match",
//                    "tuned_exact_match" (fractions), "gain_pct", "gain_ci",
//                    "exact_match_gain_points", "exact_match_gain_ci",
//                    "kl", "kl_ci", "top1_agreement", "top1_agreement_ci", "prompt_kl",
//                    "prompt_kl_ci", "prompt_top1_agreement", "prompt_top1_agreement_ci" (absent
//                    in reports of plinth before them; per token, over completions and prompts),
//                    "per_example": {"index" (in the test split), "tokens", "base_nll", "tuned_nll",
//                                    "base_correct", "tuned_correct", and with the KL: "kl",
//                                    "agree", "prompt_tokens", "prompt_kl", "prompt_agree"},
//                    "samples": [{"prompt", "reference", "base_output", "tuned_output",
//                                 "base_correct", "tuned_correct"}]},
//    "gate": null | {"max_forgetting_pct", "max_mean_forgetting_pct", "domains": {name: pct},
//                    "baseline": str, "tolerance_pct", "min_task_gain_pct", "max_kl",
//                    "confidence", "max_acc_drop_points": {suite: points}}   absent limits null
//    "interpolation": null | [...], "attribution": null | [...]   report_variants.h
//    "suites": [...]    capability suites, suite_result.h
// A per_document entry is one sampled document (document_sample.h): its index in the domain's
// validation shard, its first scored token (> 0 when a long document was scored on a span of
// whole windows), tokens and UTF-8 bytes scored, both models' summed NLL (nats), the summed KL
// and the number of agreeing top-1 predictions.
// A value that cannot be computed (a diverged tuned model's NaN) is null. Reading recomputes every
// derived value (bits per byte, forgetting, KL, intervals, mean, worst, gains) from the per-document
// and per-example columns, so a hand-edited figure cannot pass a gate its scores would fail.
// Schema 1 (no per-document columns, hence no intervals) is still read, for `plinth report`;
// has_intervals() is false and the gate refuses it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "eval/bootstrap.h"
#include "eval/document_scores.h"
#include "eval/eval_report.h"
#include "eval/gate_spec.h"
#include "eval/report_variants.h"
#include "eval/suite_result.h"

namespace plinth::eval {

inline constexpr int kReportSchemaVersion = 3;

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
  // Per example (schema 2), in sample order: its index in the test split, completion tokens,
  // both models' summed NLL and whether each answered exactly.
  std::vector<uint64_t> index, tokens;
  std::vector<double> base_nll, tuned_nll;
  std::vector<bool> base_correct, tuned_correct;
  // Per example, how far tuned moved from base on the example's own tokens (task_metrics.h,
  // TaskDivergence): summed KL(base || tuned) and agreeing top-1 positions over the completion
  // tokens (`tokens` of them), and over the prompt's tokens after its first (`prompt_tokens`).
  // Empty in reports written before plinth measured them.
  std::vector<double> kl, prompt_kl;
  std::vector<uint64_t> agree, prompt_tokens, prompt_agree;
  Interval gain_ci, exact_match_gain_ci;  // derived
  // Derived, per token with intervals over examples; NaN without the columns above.
  double kl_per_token = std::numeric_limits<double>::quiet_NaN();
  double top1_agreement = std::numeric_limits<double>::quiet_NaN();
  double prompt_kl_per_token = std::numeric_limits<double>::quiet_NaN();
  double prompt_top1_agreement = std::numeric_limits<double>::quiet_NaN();
  Interval kl_ci, agreement_ci, prompt_kl_ci, prompt_agreement_ci;
  std::vector<TaskSample> samples;  // a few examples for the Markdown report

  double gain_pct() const;                 // 100 * (base_loss - tuned_loss) / base_loss
  double exact_match_gain_points() const;  // 100 * (tuned - base exact match)
  bool has_examples() const { return !index.empty(); }
  bool has_divergence() const { return has_examples() && kl.size() == index.size(); }
};

struct DomainForgetting {
  std::string name;
  DocumentScores docs;  // paired columns (schema 2); empty for a schema-1 report
  uint64_t documents = 0, tokens = 0, bytes = 0;
  double base_bpb = 0, tuned_bpb = 0;
  double delta_bpb = 0;                                  // tuned - base
  double forgetting_pct = 0;                             // 100 * delta / base; NaN when tuned_bpb is NaN
  double kl = std::numeric_limits<double>::quiet_NaN();  // nats per token
  double top1_agreement = std::numeric_limits<double>::quiet_NaN();  // fraction
  Interval delta_bpb_ci, forgetting_ci, kl_ci, agreement_ci;         // derived
  std::vector<double> forgetting_replicates;                         // derived; the bootstrap's
  bool target_reached = false;  // forgetting_ci's half-width <= sample.target_ci (when one is set)
};

// Which run, which recipe, which method: the labels a comparison shows.
struct RunIdentity {
  std::string run;          // the run directory (or a name for it)
  std::string recipe_name;  // the fine-tuning recipe's name
  std::string method;       // how it was tuned: "full", "lora", "replay", "ewc", ... as the recipe says
};

// How the report's documents and intervals were drawn (eval_spec.h has each key's meaning).
struct SampleInfo {
  uint64_t seed = 0;
  double confidence = 0.95;
  int resamples = 1000;
  double target_ci = 0;  // fraction; 0 = none
  uint64_t max_tokens = 0, min_documents = 0, max_document_tokens = 0;
  std::string precision = "fp32";  // eval.precision: fp32 | bf16 (reports before it: fp32)
};
SampleInfo sample_info(const EvalSpec& spec);

struct ForgettingReport {
  int schema = kReportSchemaVersion;
  std::string run, recipe_name, method;
  std::string base_checkpoint, tuned_checkpoint;
  int64_t base_step = -1, tuned_step = -1;
  SampleInfo sample;
  std::vector<DomainForgetting> domains;  // in the base report's order
  double mean_forgetting_pct = 0;         // NaN when a domain's is NaN
  std::string worst_domain;               // largest forgetting_pct (a NaN one counts as worst)
  double worst_forgetting_pct = 0;
  double mean_base_bpb = 0, mean_tuned_bpb = 0;
  double mean_kl = std::numeric_limits<double>::quiet_NaN();
  double mean_top1_agreement = std::numeric_limits<double>::quiet_NaN();
  Interval mean_forgetting_ci, worst_forgetting_ci;
  std::vector<std::string> flags;
  std::optional<TaskResult> task;
  std::optional<GateThresholds> gate;  // the recipe's `gate:` section, when it has one
  // Variants of the tuned model on the same documents (report_variants.h): eval.interpolate's
  // blends, in α order, and eval.attribute's restored parts, in model order.
  std::vector<ReportVariant> interpolation, attribution;
  // eval.suites scored on base and tuned (suite_result.h), in the recipe's order (schema 3).
  std::vector<SuiteResult> suites;

  double task_gain_pct() const;
  const SuiteResult* find_suite(const std::string& name) const;  // NaN without a task
  const DomainForgetting* find_domain(const std::string& name) const;
  // Every domain has its per-document columns (schema 2), so every figure has an interval.
  bool has_intervals() const;
};

// Pairs the domains by name; each domain's documents come from the pair's DomainScore::docs
// (evaluate_pair). BadInput when the two reports do not hold the same domains, or a base domain
// has no bits per byte to compare against (no bytes scored, or NaN).
ForgettingReport make_forgetting_report(const RunIdentity& id, const EvalReport& base,
                                        const EvalReport& tuned, std::optional<TaskResult> task,
                                        std::optional<GateThresholds> gate = std::nullopt,
                                        const SampleInfo& sample = {});

// Recomputes every derived figure (and interval, at report.sample.confidence) from the measured
// ones: what make_forgetting_report and the reader do, and what the gate calls after changing
// the confidence.
void derive(ForgettingReport& report);

std::string report_json(const ForgettingReport& report);  // pretty-printed, ends with a newline
// `file` names the source in messages. BadInput for malformed JSON, a missing or mistyped key,
// columns of different lengths, or a schema this plinth does not read.
ForgettingReport parse_report_json(const std::string& text, const std::string& file);
// Reads a report.json, or <dir>/report.json when `path` is a directory. BadInput when missing.
ForgettingReport load_report(const std::filesystem::path& path);
// A run directory (or a report file) -> the report.json path.
std::filesystem::path report_path(const std::filesystem::path& run_dir_or_file);

// "+3.20% [+2.10, +4.30]": a percentage with its interval (the interval left out when unknown).
std::string pct_with_interval(double value, const Interval& ci, int decimals = 2);
// "-0.0123 [-0.0200, -0.0050]" (sign: always a sign): a number with its interval, "n/a" when not
// finite.
std::string num_with_interval(double value, const Interval& ci, int decimals, bool sign = false);

std::string report_markdown(const ForgettingReport& report);
// Grouped bars per domain (base vs tuned bits per byte, the tuned bar with its interval), each
// group labelled with its forgetting % and interval.
std::string report_svg(const ForgettingReport& report);
// <dir>/report.json, report.md, report.svg and report.html (report_html.h), each written
// atomically; interpolation.svg and attribution.svg when the report has them (an older one
// removed when it has not).
void write_report(const ForgettingReport& report, const std::filesystem::path& dir);

}  // namespace plinth::eval
