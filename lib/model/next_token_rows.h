// The evaluation's per-position figures from rows of next-token logits, in one pass over each
// row's two models: the CPU kernel behind next_token_stats.h. Torch-free (raw pointers), like
// train/softmax_xent_rows.h, so it compiles for each x86-64 level.
//
// Why a kernel: with ATen ops, each model's (B, T, V) logits were log-softmaxed (two sweeps and a
// (B, T, V) result), exponentiated, subtracted, multiplied and summed for the KL, and argmaxed
// twice: a dozen sweeps over the largest tensors of the evaluation, each freshly allocated (the
// kernel's page faults were 14% of an evaluation's time). Here a row of each model is read twice
// (the maxima, then the sums) while it is in cache.
#pragma once

#include <cstdint>

namespace plinth::model {

// For each row i of `base` (rows, vocab; row stride `stride` elements) and, when `tuned` is not
// null, the same row of `tuned`, with p = softmax(base row), q = softmax(tuned row):
//   nll_base[i]  = -log p[targets[i]]
//   nll_tuned[i] = -log q[targets[i]]                          (tuned only)
//   kl[i]        = sum_v p[v] (log p[v] - log q[v])            (tuned only)
//   agree[i]     = 1 when both rows' first largest logits are at the same index, else 0
// in float32 math (the KL's last step in float64). Targets must be in [0, vocab). NaN logits give
// NaN figures. bf16 rows are uint16_t bit patterns (c10::BFloat16).
void next_token_rows_f32(const float* base, const float* tuned, int64_t rows, int64_t vocab, int64_t stride,
                         const int64_t* targets, float* nll_base, float* nll_tuned, float* kl,
                         uint8_t* agree);
void next_token_rows_bf16(const uint16_t* base, const uint16_t* tuned, int64_t rows, int64_t vocab,
                          int64_t stride, const int64_t* targets, float* nll_base, float* nll_tuned,
                          float* kl, uint8_t* agree);

}  // namespace plinth::model
