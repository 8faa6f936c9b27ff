// The recipe's `tokenizer:` section.
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"
#include "util/config_section.h"

namespace plinth::tokenizer {

struct TokenizerSpec {
  std::string model = "tokenizers/debian";  // prefix: <model>.model, .vocab, .yaml
  TrainOptions train;                       // type, vocab_size, coverage, symbols, ...
  uint64_t sample_bytes = 32ull << 20;      // text drawn from the domains for training, split by weight
  int max_sentence_bytes = 4096;            // longer documents are fed in pieces cut at newlines

  std::string model_file() const { return model + ".model"; }
  std::string vocab_file() const { return model + ".vocab"; }
  std::string provenance_file() const { return model + ".yaml"; }
};

// Newline and tab always get a piece of their own (code and verse keep their shape at one
// token per newline); the recipe's user_defined_symbols come first, in its order.
void bind(ConfigSection& s, TokenizerSpec& spec);

}  // namespace plinth::tokenizer
