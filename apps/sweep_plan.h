// A sweep of one fine-tuning recipe (plinth sweep, or each fine-tune of a pipeline's sweep:):
// the grid's points as planned runs (the recipe with the point's overrides, into
// <run_dir>-<label>), and their comparison with the learning/forgetting frontier once they ran.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pipeline_stages.h"
#include "recipe/sweep_grid.h"

namespace plinth {

struct SweepPlan {
  std::string recipe;             // the fine-tuning recipe file
  std::filesystem::path run_dir;  // its own train.run_dir
  recipe::SweepGrid grid;
  std::vector<recipe::GridPoint> points;
  std::vector<std::filesystem::path> dirs;  // one per point, in grid order: <run_dir>-<label>
  std::vector<PlannedFinetune> runs;        // one per point: its overrides and train.run_dir
  // --screen / sweep: {screen: F}: 0, or the fraction of each point's eval sample scored first
  // (eval.max_tokens and eval.task_examples scaled by it, into <point>/screen/) before the full
  // evals, which run only for the points no other dominates beyond doubt on the screen.
  double screen = 0;
  double screen_confidence = 0;      // of the screen's intervals (eval/pareto.h screen_confidence)
  std::vector<EvalVariant> screens;  // one per point when screened: its overrides, subdir screen
  // Filled by run_sweep: per point, the point that dominated it beyond doubt on the screen.
  std::vector<std::optional<size_t>> screened_out;
};

// Checks the grid (check_grid) and binds the recipe at every point, so that a key that is no
// recipe key (with the recipes' did-you-mean hint) or a value it refuses is reported at the grid
// (the --grid flag, the pipeline's line) before anything runs. BadInput, every problem at once.
// `screen`: 0 or a fraction in (0, 1); BadInput when a point's recipe scores every document or
// every task example (eval.max_tokens or eval.task_examples 0: nothing to scale down).
SweepPlan plan_sweep(const std::string& recipe_file, const recipe::SweepGrid& grid, double screen = 0);

// Fine-tunes every point, then evaluates them: each in full, or with a screen, first each on
// the screen's sample and then in full only those no other point dominates beyond doubt there
// (plan.screened_out says which were dropped). Returns each point's report directory: the run
// directory, or <run_dir>/screen for a dropped point.
std::vector<std::string> run_sweep(SweepPlan& plan, const StageOptions& run);

// Where the comparison goes unless told: <run_dir>-sweep.
std::filesystem::path default_sweep_out(const SweepPlan& plan);

// Reads every point's report.json (the screen's for a dropped point) and writes
// <out>/comparison.md and comparison.svg with the frontier marked (eval/sweep_report.h).
void write_sweep_report(const SweepPlan& plan, const std::filesystem::path& out);

}  // namespace plinth
