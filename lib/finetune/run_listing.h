// `plinth runs`: the runs under a directory, one row each: kind (pretrain, fine-tune, sweep
// point), method, state (finished, evaluated, interrupted at step N, not started, stale because
// ..., damaged: why), steps, best validation loss, and for an evaluated fine-tune its task gain
// and mean forgetting with their intervals. Reads only what the runs wrote (recipe.yaml,
// metrics.jsonl, checkpoint names and headers, tuned.ckpt's presence, report.json,
// sweep_point.json) and what the staleness check reads (run_state.h StalenessProbe): no model
// is loaded. A run whose files do not parse is listed as damaged, and the others still are.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace plinth::finetune {

struct RunRow {
  std::string dir;          // relative to the listed directory
  std::string kind = "?";   // pretrain | fine-tune | sweep point
  std::string sweep_label;  // a sweep point's label (sweep_plan.h), else ""
  std::string method;       // fine-tunes: full, lora+replay, ...
  // finished | evaluated | finished, report older than tuned.ckpt | trained, no tuned.ckpt |
  // interrupted at step N | not started | stale because ... | damaged: why
  std::string state;
  std::string stale_because;                                   // the reason when stale, else ""
  int64_t step = -1;                                           // the newest checkpoint's (-1: none)
  int64_t steps = -1;                                          // train.steps of its recipe (-1: unknown)
  double best_val = std::numeric_limits<double>::quiet_NaN();  // lowest val_loss_mean in metrics.jsonl
  std::optional<std::array<double, 3>> task_gain;              // value, interval low, high (%)
  std::optional<std::array<double, 3>> forgetting;             // mean forgetting, low, high (%)
};

// Every run directory under `root` (one holding recipe.yaml, metrics.jsonl or sweep_point.json),
// up to three folders deep, in name order, described. BadInput when `root` is not a directory.
std::vector<RunRow> list_runs(const std::filesystem::path& root);

// The rows as an aligned text table, or "no runs under <root>".
std::string runs_table(const std::vector<RunRow>& rows, const std::filesystem::path& root);
// The rows as a JSON array (for scripts): dir, kind, sweep_label, method, state, stale_because,
// step, steps, best_val_loss, task_gain_pct and mean_forgetting_pct ({value, ci}); null where
// unknown.
std::string runs_json(const std::vector<RunRow>& rows);

}  // namespace plinth::finetune
