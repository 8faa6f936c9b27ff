// Autoregressive decoding with the KV cache: greedy, temperature, top-k and top-p sampling.
// Includes torch (through llama.h): include it only from torch-heavy files.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "model/llama.h"

namespace plinth::model {

struct GenerateOptions {
  int max_new_tokens = 64;
  double temperature = 1.0;  // 0: greedy (argmax); otherwise logits / temperature
  int top_k = 0;             // 0: off; else sample among the k most likely tokens
  double top_p = 1.0;        // 1: off; else the smallest set whose probability reaches top_p
  uint64_t seed = 0;         // the sampler's own generator: same seed, same tokens
};

// Continues `prompt` (batch 1) and returns the new tokens only, without the prompt.
// Stops after max_new_tokens, when `stop(generated)` returns true (checked after each new
// token, which is kept), or when prompt + generated reaches the model's context: the model
// has no positions beyond it, so the result may be shorter than max_new_tokens.
// Runs under NoGradGuard on the model's device and leaves the model's train/eval mode alone.
// Throws BadInput for an empty prompt, a prompt longer than the context, or invalid options.
std::vector<int64_t> generate(Llama& model, const std::vector<int64_t>& prompt,
                              const GenerateOptions& options,
                              const std::function<bool(const std::vector<int64_t>& generated)>& stop = {});

// Samples `rows` continuations of the same prompt at once, in one batch with one KV cache (each
// row's tokens drawn in turn from the options' seed: the same seed and rows, the same tokens;
// another rows, other samples). A row ends after it emits end_id (kept; < 0: never), at
// max_new_tokens, or at the context. Same checks and modes as generate().
std::vector<std::vector<int64_t>> generate_rows(Llama& model, const std::vector<int64_t>& prompt,
                                                int64_t rows, const GenerateOptions& options, int64_t end_id);

}  // namespace plinth::model
