#include "train/adamw_rows.h"

#include <cmath>

#include "util/float_vectors.h"

namespace plinth::train {

// A plain loop: compiled with -fno-math-errno (lib/train/CMakeLists.txt), sqrt and the divide
// vectorise at each clone's width.
PLINTH_CPU_CLONES
void adamw_update(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v,
                  int64_t n, const AdamWScalars& s) {
  const float decay = s.decay, b1 = s.beta1, b2 = s.beta2, one_b1 = 1.0f - s.beta1, one_b2 = 1.0f - s.beta2;
  const float sqrt_bias2 = s.sqrt_bias2, eps = s.eps, step_size = s.step_size;
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    const float mi = m[i] * b1 + gi * one_b1;
    const float vi = v[i] * b2 + one_b2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step_size * (mi / (std::sqrt(vi) / sqrt_bias2 + eps));
  }
}

}  // namespace plinth::train
