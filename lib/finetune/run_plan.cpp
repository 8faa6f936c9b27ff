#include "finetune/run_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "eval/eval_spec.h"
#include "finetune/finetune_recipe.h"
#include "recipe/recipe.h"
#include "recipe/recipe_loader.h"
#include "util/config_section.h"
#include "util/error.h"

namespace plinth::finetune {

namespace fs = std::filesystem;

namespace {

// seeds: [1, 2, 3]: each an integer >= 0, listed once.
void read_seeds(ConfigSection& root, Pipeline& p) {
  std::vector<std::string> seeds;
  if (!root.read("seeds", seeds)) return;
  if (seeds.empty())
    root.error("seeds", "the list of seeds is empty",
               "list training seeds, e.g. seeds: [1, 2, 3], or remove seeds:");
  for (const auto& text : seeds) {
    int64_t seed = -1;
    const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), seed);
    if (err != std::errc() || end != text.data() + text.size() || seed < 0) {
      root.error("seeds", fmt::format("'{}' is not a seed (an integer >= 0)", text),
                 "write e.g. seeds: [1, 2, 3]");
      continue;
    }
    if (std::find(p.seeds.begin(), p.seeds.end(), seed) != p.seeds.end())
      root.error("seeds", fmt::format("seed {} is listed twice", seed),
                 "each seed trains one run per fine-tune: list it once");
    p.seeds.push_back(seed);
  }
}

}  // namespace

Pipeline load_pipeline(const std::string& file) {
  recipe::LoadedRecipe loaded = recipe::load_recipe(file);
  Pipeline p;
  p.name = loaded.file.stem().string();
  const fs::path dir = loaded.file.parent_path();
  Diagnostics diag;
  ConfigSection root(&loaded.root, "", diag, Location{loaded.file.string()});
  root.read("name", p.name);
  root.ignore("description");
  auto recipe_path = [&](const std::string& key, const std::string& value) {
    fs::path path = fs::path(value).is_absolute() ? fs::path(value) : dir / value;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
      root.error(key, fmt::format("the recipe {} does not exist", path.string()),
                 "paths of recipes are relative to the pipeline file");
    return path.lexically_normal();
  };
  std::string pretrain;
  if (root.read("pretrain", pretrain)) p.pretrain = recipe_path("pretrain", pretrain);
  std::vector<std::string> finetunes;
  root.read("finetune", finetunes);
  for (const auto& f : finetunes) p.finetune.push_back(recipe_path("finetune", f));
  if (pretrain.empty() && finetunes.empty())
    root.error("pretrain", "the pipeline has neither pretrain: nor finetune:",
               "name a pretraining recipe, fine-tuning recipes, or both");
  read_seeds(root, p);
  std::string report;
  if (root.read("report", report)) p.report = report;
  ConfigSection sweep = root.child("sweep");
  p.sweep = recipe::bind_sweep(sweep, loaded.root.find("sweep"));
  if (sweep.present()) eval::read_fraction(sweep, "screen", p.screen, false, "25% (or 0.25)");
  if (sweep.present() && !p.seeds.empty())
    root.error("sweep",
               "seeds: and sweep: together would train every grid point once per seed, which a "
               "sweep's frontier does not compare",
               "sweep first; then run the chosen point's recipe with seeds: in a pipeline of its own");
  if (sweep.present() && p.finetune.empty())
    root.error("sweep", "sweep: needs fine-tunes to sweep", "add finetune: recipes, or remove sweep:");
  root.finish();
  diag.throw_if_any();
  if (!p.sweep.empty()) recipe::check_grid(p.sweep);
  if (!p.report.empty() && p.finetune.empty())
    throw BadInput(fmt::format("{}: report: needs fine-tuned runs to compare", file),
                   "add finetune: recipes, or remove report:");
  return p;
}

std::vector<PlannedFinetune> plan_finetunes(const Pipeline& p) {
  std::vector<PlannedFinetune> planned;
  if (!p.sweep.empty()) return planned;
  for (const auto& ft : p.finetune) {
    if (p.seeds.empty()) {
      planned.push_back({ft.string(), {}, ""});
      continue;
    }
    const FinetuneRecipe plain = bind_finetune_recipe(load_and_bind(ft.string(), {}), 0);
    for (int64_t seed : p.seeds)
      planned.push_back({ft.string(),
                         {fmt::format("train.seed={}", seed),
                          fmt::format("train.run_dir={}-seed{}", plain.run_dir.string(), seed)},
                         ""});
  }
  return planned;
}

}  // namespace plinth::finetune
