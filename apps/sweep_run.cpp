// plinth sweep's run and its comparison (sweep_run.h); the planning is the library's
// (finetune/sweep_plan.h).
#include "sweep_run.h"

#include <fmt/format.h>

#include "eval/pareto.h"
#include "eval/sweep_report.h"
#include "util/log.h"

namespace plinth {

namespace fs = std::filesystem;
using finetune::SweepPlan;

std::vector<std::string> run_sweep(SweepPlan& plan, const StageOptions& args) {
  if (plan.screen <= 0) return run_finetunes(plan.runs, args);
  std::vector<TrainedFinetune> trained;
  trained.reserve(plan.runs.size());
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
  for (const auto& dir : finetune::sweep_report_dirs(plan)) dirs.push_back(dir.string());
  return dirs;
}

void write_sweep_report(const SweepPlan& plan, const fs::path& out) {
  eval::SweepComparison sweep;
  for (const auto& axis : plan.grid) sweep.keys.push_back(axis.key);
  for (const auto& point : plan.points) sweep.values.push_back(point.values);
  sweep.runs = eval::load_runs(finetune::sweep_report_dirs(plan));
  for (size_t i = 0; i < sweep.runs.size(); ++i) sweep.runs[i].label = plan.points[i].label;
  sweep.screen = plan.screen;
  sweep.screen_confidence = plan.screen_confidence;
  sweep.screened_out = plan.screened_out;
  eval::write_sweep_comparison(sweep, out);
  log::info("sweep of {}: {} points; comparison with the frontier in {}, comparison.svg and comparison.html",
            plan.recipe, plan.points.size(), (out / "comparison.md").string());
}

}  // namespace plinth
