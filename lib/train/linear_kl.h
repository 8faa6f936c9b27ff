// Distillation to a reference model (finetune.distill): KL(p_ref ‖ p) of the next-token
// distributions, with the language-model head in one autograd node computed in row chunks, as
// linear_cross_entropy.h does for the task loss, so neither model's (N, V) logits exist whole.
//
// Per row (a position whose next token is predicted):
//   p_ref = softmax(ref_hidden @ ref_weightᵀ)   the frozen reference (the base)
//   p     = softmax(hidden @ weightᵀ)           the model in training
//   KL    = Σ_v p_ref[v] (log p_ref[v] − log p[v])
// Its gradient in the model's logits is p − p_ref (the reference gets none). It is computed in
// the forward pass while each chunk's logits are at hand, and kept for the backward, which only
// scales it: no logits are saved or recomputed.
#pragma once

#include <torch/torch.h>

namespace plinth::train {

// Sum over the rows where `mask` of KL(p_ref ‖ p), a float32 scalar (0 when no row is masked).
//   hidden     (..., C)  the model's final-norm hidden states
//   weight     (V, C)    its lm_head (or tied embedding) weight
//   ref_hidden (..., C)  the reference's, same shape; no gradient flows into it
//   ref_weight (V, C)    the reference's head weight (may be the same tensor as weight)
//   mask       (...)     bool, same leading shape: the rows that count
// compute: the matmul dtype (kBFloat16 for bf16 training, kFloat32 otherwise); softmaxes and sums
// are float32. chunk_rows: rows per chunk; 0 picks the budget linear_cross_entropy uses.
// Differentiable in hidden and weight.
torch::Tensor linear_kl_sum(const torch::Tensor& hidden, const torch::Tensor& weight,
                            const torch::Tensor& ref_hidden, const torch::Tensor& ref_weight,
                            const torch::Tensor& mask, torch::ScalarType compute, int64_t chunk_rows = 0);

}  // namespace plinth::train
