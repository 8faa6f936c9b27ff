// The recipe's `model:` section: a Llama-style decoder's shape. No torch here, so recipe
// binding, checkpoint headers and FLOP counts can use it without the torch headers.
#pragma once

#include <cstdint>
#include <string>

#include "util/config_section.h"

namespace plinth::model {

struct ModelConfig {
  int vocab_size = 0;          // 0: taken from the tokenizer
  int dim = 256;               // d_model
  int layers = 4;
  int heads = 4;
  int kv_heads = 0;            // 0: = heads (no grouping); must divide heads
  int ffn = 0;                 // 0: 256 * ceil(8 * dim / 3 / 256), as ref_llama.py
  int context = 256;           // tokens per sequence (T)
  bool tie_embeddings = true;  // lm_head shares embed_tokens' weight
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;
  double init_std = 0.02;      // N(0, std) for every matrix; output projections / sqrt(2 * layers)

  int head_dim() const { return dim / heads; }
  int resolved_kv_heads() const { return kv_heads > 0 ? kv_heads : heads; }
  int resolved_ffn() const;
  int64_t parameter_count() const;
  // Training FLOPs per token (6N + 12 L H hd T), the convention of ref_llama.py.
  double flops_per_token() const;
};

// Checks ranges, heads dividing dim, kv_heads dividing heads, an even head_dim (RoPE).
void bind(ConfigSection& s, ModelConfig& config);

// The same shape checks for a config from elsewhere (a checkpoint, command-line flags, the
// tokenizer's vocabulary filled in): BadInput under the key "model", with every problem found.
void check_config(const ModelConfig& config);

}  // namespace plinth::model
