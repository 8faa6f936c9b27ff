// A sweep of one fine-tuning recipe (plinth sweep, or each fine-tune of a pipeline's sweep:):
// the grid's points as planned runs (the recipe with the point's overrides, into
// <run_dir>-<label>), and their comparison with the learning/forgetting frontier once they ran.
#pragma once

#include <filesystem>
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
};

// Checks the grid (check_grid) and binds the recipe at every point, so that a key that is no
// recipe key (with the recipes' did-you-mean hint) or a value it refuses is reported at the grid
// (the --grid flag, the pipeline's line) before anything runs. BadInput, every problem at once.
SweepPlan plan_sweep(const std::string& recipe_file, const recipe::SweepGrid& grid);

// Where the comparison goes unless told: <run_dir>-sweep.
std::filesystem::path default_sweep_out(const SweepPlan& plan);

// Reads every point's report.json and writes <out>/comparison.md and comparison.svg with the
// frontier marked (eval/sweep_report.h).
void write_sweep_report(const SweepPlan& plan, const std::filesystem::path& out);

}  // namespace plinth
