// plinth eval RECIPE [--checkpoint C]: every domain's validation loss, perplexity, bits per
// byte and word perplexity, into <run_dir>/eval.json and eval.md (and the table on stdout).
#include <fmt/format.h>

#include <memory>
#include <optional>

#include "command.h"
#include "data/prepare.h"
#include "eval/evaluator.h"
#include "eval/word_count.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/text.h"

namespace plinth {

namespace {

namespace fs = std::filesystem;

struct EvalArgs {
  std::string checkpoint;
};

void run_eval(const RecipeArgs& args, const EvalArgs& eval_args) {
  Recipe r;
  if (!load_recipe_args(args, r)) return;

  eval::EvalRequest req;
  std::optional<model::ModelConfig> recipe_model;
  {
    Diagnostics diag;
    ConfigSection root(&r.loaded.root, "", diag, Location{r.loaded.file.string()});
    ConfigSection spec = root.child("eval");
    eval::bind(spec, req.spec);
    if (r.loaded.root.find("model")) {
      ConfigSection m = root.child("model");
      model::ModelConfig config;
      model::bind(m, config);
      req.recipe_model = config;
    }
    diag.throw_if_any();
  }

  const fs::path run_dir = eval::recipe_run_dir(r.loaded.root, r.name);
  if (!eval_args.checkpoint.empty()) {
    req.checkpoint = eval_args.checkpoint;
  } else if (auto latest = eval::latest_checkpoint(run_dir)) {
    req.checkpoint = *latest;
  } else {
    throw BadInput(fmt::format("no checkpoint in {}", (run_dir / "checkpoints").string()),
                   fmt::format("train one first: plinth pretrain {} (or name one with --checkpoint)",
                               r.loaded.file.string()));
  }

  std::error_code ec;
  if (!fs::exists(r.tokenizer.model_file(), ec))
    throw BadInput(fmt::format("the tokenizer {} does not exist", r.tokenizer.model_file()),
                   fmt::format("train it first: plinth tokenizer train {}", r.loaded.file.string()));
  auto tok = tokenizer::Tokenizer::load(r.tokenizer.model_file());
  req.tokenizer_hash = tok.hash();
  req.tokenizer_file = r.tokenizer.model_file();
  req.eos_id = tok.eos_id();
  // Words are counted in the decoded text, as lm-evaluation-harness counts them in the document.
  req.count_words = [&tok](const std::vector<int32_t>& text) { return eval::count_words(tok.decode(text)); };

  std::vector<std::string> missing;
  for (const auto& d : r.data.domains) {
    fs::path val = data::shard_path(r.data, d.name, "val");
    if (!fs::exists(val, ec)) missing.push_back(d.name);
    req.domains.push_back({d.name, val});
  }
  if (!missing.empty()) {
    std::string names;
    for (const auto& n : missing) names += (names.empty() ? "" : ", ") + n;
    throw BadInput(fmt::format("no validation shard for: {}", names),
                   fmt::format("run: plinth prepare {}", r.loaded.file.string()));
  }

  std::unique_ptr<Progress> progress;
  std::string current;
  uint64_t current_total = 0;
  req.progress = [&](const std::string& domain, uint64_t done, uint64_t total) {
    if (domain != current) {
      if (progress) progress->finish(fmt::format("{} tokens", with_commas(current_total)));
      progress = std::make_unique<Progress>(fmt::format("{:<14}", domain), total);
      current = domain;
    }
    current_total = total;
    progress->update(done, "tokens");
  };

  log::info("evaluating {} on {} domains", req.checkpoint.string(), req.domains.size());
  eval::EvalReport report = eval::evaluate_checkpoint(req);
  if (progress) progress->finish(fmt::format("{} tokens", with_commas(current_total)));
  for (const auto& note : report.notes) log::warn("{}", note);
  eval::write_eval_report(report, run_dir);
  fmt::print("{}", eval::eval_markdown(report));
  log::info("wrote {} and {}", (run_dir / "eval.json").string(), (run_dir / "eval.md").string());
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
  cmd->footer(
      "Example:\n"
      "  plinth eval recipes/pretrain/quickstart.yaml eval.max_tokens=200000\n"
      "  plinth eval recipes/pretrain/quickstart.yaml --checkpoint "
      "runs/quickstart/checkpoints/step_1000.ckpt\n"
      "Writes <train.run_dir>/eval.json and eval.md. Each document of a domain's val shard is scored\n"
      "with lm-evaluation-harness's rolling windows, its first token predicted from the EOS before it.\n"
      "Recipe keys: eval.max_tokens, eval.max_documents (0 = all), eval.batch_size, eval.context,\n"
      "eval.device (auto|cpu|cuda[:N]), eval.precision (fp32|bf16).");
  cmd->callback([] { run_eval(args, eval_args); });
}

}  // namespace plinth
