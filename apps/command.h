// What every stage subcommand shares: `plinth <cmd> RECIPE.yaml [key.path=value ...]`,
// --print-config, --threads, --quiet/--verbose.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "recipe/recipe.h"

namespace plinth {

struct RecipeArgs {
  std::string recipe;
  std::vector<std::string> overrides;
  bool print_config = false;
  int threads = 0;
};

// Adds the shared arguments and an "Example:" footer to a stage subcommand.
void add_recipe_args(CLI::App& cmd, RecipeArgs& args, const std::string& example);

// Loads and binds the recipe; applies --threads to every section that has a thread count.
// With --print-config, prints the merged recipe and returns false (the command stops there).
bool load_recipe_args(const RecipeArgs& args, Recipe& out);

// Registration of each subcommand (one file each).
void add_tokenizer_command(CLI::App& app);
void add_prepare_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_pretrain_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_bench_train_command(CLI::App& bench);   // `plinth bench train`, under bench
void add_bench_matmul_command(CLI::App& bench);  // `plinth bench matmul`, under bench
void add_bench_eval_command(CLI::App& bench);    // `plinth bench eval`, under bench
void add_eval_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_import_command(CLI::App& app);
void add_score_command(CLI::App& app);
void add_suite_command(CLI::App& app);  // `plinth suite make`
void add_report_command(CLI::App& app);
void add_gate_command(CLI::App& app);
void add_finetune_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_sweep_command(CLI::App& app);
void add_launch_command(CLI::App& app);
void add_merge_command(CLI::App& app);
void add_attribute_command(CLI::App& app);

// `plinth run` starts each stage with this variable naming its own pid.
inline constexpr const char* kPipelineParentEnv = "PLINTH_PIPELINE_PARENT";
// In a stage started by `plinth run`: SIGTERM (checkpoint and stop) when the pipeline process
// dies, however it died. The stage runs in a process group of its own, so nothing else would
// tell it. Does nothing in a plinth started otherwise.
void stop_with_pipeline_parent();
void add_recipes_command(CLI::App& app);
void add_runs_command(CLI::App& app);  // `plinth runs`: the runs under a directory

}  // namespace plinth
