// The recipe's `eval:` section: how `plinth eval` scores each domain's validation shard.
#pragma once

#include <cstdint>
#include <string>

#include "util/config_section.h"

namespace plinth::eval {

struct EvalSpec {
  uint64_t max_tokens = 0;         // scored tokens per domain, whole documents in shard order; 0 = all
  uint64_t max_documents = 0;      // documents per domain; 0 = all
  int batch_size = 8;              // windows per forward pass (memory: batch x context x vocab floats)
  int context = 0;                 // window length in tokens; 0 = the model's context
  std::string device = "auto";     // auto (CUDA when present) | cpu | cuda | cuda:N
  std::string precision = "fp32";  // fp32 | bf16 (weights cast to bf16; logits stay fp32)
  // Fine-tuned runs: the task's test split is scored on base and tuned (loss and exact match
  // of greedy generations).
  uint64_t task_examples = 200;  // test examples scored, the first N in file order; 0 = all
  int task_samples = 8;          // example generations kept in the report
};

// An absent section keeps the defaults.
void bind(ConfigSection& s, EvalSpec& spec);

}  // namespace plinth::eval
