// Per-position figures of the evaluation from the final hidden states of one or two models: the
// NLL of each target under each, KL(base ‖ tuned) of their next-token distributions, and whether
// their top-1 tokens agree. Only the scored positions go through the language-model head, in row
// chunks, so no (B, T, V) logits exist whole, and on the CPU each chunk goes through one fused
// pass (next_token_rows.h); other devices use ATen ops per chunk. The one definition of the
// report's NLL, KL and agreement, for the domains (eval/domain_scorer.cpp), the task
// (eval/task_metrics.cpp) and the capability suites (eval/suite_scorer.cpp) alike. Includes
// torch: include it only from torch-heavy files.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "model/llama.h"

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

// The figures of the positions of a batch that `targets` scores.
struct ScoredStats {
  torch::Tensor positions;  // (N) int64 on the CPU: flat indices into (B, T), row-major order
  NextTokenStats stats;     // one entry per scored position, in that order
};

// base (and tuned, when not null) read x (B, T) on their device; targets (B, T) holds the id each
// position predicts, -1 where it is not scored. The forward passes run under bf16 autocast when
// `autocast_bf16`; the head's matmul runs in bf16 then, or when the base's head weight is bf16 (as
// the model's own forward would run it), else in float32. Call under NoGradGuard.
ScoredStats scored_next_token_stats(LlamaImpl& base, LlamaImpl* tuned, const torch::Tensor& x,
                                    const torch::Tensor& targets, bool autocast_bf16);

// The same for packed rows (model::PackedLayout, x (B, T)): the scored positions are given, as flat
// indices (N) into (B, T) with a target each (N); a position may appear more than once (the
// prefix's last position predicts the first token of every continuation).
NextTokenStats packed_next_token_stats(LlamaImpl& base, LlamaImpl* tuned, const torch::Tensor& x,
                                       const PackedLayout& layout, const torch::Tensor& positions,
                                       const torch::Tensor& targets, bool autocast_bf16);

// `column` (N) float32, one of s.stats's, summed in float64 in position order per row of the
// batch s came from, which has `rows` rows of `cols` positions -> (rows) sums, 0 for a row with
// no scored position.
std::vector<double> row_sums(const ScoredStats& s, const torch::Tensor& column, int64_t rows, int64_t cols);

}  // namespace plinth::model
