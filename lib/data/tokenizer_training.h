// `plinth tokenizer train`: a SentencePiece model trained on the recipe's domain mixture.
// Each domain contributes text in proportion to its weight (capped by what it has), so one
// large domain cannot own the vocabulary; validation documents are never trained on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/data_spec.h"
#include "tokenizer/tokenizer_spec.h"

namespace plinth::data {

struct DomainSample {
  std::string name;
  double weight = 0;
  uint64_t available_bytes = 0;  // train-split bytes the domain offers (after caps)
  uint64_t sampled_bytes = 0;    // bytes fed to the trainer
  uint64_t documents = 0;        // documents fed
};

struct TokenizerTrainingReport {
  std::vector<DomainSample> domains;
  uint64_t sampled_bytes = 0;
  uint64_t sentences = 0;
  uint64_t tokenizer_hash = 0;
  double seconds = 0;
};

// Trains spec.model from `data`'s domains and writes <model>.model, .vocab and .yaml (the
// provenance: `recipe_hash` identifies the recipe sections that shaped the tokenizer, and
// `recipe_yaml`, the merged recipe, is kept in it so the tokenizer can be made again).
TokenizerTrainingReport train_tokenizer(const tokenizer::TokenizerSpec& spec, const DataSpec& data,
                                        const std::string& recipe_file, uint64_t recipe_hash,
                                        const std::string& recipe_yaml);

// The recipe_hash stored in a provenance file, or 0 when there is none (used to reuse a
// shipped tokenizer only when it was made by the same recipe).
uint64_t provenance_recipe_hash(const tokenizer::TokenizerSpec& spec);

}  // namespace plinth::data
