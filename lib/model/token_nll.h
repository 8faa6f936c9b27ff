// The summed next-token negative log-likelihood of scored positions in float32: the masked loss
// of the task metrics (eval/task_metrics.cpp) and `plinth score`'s per-token figures
// (token_nll). The other places that compute a next-token NLL, and why each is not this function:
//   train/linear_cross_entropy.h   the training loss: chunked, fused with its gradient, in the
//                                  step's precision; pretraining and fine-tune validation
//                                  (train/val_loss.cpp, finetune/finetune_run.cpp) and the Fisher
//                                  use it so they measure what training optimises
//   eval/domain_scorer.cpp and     need the whole next-token distribution of two models at once
//   eval/task_metrics.cpp's pairs  (KL, top-1 agreement: next_token_divergence below), so they keep
//                                  the log-softmax
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

// The same, per row: (B) float64 sums of -log p over each row's scored targets, on the CPU.
torch::Tensor masked_nll_rows(LlamaImpl& model, const torch::Tensor& x, const torch::Tensor& y);

// -log p of every token of `ids` after the first, given the ones before it (ids.size() - 1
// values, in nats): one sequence, on the CPU model.
std::vector<double> token_nll(LlamaImpl& model, const std::vector<int64_t>& ids);

// v (B, T) summed per row over the positions `targets` (B, T) scores (>= 0), in float64 -> (B)
// on the CPU: every per-row sum of the evaluation (NLL, KL, agreement counts) goes through it.
torch::Tensor scored_row_sums(const torch::Tensor& v, const torch::Tensor& targets);

// Two models' next-token distributions compared position by position, from their float32
// log-probabilities logp_base and logp_tuned (B, T, V) -> {KL(base || tuned) in nats (B, T),
// float32; top-1 agreement (B, T), bool: both argmaxes name the same token}. The one definition
// of the report's KL and agreement, for the domains and the task alike.
std::pair<torch::Tensor, torch::Tensor> next_token_divergence(const torch::Tensor& logp_base,
                                                              const torch::Tensor& logp_tuned);

}  // namespace plinth::model
