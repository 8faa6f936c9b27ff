// The whole recipe as typed structs: the loader's tree bound section by section by the
// layer that owns each section. Every problem of every section is reported together.
#pragma once

#include <string>
#include <vector>

#include "data/data_spec.h"
#include "recipe/recipe_loader.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_spec.h"

namespace plinth {

struct Recipe {
  recipe::LoadedRecipe loaded;
  std::string name;  // `name:`; defaults to the recipe file's stem
  tokenizer::TokenizerSpec tokenizer;
  // The recipe's own tokenizer.model when an installed plinth's shipped copy stands in for it
  // (tokenizer.model then names the shipped one); a retrained tokenizer is written here.
  std::string tokenizer_local_model;
  data::DataSpec data;

  // Identifies what shapes the tokenizer (its options, the domains, the split; not its output
  // path or thread count): an existing tokenizer is reused only when this matches its provenance.
  uint64_t tokenizer_recipe_hash() const;
};

// Loads, merges, applies overrides and binds. Throws BadInput listing every problem.
Recipe load_and_bind(const std::string& file, const std::vector<std::string>& overrides);

// The tokenizer the recipe names, loaded; BadInput with the command to make it when missing.
tokenizer::Tokenizer load_recipe_tokenizer(const Recipe& r);

}  // namespace plinth
