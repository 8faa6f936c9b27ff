// Softmax cross-entropy over rows of logits, and its gradient in place, in one pass per row:
// the CPU kernel behind linear_cross_entropy. Torch-free (raw pointers), so it compiles
// without the torch headers and with its own vectorising flags.
//
// Why a kernel: done with ATen ops, each (rows, V) logits chunk is cast to float32, log-
// softmaxed (two passes), exponentiated, scaled and cast back: five sweeps and two casts over
// the largest tensor of the step, 15-20% of a bf16 CPU step at the quickstart's size. Here
// each row is read once into a float buffer that stays in L1/L2, exponentiated once, and
// written back once as the gradient.
#pragma once

#include <cstdint>

namespace plinth::train {

// For each row i of `logits` (rows, vocab), row stride `stride` elements:
//   loss[i] = logsumexp(x_i) - x_i[targets[i]]   (float32 math; 0 where targets[i] < 0)
// and, when grad_scale is not null, overwrites row i with the gradient of loss[i] * grad_scale[i]:
//   (softmax(x_i) - onehot(targets[i])) * grad_scale[i]    (all zeros where targets[i] < 0)
// Targets must be < vocab (the caller checks). NaN or infinite logits give a NaN loss.
// bf16 rows are uint16_t bit patterns (c10::BFloat16); the gradient is rounded to nearest even.
void softmax_xent_rows_bf16(uint16_t* logits, int64_t rows, int64_t vocab, int64_t stride,
                            const int64_t* targets, const float* grad_scale, float* loss);
void softmax_xent_rows_f32(float* logits, int64_t rows, int64_t vocab, int64_t stride, const int64_t* targets,
                           const float* grad_scale, float* loss);

}  // namespace plinth::train
