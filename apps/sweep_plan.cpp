#include "sweep_plan.h"

#include <fmt/format.h>

#include <cmath>
#include <set>

#include "eval/eval_spec.h"
#include "eval/pareto.h"
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

// The screen's eval of one point: its sample scaled down by `fraction` (at least one document's
// worth and one example), intervals at the screen's confidence with enough replicates, and no
// variants (interpolation and attribution belong to the full eval).
EvalVariant screen_eval(const eval::EvalSpec& spec, double fraction, double confidence,
                        const std::string& file, std::vector<Problem>& problems) {
  for (const auto& [key, value] :
       {std::pair{"eval.max_tokens", spec.max_tokens}, std::pair{"eval.task_examples", spec.task_examples}})
    if (value == 0)
      problems.push_back(Problem{Location{file}, key,
                                 "0 scores everything, so a sweep's screen has no sample to scale down",
                                 fmt::format("set {} to a number, or sweep without a screen", key)});
  auto scaled = [fraction](uint64_t n) {
    return std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(fraction * static_cast<double>(n))));
  };
  return {{fmt::format("eval.max_tokens={}", scaled(spec.max_tokens)),
           fmt::format("eval.task_examples={}", scaled(spec.task_examples)),
           fmt::format("eval.confidence={:.10g}", confidence),
           fmt::format("eval.resamples={}", eval::screen_resamples(spec.resamples, confidence)),
           "eval.interpolate=[]", "eval.attribute=false"},
          "screen"};
}

}  // namespace

SweepPlan plan_sweep(const std::string& recipe_file, const recipe::SweepGrid& grid, double screen) {
  recipe::check_grid(grid);
  SweepPlan plan;
  plan.recipe = recipe_file;
  plan.grid = grid;
  plan.screen = screen;
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
      const finetune::FinetuneRecipe f =
          finetune::bind_finetune_recipe(load_and_bind(recipe_file, overrides), 0);
      if (screen > 0) {
        plan.screen_confidence = eval::screen_confidence(f.eval.confidence, plan.points.size());
        std::vector<Problem> found;
        plan.screens.push_back(screen_eval(f.eval, screen, plan.screen_confidence, recipe_file, found));
        for (Problem& p : found)
          if (seen.insert(p.str()).second) problems.push_back(std::move(p));
      }
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

namespace {

std::vector<fs::path> report_dirs(const SweepPlan& plan) {
  std::vector<fs::path> dirs = plan.dirs;
  for (size_t i = 0; i < dirs.size() && i < plan.screened_out.size(); ++i)
    if (plan.screened_out[i]) dirs[i] /= plan.screens[i].subdir;
  return dirs;
}

}  // namespace

std::vector<std::string> run_sweep(SweepPlan& plan, const StageOptions& args) {
  if (plan.screen <= 0) return run_finetunes(plan.runs, args);
  std::vector<TrainedFinetune> trained;
  for (const auto& run : plan.runs) trained.push_back(train_finetune(run, args));
  std::vector<fs::path> screens;
  for (size_t i = 0; i < plan.runs.size(); ++i)
    screens.push_back(eval_finetune(plan.runs[i], trained[i], args, plan.screens[i]));
  plan.screened_out.assign(plan.runs.size(), std::nullopt);
  if (!args.dry_run) {
    std::vector<eval::TradeOff> points;
    for (const auto& run : eval::load_runs(screens)) points.push_back(eval::trade_off(run.report));
    plan.screened_out = eval::dominated_beyond_doubt(points);
  }
  size_t dropped = 0;
  for (size_t i = 0; i < plan.runs.size(); ++i) {
    if (const auto by = plan.screened_out[i]) {
      ++dropped;
      log::info(
          "{}: dominated beyond doubt by {} on the screen ({:g}% of the sample, intervals at {:.2f}%): "
          "no full eval",
          plan.points[i].label, plan.points[*by].label, 100 * plan.screen, 100 * plan.screen_confidence);
      continue;
    }
    eval_finetune(plan.runs[i], trained[i], args);
  }
  if (!args.dry_run)
    log::info("sweep of {}: the screen spared the full eval of {} of {} points", plan.recipe, dropped,
              plan.runs.size());
  std::vector<std::string> dirs;
  for (const auto& dir : report_dirs(plan)) dirs.push_back(dir.string());
  return dirs;
}

void write_sweep_report(const SweepPlan& plan, const fs::path& out) {
  eval::SweepComparison sweep;
  for (const auto& axis : plan.grid) sweep.keys.push_back(axis.key);
  for (const auto& point : plan.points) sweep.values.push_back(point.values);
  sweep.runs = eval::load_runs(report_dirs(plan));
  for (size_t i = 0; i < sweep.runs.size(); ++i) sweep.runs[i].label = plan.points[i].label;
  sweep.screen = plan.screen;
  sweep.screen_confidence = plan.screen_confidence;
  sweep.screened_out = plan.screened_out;
  eval::write_sweep_comparison(sweep, out);
  log::info("sweep of {}: {} points; comparison with the frontier in {}, comparison.svg and comparison.html",
            plan.recipe, plan.points.size(), (out / "comparison.md").string());
}

}  // namespace plinth
