// Scoring one domain's validation shard with a model already in memory: the core of
// evaluate_checkpoint (evaluator.h), exposed for tests and for callers holding a model.
// Includes torch.
#pragma once

#include <cstdint>
#include <string>

#include "data/shard.h"
#include "eval/evaluator.h"
#include "model/llama.h"

namespace plinth::eval {

struct ScoreOptions {
  int64_t context = 0;         // window length, 1..model context
  int64_t batch_size = 8;      // windows per forward pass
  uint64_t max_tokens = 0;     // 0 = all; whole documents until this many tokens are scored
  uint64_t max_documents = 0;  // 0 = all
  int64_t eos_id = 0;          // ends every document; its trailing copy is context, not scored
};

// Runs on the model's device and dtype under NoGradGuard. Windows are sorted by length and
// batched with right padding; the causal mask keeps padding from reaching the scored positions,
// and each window's NLL is summed in float64 in document order, so the result does not depend
// on the batch size beyond float rounding inside the kernels.
DomainScore score_domain(model::Llama& model, const data::ShardReader& shard, const std::string& name,
                         const ScoreOptions& options, const WordCounter& count_words = {},
                         const ScoreProgress& progress = {});

}  // namespace plinth::eval
