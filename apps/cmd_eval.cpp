// plinth eval RECIPE [--checkpoint C]: every domain's validation loss, perplexity, bits per
// byte and word perplexity, into <run_dir>/eval.json and eval.md (and the table on stdout).
#include <fmt/format.h>

#include <memory>
#include <optional>

#include "command.h"
#include "data/prepare.h"
#include "eval/evaluator.h"
#include "eval/word_count.h"
#include "finetune/finetune_eval.h"
#include "finetune/finetune_recipe.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint_files.h"
#include "train/dist_env.h"
#include "util/error.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/text.h"

namespace plinth {

namespace {

namespace fs = std::filesystem;

struct EvalArgs {
  std::string checkpoint;
  std::string out;  // empty: the run directory
};

void run_eval(const RecipeArgs& args, const EvalArgs& eval_args) {
  // Launched data-parallel (e.g. after the training stages of one torchrun job): the report is
  // one, written by rank 0 alone; the others have nothing to do. Its numbers do not depend on
  // the world size.
  if (const train::DistEnv env = train::read_dist_env(); env.distributed() && env.rank != 0) return;
  Recipe r;
  if (!load_recipe_args(args, r)) return;
  if (finetune::is_finetune_recipe(r)) {
    if (!eval_args.checkpoint.empty())
      throw BadInput("--checkpoint: a fine-tuning recipe evaluates its base and its tuned model",
                     "leave out --checkpoint (or evaluate a checkpoint with a pretraining recipe)");
    finetune::FinetuneRecipe f = finetune::bind_finetune_recipe(std::move(r), args.threads);
    const auto tok = load_recipe_tokenizer(f.recipe);
    finetune::run_finetune_eval(f, tok, eval_args.out);
    return;
  }

  eval::EvalSpec spec;
  std::optional<model::ModelConfig> recipe_model;
  {
    Diagnostics diag;
    ConfigSection root(&r.loaded.root, "", diag, Location{r.loaded.file.string()});
    ConfigSection e = root.child("eval");
    eval::bind(e, spec);
    if (r.loaded.root.find("model")) {
      ConfigSection m = root.child("model");
      model::ModelConfig config;
      model::bind(m, config);
      recipe_model = config;
    }
    diag.throw_if_any();
  }

  const fs::path run_dir = eval::recipe_run_dir(r.loaded.root, r.name);
  const fs::path out = eval_args.out.empty() ? run_dir : fs::path(eval_args.out);
  fs::path checkpoint;
  if (!eval_args.checkpoint.empty()) {
    checkpoint = eval_args.checkpoint;
  } else if (auto latest = train::latest_checkpoint(run_dir)) {
    checkpoint = *latest;
  } else {
    throw BadInput(fmt::format("no checkpoint in {}", (run_dir / "checkpoints").string()),
                   fmt::format("train one first: plinth pretrain {} (or name one with --checkpoint)",
                               r.loaded.file.string()));
  }

  const auto tok = load_recipe_tokenizer(r);
  eval::EvalRequest req = finetune::domain_eval_request(r, tok, spec);
  req.checkpoint = checkpoint;
  req.recipe_model = recipe_model;
  log::info("evaluating {} on {} domains", req.checkpoint.string(), req.domains.size());
  if (!spec.suites.empty())
    log::warn(
        "eval.suites are scored by plinth eval of a fine-tuning recipe, on base and tuned together; "
        "eval.json of one checkpoint has no suites");
  eval::EvalReport report = eval::evaluate_checkpoint(req);
  for (const auto& note : report.notes) log::warn("{}", note);
  eval::write_eval_report(report, out);
  fmt::print("{}", eval::eval_markdown(report));
  log::info("wrote {} and {}", (out / "eval.json").string(), (out / "eval.md").string());
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "eval", "Per domain: validation loss, perplexity, bits per byte and word perplexity of a checkpoint");
  static RecipeArgs args;
  static EvalArgs eval_args;
  add_recipe_args(*cmd, args, "plinth eval recipes/pretrain/quickstart.yaml eval.max_tokens=200000");
  cmd->add_option("--checkpoint", eval_args.checkpoint,
                  "Checkpoint to score (default: the highest step in <train.run_dir>/checkpoints)");
  cmd->add_option("--out", eval_args.out,
                  "Directory for the results (default: the run directory), e.g. to keep an eval of\n"
                  "another sample beside the run's own report");
  cmd->footer(
      "Example:\n"
      "  plinth eval recipes/pretrain/quickstart.yaml eval.max_tokens=200000\n"
      "  plinth eval recipes/pretrain/quickstart.yaml --checkpoint "
      "runs/quickstart/checkpoints/step-001000.ckpt\n"
      "Writes <train.run_dir>/eval.json and eval.md. Each document of a domain's val shard is scored\n"
      "with lm-evaluation-harness's rolling windows, its first token predicted from the EOS before it.\n"
      "Each domain is scored on a seeded random sample of its validation documents (eval.seed), taken\n"
      "until eval.max_tokens; a long document is scored on a random span of whole windows, sized so that\n"
      "eval.min_documents fit (or eval.max_document_tokens). Other keys: eval.max_documents, "
      "eval.batch_size,\n"
      "eval.context, eval.device (auto|cpu|cuda[:N]), eval.precision (fp32|bf16).\n"
      "A fine-tuning recipe (one with finetune:) scores its base and tuned.ckpt on every domain and on\n"
      "a random sample of the task's test split (eval.task_examples, eval.task_samples; exact match of\n"
      "greedy answers of eval.max_new_tokens tokens, 0 = the longest training completion), both models on\n"
      "the same windows in one pass, with paired bootstrap intervals (eval.confidence, eval.resamples);\n"
      "a domain stops early once its forgetting interval is within eval.target_ci (e.g. 1%). It writes\n"
      "report.json, report.md, report.svg and report.html into its run directory: what the fine-tune\n"
      "forgot, and what it learned.");
  cmd->callback([] { run_eval(args, eval_args); });
}

}  // namespace plinth
