// The language-model head and its loss in one autograd node, computed in row chunks, so the
// (N, V) float32 logits never exist whole. The gradients of hidden and weight are computed in
// the same pass, while each chunk's logits are at hand, and kept for the backward (which only
// scales them): no logits are saved or recomputed. At the quickstart's size the full-logits
// path spends about half of a bf16 CPU step casting, log-softmaxing and zero-filling that
// tensor (docs/architecture.md, "Where the Python peer's time goes"); chunks that stay in
// cache cut most of it, and computing the gradients in the same pass makes three head matmuls
// per step instead of four (no recomputation). It also removes the largest activation on GPUs.
#pragma once

#include <torch/torch.h>

namespace plinth::train {

// Mean cross-entropy of softmax(hidden @ weightᵀ) against targets, in float32, over the
// targets >= 0 (negative ones are ignored; NaN when all are, as in PyTorch).
//   hidden  (..., C)  the final-norm hidden states
//   weight  (V, C)    the lm_head (or tied embedding) weight
//   targets (...)     int64, same leading shape as hidden
// compute: the matmul dtype (kBFloat16 for bf16 training, kFloat32 otherwise); the softmax and
// the sums are float32. chunk_rows: rows per chunk; 0 picks 16 MiB of float32 logits per chunk
// (256 MiB on CUDA).
// Differentiable in hidden and weight.
torch::Tensor linear_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                   const torch::Tensor& targets, torch::ScalarType compute,
                                   int64_t chunk_rows = 0);

}  // namespace plinth::train
