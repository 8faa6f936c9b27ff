// The tests' small Llama: a config that builds, runs and saves in milliseconds. Every test that
// needs a model starts from it and changes only the fields its cases are about (a vocabulary to
// match a tokenizer, a third layer to freeze, untied embeddings), so that what differs says why.
#pragma once

#include "model/model_config.h"

namespace plinth::test {

// 2 layers of width 32, 4 query heads over 2 key/value heads (grouped attention is exercised),
// the default feed-forward width, a context of 16 tokens.
inline model::ModelConfig small_config(int vocab_size = 96, bool tied = true) {
  model::ModelConfig c;
  c.vocab_size = vocab_size;
  c.dim = 32;
  c.layers = 2;
  c.heads = 4;
  c.kv_heads = 2;
  c.context = 16;
  c.tie_embeddings = tied;
  return c;
}

}  // namespace plinth::test
