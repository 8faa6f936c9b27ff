// plinth attribute RECIPE: where a fine-tune's forgetting comes from. Each part of the tuned model
// (a block, the embeddings, the final norm; for LoRA each adapted projection kind) is put back to
// the base's weights and scored again on the report's own documents and task examples; the
// report gains the table and attribution.svg (finetune/variant_eval.h). The same as
// eval.attribute: true, on a report that already exists.
#include <fmt/format.h>

#include "command.h"
#include "finetune/finetune_eval.h"
#include "finetune/finetune_recipe.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace plinth {

void add_attribute_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "attribute", "Which parts of a fine-tuned model carry its forgetting and its task gain (per domain)");
  static RecipeArgs args;
  add_recipe_args(*cmd, args, "plinth attribute recipes/finetune/full.yaml");
  cmd->footer(
      "Example:\n"
      "  plinth eval recipes/finetune/full.yaml        # the report first\n"
      "  plinth attribute recipes/finetune/full.yaml   # adds the attribution to it\n"
      "For each part of the model (embeddings, each block, the final norm, the output head when untied;\n"
      "for LoRA also each projection kind across the blocks) the tuned model is scored with that part\n"
      "restored to the base's weights, on the report's documents and task examples: how much of each\n"
      "domain's forgetting it recovers and how much task gain it loses, with paired intervals. Parts the\n"
      "fine-tune did not change are listed, not scored. Each scored part costs about half an eval.\n"
      "Writes report.json/.md with the table and attribution.svg (a heat map) in the run directory.\n"
      "eval.attribute: true in the recipe does the same during plinth eval.");
  cmd->callback([] {
    Recipe r;
    if (!load_recipe_args(args, r)) return;
    if (!finetune::is_finetune_recipe(r))
      throw BadInput(
          fmt::format("{} is not a fine-tuning recipe (it has no finetune: section)", r.loaded.file.string()),
          "attribute a fine-tune: e.g. plinth attribute recipes/finetune/full.yaml");
    finetune::FinetuneRecipe f = finetune::bind_finetune_recipe(std::move(r), args.threads);
    const auto tok = load_recipe_tokenizer(f.recipe);
    finetune::run_attribution(f, tok);
  });
}

}  // namespace plinth
