// plinth prepare RECIPE: every domain tokenized into train/val shards.
#include <fmt/format.h>

#include "command.h"
#include "data/prepare.h"
#include "tokenizer/tokenizer.h"
#include "util/dir_lock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/text.h"

namespace plinth {

namespace {

void run_prepare(const RecipeArgs& args, const data::PrepareOptions& options) {
  Recipe r;
  if (!load_recipe_args(args, r)) return;
  for (const auto& name : options.only)
    if (!r.data.find(name)) {
      std::vector<std::string> names;
      for (const auto& d : r.data.domains) names.push_back(d.name);
      throw BadInput(fmt::format("--domain {}: the recipe has no such domain", name),
                     did_you_mean(name, names));
    }
  auto tok = load_recipe_tokenizer(r);
  const DirLock lock(r.data.shards, "prepare");  // one process per shards directory
  auto results = data::prepare_shards(r.data, tok, options);
  uint64_t bytes = 0, tokens = 0;
  size_t reused = 0;
  for (const auto& d : results) {
    bytes += d.train.bytes + d.val.bytes;
    tokens += d.train.tokens + d.val.tokens;
    reused += d.reused;
  }
  log::info("{} domains ({} unchanged): {} -> {} tokens in {}", results.size(), reused, format_bytes(bytes),
            with_commas(tokens), r.data.shards);
  fmt::print("{}\n", r.data.shards);
}

}  // namespace

void add_prepare_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("prepare", "Tokenize every domain into train/val token shards");
  static RecipeArgs args;
  static data::PrepareOptions options;
  add_recipe_args(*cmd, args, "plinth prepare recipes/data/debian.yaml data.val_fraction=0.1");
  cmd->add_flag("--force", options.force, "Rebuild every domain, even when its inputs are unchanged");
  cmd->add_option("--domain", options.only, "Prepare only this domain (repeatable)");
  cmd->callback([] { run_prepare(args, options); });
}

}  // namespace plinth
