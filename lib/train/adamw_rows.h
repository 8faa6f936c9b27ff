// The AdamW update of one float32 parameter tensor in one pass: the CPU kernel behind
// train/fused_adamw.h. LibTorch's AdamW makes seven passes over each parameter (decay, two for
// each moment, sqrt, divide, add eps, addcdiv); at the quickstart's size that is 5-8% of a
// bf16 CPU step. Torch-free.
#pragma once

#include <cstdint>

namespace plinth::train {

struct AdamWScalars {
  float decay;            // 1 - lr * weight_decay
  float beta1, beta2;     // moment decay rates
  float sqrt_bias2;       // sqrt(1 - beta2^step)
  float eps;
  float step_size;        // lr / (1 - beta1^step)
};

// For each of the n elements, in LibTorch's order of operations:
//   p = p * decay;  m = m * beta1 + g * (1 - beta1);  v = v * beta2 + (1 - beta2) * g * g
//   p = p - step_size * m / (sqrt(v) / sqrt_bias2 + eps)
void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const AdamWScalars& s);

}  // namespace plinth::train
