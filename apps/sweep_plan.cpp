#include "sweep_plan.h"

#include <fmt/format.h>

#include <set>

#include "eval/sweep_report.h"
#include "finetune/finetune_recipe.h"
#include "util/error.h"
#include "util/log.h"

namespace plinth {

namespace fs = std::filesystem;

namespace {

// Binding problems that sit on an override (the loader locates them on the "command line") are
// the grid's: moved to the axis that set the key, where the user wrote it.
Problem at_grid(Problem p, const recipe::SweepGrid& grid) {
  for (const auto& axis : grid)
    if (p.key == axis.key || p.key.rfind(axis.key + ".", 0) == 0 || p.key.rfind(axis.key + "[", 0) == 0 ||
        axis.key.rfind(p.key + ".", 0) == 0) {
      p.where = axis.where;
      if (p.message.find("unknown key") != std::string::npos)
        p.message = fmt::format("{}: a grid key must be a key of the recipe", p.message);
      break;
    }
  return p;
}

}  // namespace

SweepPlan plan_sweep(const std::string& recipe_file, const recipe::SweepGrid& grid) {
  recipe::check_grid(grid);
  SweepPlan plan;
  plan.recipe = recipe_file;
  plan.grid = grid;
  plan.run_dir = finetune::bind_finetune_recipe(load_and_bind(recipe_file, {}), 0).run_dir;
  plan.points = recipe::grid_points(grid);
  std::vector<Problem> problems;
  std::set<std::string> seen;
  for (const auto& point : plan.points) {
    fs::path dir = plan.run_dir;
    dir += "-" + point.label;
    plan.dirs.push_back(dir);
    std::vector<std::string> overrides = point.overrides;
    overrides.push_back("train.run_dir=" + dir.string());
    try {
      finetune::bind_finetune_recipe(load_and_bind(recipe_file, overrides), 0);
    } catch (const BadInput& e) {
      for (const Problem& p : e.problems()) {
        Problem moved = at_grid(p, grid);
        if (seen.insert(moved.str()).second) problems.push_back(std::move(moved));
      }
    }
    plan.runs.push_back({recipe_file, std::move(overrides)});
  }
  if (!problems.empty()) throw BadInput(std::move(problems));
  return plan;
}

fs::path default_sweep_out(const SweepPlan& plan) {
  fs::path out = plan.run_dir;
  out += "-sweep";
  return out;
}

void write_sweep_report(const SweepPlan& plan, const fs::path& out) {
  eval::SweepComparison sweep;
  for (const auto& axis : plan.grid) sweep.keys.push_back(axis.key);
  for (const auto& point : plan.points) sweep.values.push_back(point.values);
  sweep.runs = eval::load_runs(plan.dirs);
  for (size_t i = 0; i < sweep.runs.size(); ++i) sweep.runs[i].label = plan.points[i].label;
  eval::write_sweep_comparison(sweep, out);
  log::info("sweep of {}: {} points; comparison with the frontier in {} and {}", plan.recipe,
            plan.points.size(), (out / "comparison.md").string(), (out / "comparison.svg").string());
}

}  // namespace plinth
