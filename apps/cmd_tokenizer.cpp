// plinth tokenizer train RECIPE: a SentencePiece model from the recipe's domain mixture.
#include <fmt/format.h>

#include "command.h"
#include "data/tokenizer_training.h"
#include "recipe/recipe_writer.h"
#include "tokenizer/tokenizer.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/text.h"

namespace plinth {

namespace {

void run_train(const RecipeArgs& args, bool force) {
  Recipe r;
  if (!load_recipe_args(args, r)) return;
  // --force writes the recipe's own path, never over a shipped tokenizer (util/shipped.h).
  if (force && !r.tokenizer_local_model.empty()) r.tokenizer.model = r.tokenizer_local_model;
  const auto& spec = r.tokenizer;
  uint64_t recipe_hash = r.tokenizer_recipe_hash();
  std::error_code ec;
  if (!force && std::filesystem::exists(spec.model_file(), ec) &&
      data::provenance_recipe_hash(spec) == recipe_hash) {
    auto tok = tokenizer::Tokenizer::load(spec.model_file());
    log::info("{} is up to date (made by this recipe, hash {}); --force retrains it", spec.model_file(),
              hex64(recipe_hash));
    fmt::print("{}\n", spec.model_file());
    return;
  }
  auto report = data::train_tokenizer(spec, r.data, r.loaded.file.string(), recipe_hash,
                                      recipe::to_yaml(r.loaded.root));
  auto tok = tokenizer::Tokenizer::load(spec.model_file());
  log::info("wrote {} (vocabulary {}, hash {}), {} and {} in {:.1f} s", spec.model_file(), tok.vocab_size(),
            hex64(tok.hash()), spec.vocab_file(), spec.provenance_file(), report.seconds);
  fmt::print("{}\n", spec.model_file());
}

}  // namespace

void add_tokenizer_command(CLI::App& app) {
  auto* tok = app.add_subcommand("tokenizer", "Train a SentencePiece tokenizer on the recipe's domains");
  tok->require_subcommand(1);
  tok->footer("Example:\n  plinth tokenizer train recipes/data/debian.yaml");
  auto* train = tok->add_subcommand(
      "train",
      "Train <tokenizer.model>.model/.vocab/.yaml on the domain mixture (weights and caps respected)");
  static RecipeArgs args;
  static bool force = false;
  add_recipe_args(*train, args, "plinth tokenizer train recipes/data/debian.yaml tokenizer.vocab_size=4096");
  train->add_flag("--force", force, "Retrain even when the tokenizer was made by this recipe already");
  train->callback([] { run_train(args, force); });
}

}  // namespace plinth
