#include "recipe/recipe.h"

#include <fmt/format.h>

#include <filesystem>
#include <set>

#include "data/tokenizer_training.h"
#include "recipe/recipe_writer.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/shipped.h"

namespace plinth {

uint64_t Recipe::tokenizer_recipe_hash() const {
  Hasher h;
  if (const ConfigNode* t = loaded.root.find("tokenizer")) {
    // Where it is written and how many threads train it do not change the tokenizer.
    ConfigNode shaping = *t;
    shaping.erase("model");
    shaping.erase("threads");
    h.field(recipe::content_hash(shaping));
  }
  if (const ConfigNode* d = loaded.root.find("data"))
    if (const ConfigNode* domains = d->find("domains")) h.field(recipe::content_hash(*domains));
  if (const ConfigNode* d = loaded.root.find("data")) {
    // The split decides which documents the tokenizer may see.
    if (const ConfigNode* v = d->find("val_fraction")) h.field(recipe::content_hash(*v));
    if (const ConfigNode* v = d->find("split_seed")) h.field(recipe::content_hash(*v));
  }
  return h.digest();
}

namespace {

// A tokenizer missing from the working directory is read from an installed plinth's shipped
// copy (util/shipped.h), but only when that copy is exactly what this recipe would train (its
// provenance records the same recipe hash); otherwise the path stays, and `plinth tokenizer
// train` writes a new one there.
void use_shipped_tokenizer_if_missing(Recipe& r) {
  std::error_code ec;
  if (std::filesystem::exists(r.tokenizer.model_file(), ec)) return;
  const auto shipped = shipped_file(r.tokenizer.model_file());
  if (!shipped) return;
  tokenizer::TokenizerSpec candidate = r.tokenizer;
  candidate.model = shipped->parent_path() / shipped->stem();
  if (data::provenance_recipe_hash(candidate) != r.tokenizer_recipe_hash()) return;
  static std::set<std::string> told;
  if (told.insert(candidate.model).second)
    log::info("{}: not in the working directory; using the shipped {} (made by this recipe)",
              r.tokenizer.model_file(), candidate.model_file());
  r.tokenizer_local_model = r.tokenizer.model;
  r.tokenizer.model = candidate.model;
}

}  // namespace

Recipe load_and_bind(const std::string& file, const std::vector<std::string>& overrides) {
  Recipe r;
  r.loaded = recipe::load_recipe(file, overrides);
  r.name = r.loaded.file.stem().string();
  Diagnostics diag;
  ConfigSection root(&r.loaded.root, "", diag, Location{r.loaded.file.string()});
  root.read("name", r.name);
  root.ignore("description");
  // Sections bound by the stage that uses them (model/train: pretrain and finetune; eval: eval;
  // finetune/task/select: finetune; gate: eval and gate; suites: suite make).
  for (const char* section : {"model", "train", "eval", "finetune", "task", "gate", "select", "suites"})
    root.ignore(section);
  ConfigSection tok = root.child("tokenizer");
  tokenizer::bind(tok, r.tokenizer);
  ConfigSection data = root.child("data", Need::Required);
  data::bind(data, r.data);
  root.finish();
  diag.throw_if_any();
  use_shipped_tokenizer_if_missing(r);
  return r;
}

tokenizer::Tokenizer load_recipe_tokenizer(const Recipe& r) {
  std::error_code ec;
  if (!std::filesystem::exists(r.tokenizer.model_file(), ec))
    throw BadInput(fmt::format("the tokenizer {} does not exist", r.tokenizer.model_file()),
                   fmt::format("train it first: plinth tokenizer train {}", r.loaded.file.string()));
  return tokenizer::Tokenizer::load(r.tokenizer.model_file());
}

}  // namespace plinth
