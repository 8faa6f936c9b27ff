// A sweep of one fine-tuning recipe (plinth sweep, or each fine-tune of a pipeline's sweep:),
// planned: the grid's points as planned runs (the recipe with the point's overrides, into
// <run_dir>-<label>), checked whole before anything runs. A point's run directory also holds
// sweep_point.json (written when the point starts training), so that `plinth runs` can tell a
// sweep's point from a fine-tune of its own.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "finetune/run_plan.h"
#include "recipe/sweep_grid.h"

namespace plinth::finetune {

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
  // Filled by the sweep's run: per point, the point that dominated it beyond doubt on the screen.
  std::vector<std::optional<size_t>> screened_out;
};

// Checks the grid (check_grid) and binds the recipe at every point, so that a key that is no
// recipe key (with the recipes' did-you-mean hint) or a value it refuses is reported at the grid
// (the --grid flag, the pipeline's line) before anything runs. BadInput, every problem at once.
// `screen`: 0 or a fraction in (0, 1); BadInput when a point's recipe scores every document or
// every task example (eval.max_tokens or eval.task_examples 0: nothing to scale down).
SweepPlan plan_sweep(const std::string& recipe_file, const recipe::SweepGrid& grid, double screen = 0);

// Where the comparison goes unless told: <run_dir>-sweep.
std::filesystem::path default_sweep_out(const SweepPlan& plan);

// Where each point's report is: its run directory, or <dir>/screen for a point screened out.
std::vector<std::filesystem::path> sweep_report_dirs(const SweepPlan& plan);

// What <point dir>/sweep_point.json records: the sweep's recipe and the point's label.
struct SweepPointMark {
  std::string recipe;
  std::string label;
};
std::filesystem::path sweep_point_path(const std::filesystem::path& run_dir);
// Written atomically, creating the run directory.
void write_sweep_point(const std::filesystem::path& run_dir, const SweepPointMark& mark);
// nullopt when the run has no mark; BadInput naming the file when it does not parse.
std::optional<SweepPointMark> read_sweep_point(const std::filesystem::path& run_dir);

}  // namespace plinth::finetune
