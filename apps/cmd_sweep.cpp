// plinth sweep RECIPE --grid key=v1,v2 [--grid ...]: a fine-tuning recipe run at every point of a
// grid of its keys (the Cartesian product), each point fine-tuned and evaluated as plinth run
// does (pipeline_stages.h: finished points skipped, interrupted ones resumed, stale ones set
// aside), then one comparison with the learning/forgetting frontier marked (the plan:
// finetune/sweep_plan.h; its run: sweep_run.h). The base must exist already: a sweep fine-tunes, it does not
// pretrain (a pipeline's sweep: does).
#include <fmt/format.h>

#include <filesystem>

#include "command.h"
#include "eval/eval_spec.h"
#include "finetune/finetune_recipe.h"
#include "finetune/finetune_spec.h"
#include "pipeline_stages.h"
#include "sweep_run.h"
#include "util/error.h"
#include "util/log.h"

namespace plinth {

namespace {

struct SweepArgs : StageOptions {
  std::string recipe;
  std::vector<std::string> grid;
  std::string out;
  std::string screen;  // a fraction ("0.25", "25%"), or empty: no screen
};

// --screen: a fraction in (0, 1), as eval's own fractions are written.
double parse_screen(const std::string& text) {
  if (text.empty()) return 0;
  double f = 0;
  if (!eval::parse_fraction(text, f))
    throw BadInput(fmt::format("--screen {}: a fraction of the eval sample in (0, 1) is expected", text),
                   "write e.g. --screen 0.25 (or 25%)");
  return f;
}

void run_sweep(const SweepArgs& args) {
  recipe::SweepGrid grid;
  for (const auto& flag : args.grid) grid.push_back(recipe::parse_grid_flag(flag));
  finetune::SweepPlan plan = finetune::plan_sweep(args.recipe, grid, parse_screen(args.screen));
  const finetune::FinetuneRecipe plain = finetune::bind_finetune_recipe(load_and_bind(args.recipe, {}), 0);
  // Before the first stage: a missing base would otherwise fail every point in turn.
  finetune::resolve_base_checkpoint(plain.finetune.base);
  const std::filesystem::path out =
      args.out.empty() ? finetune::default_sweep_out(plan) : std::filesystem::path(args.out);
  std::error_code ec;
  if (std::filesystem::exists(out, ec) && !std::filesystem::is_directory(out, ec))
    throw BadInput(
        fmt::format(
            "--out {} is a file, but a directory is expected (comparison.md, .svg and .html go into it)",
            out.string()),
        "name a directory, new or existing");
  log::info("sweep of {}: {} points", args.recipe, plan.points.size());
  run_sweep(plan, args);
  if (args.dry_run) return;
  write_sweep_report(plan, out);
}

}  // namespace

void add_sweep_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "sweep",
      "Fine-tune a recipe at every point of a grid of its keys; mark the learning/forgetting frontier");
  static SweepArgs args;
  cmd->add_option("recipe", args.recipe, "Fine-tuning recipe (YAML)")->required();
  cmd->add_option("--grid", args.grid, "KEY=V1,V2,...: a recipe key and the values to try (repeat per key)")
      ->required()
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--out", args.out,
                  "Directory for comparison.md, .svg and .html (default: <run_dir>-sweep)");
  cmd->add_option("--screen", args.screen,
                  "F: evaluate every point on F of its eval sample first (e.g. 0.25), and in full only\n"
                  "the points no other dominates beyond doubt there");
  cmd->add_option("--threads", args.threads,
                  "Threads for every stage (default: $PLINTH_THREADS or all cores)")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--dry-run", args.dry_run, "Print the points' stages without running them");
  cmd->footer(
      "Example:\n"
      "  plinth sweep recipes/finetune/lora.yaml --grid finetune.lora.rank=4,8,16 --grid "
      "train.lr=2e-4,5e-4,1e-3\n"
      "Each point (every combination of the values) is the recipe with those overrides, fine-tuned\n"
      "into <run_dir>-<label> (e.g. runs/ft-lora-rank4-lr2e-4) and evaluated. Run it again after an\n"
      "interruption: finished points are skipped, an interrupted one resumes. The base\n"
      "(finetune.base) must exist. comparison.md marks the frontier: the points no other beats in\n"
      "task gain and mean forgetting at once; the others are not worth choosing. A value holding\n"
      "commas goes in brackets: --grid finetune.lora.targets=[q_proj,v_proj],[q_proj,k_proj,v_proj]\n"
      "--screen 0.25 scores each point on a quarter of its eval sample first (into <point>/screen/),\n"
      "with intervals widened so that all hold together; a point another dominates beyond doubt there\n"
      "gets no full eval (comparison.md shows its screen figures).");
  cmd->callback([] { run_sweep(args); });
}

}  // namespace plinth
