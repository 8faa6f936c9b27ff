// plinth finetune RECIPE [--resume]: parses the arguments and runs the fine-tune
// (finetune/finetune_run.h). `plinth eval` on the same recipe then measures what it forgot.
#include <fmt/format.h>

#include "command.h"
#include "finetune/finetune_recipe.h"
#include "finetune/finetune_run.h"

namespace plinth {

void add_finetune_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "finetune", "Fine-tune a pretrained base on a task (full, LoRA, freeze, replay, EWC, L2-SP)");
  static RecipeArgs args;
  static bool resume = false;
  add_recipe_args(*cmd, args, "plinth finetune recipes/finetune/lora.yaml train.steps=100");
  cmd->add_flag("--resume", resume, "Continue from the newest checkpoint in the run directory");
  cmd->footer(
      "Example:\n"
      "  plinth finetune recipes/finetune/full.yaml\n"
      "  plinth finetune recipes/finetune/lora.yaml finetune.lora.rank=16\n"
      "  plinth finetune recipes/finetune/full.yaml --resume    # after Ctrl-C\n"
      "Writes <train.run_dir> (default runs/<recipe name>): checkpoints/, metrics.jsonl, loss.svg,\n"
      "tuned.ckpt (the tuned model, LoRA merged) and adapter.ckpt (LoRA only).\n"
      "Then: plinth eval <recipe> measures base vs tuned on every pretraining domain and the task.");
  cmd->callback([] {
    Recipe r;
    if (!load_recipe_args(args, r)) return;
    const finetune::FinetuneRecipe f = finetune::bind_finetune_recipe(std::move(r), args.threads);
    if (finetune::run_finetune(f, resume)) fmt::print("{}\n", f.run_dir.string());
  });
}

}  // namespace plinth
