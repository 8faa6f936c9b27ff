// Per-position figures of the evaluation from the final hidden states of one or two models: the
// NLL of each target under each, KL(base ‖ tuned) of their next-token distributions, and whether
// their top-1 tokens agree. The language-model head runs in row chunks, so no (N, V) logits
// exist whole, and on the CPU each chunk goes through one fused pass (next_token_rows.h); other
// devices use ATen ops per chunk. The one definition of the report's NLL, KL and agreement, for
// the domains (eval/domain_scorer.cpp) and the task (eval/task_metrics.cpp) alike. Includes
// torch: include it only from torch-heavy files.
#pragma once

#include <torch/torch.h>

namespace plinth::model {

struct NextTokenStats {
  torch::Tensor nll_base;   // (N) float32, nats: -log p_base(target)
  torch::Tensor nll_tuned;  // (N) float32 (two models only)
  torch::Tensor kl;         // (N) float32, nats (two models only)
  torch::Tensor agree;      // (N) uint8, 1 = the same top-1 token (two models only)
};

// base_hidden (N, C) and base_weight (V, C): a model's final-norm hidden states of the scored
// positions and its head weight; tuned_hidden / tuned_weight the same for the second model, or
// undefined tensors for one model. targets (N) int64 in [0, V). The head's matmul runs in
// `compute` (kBFloat16 as bf16 autocast would run it, or kFloat32); softmaxes and sums in float32.
// Results are on the CPU.
NextTokenStats next_token_stats(const torch::Tensor& base_hidden, const torch::Tensor& base_weight,
                                const torch::Tensor& tuned_hidden, const torch::Tensor& tuned_weight,
                                const torch::Tensor& targets, torch::ScalarType compute);

}  // namespace plinth::model
