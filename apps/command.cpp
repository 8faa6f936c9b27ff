#include "command.h"

#include <fmt/format.h>

#include "model/torch_runtime.h"
#include "recipe/recipe_writer.h"

namespace plinth {

void add_recipe_args(CLI::App& cmd, RecipeArgs& args, const std::string& example) {
  cmd.add_option("recipe", args.recipe, "Recipe file (YAML)")->required();
  cmd.add_option("overrides", args.overrides,
                 "Recipe overrides, key.path=value (e.g. data.val_fraction=0.1)");
  cmd.add_flag("--print-config", args.print_config, "Print the merged, validated recipe and exit");
  cmd.add_option("--threads", args.threads, "Threads (default: $PLINTH_THREADS or all cores)")
      ->check(CLI::Range(1, 1024));
  cmd.footer("Example:\n  " + example);
}

bool load_recipe_args(const RecipeArgs& args, Recipe& out) {
  out = load_and_bind(args.recipe, args.overrides);
  if (args.threads > 0) {
    out.data.threads = args.threads;
    out.tokenizer.train.num_threads = args.threads;
  }
  model::configure_threads(args.threads);
  if (args.print_config) {
    fmt::print("# {} (merged", out.loaded.file.string());
    for (size_t i = 1; i < out.loaded.files.size(); ++i) fmt::print(", {}", out.loaded.files[i].string());
    fmt::print(")\n{}", recipe::to_yaml(out.loaded.root));
    return false;
  }
  return true;
}

}  // namespace plinth
