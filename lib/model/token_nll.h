// The next-token negative log-likelihood from full float32 logits: `plinth score`'s per-token
// figures (token_nll) and the masked sum the tests check the others against (masked_nll). The
// other places that compute a next-token NLL, and why each is not this function:
//   train/model_loss.h             the training loss (train/linear_cross_entropy.h: chunked,
//                                  fused with its gradient, in the step's precision); the step,
//                                  pretraining and fine-tune validation, the Fisher and bench
//                                  train use it so they measure what training optimises
//   model/next_token_stats.h       the evaluation (domains, the task, the capability suites): the
//                                  head on the scored positions only, and the NLL, KL and top-1
//                                  agreement of one or two models in one fused pass over each row
//   LlamaImpl::loss (llama.h)      the plain full-logits reference the tests compare against
// All four ignore targets < 0 and sum in float32 or wider. Includes torch: include it only from
// torch-heavy files.
#pragma once

#include <torch/torch.h>

#include <utility>
#include <vector>

#include "model/llama.h"

namespace plinth::model {

// x (B, T) token ids, y (B, T) targets, -1 where a position is not scored -> (sum of -log p of
// the scored targets in nats, float64 accumulation; number of scored targets). Full float32
// logits: for evaluation batches, not the training step.
std::pair<double, int64_t> masked_nll(LlamaImpl& model, const torch::Tensor& x, const torch::Tensor& y);

// -log p of every token of `ids` after the first, given the ones before it (ids.size() - 1
// values, in nats): one sequence, on the CPU model.
std::vector<double> token_nll(LlamaImpl& model, const std::vector<int64_t>& ids);

}  // namespace plinth::model
