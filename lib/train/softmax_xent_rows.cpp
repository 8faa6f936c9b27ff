#include "train/softmax_xent_rows.h"

#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "util/float_vectors.h"

namespace plinth::train {

namespace {

using namespace simd;

// T = float (rows worked on in place) or uint16_t (bf16; `buffer` holds the row as float32).
template <typename T>
PLINTH_INLINE void xent_rows(T* logits, int64_t rows, int64_t vocab, int64_t stride, const int64_t* targets,
                             const float* grad_scale, float* loss) {
  constexpr bool kInPlace = std::is_same_v<T, float>;
  std::vector<float> buffer(kInPlace ? 0 : vocab);
  const int64_t blocked = vocab - vocab % kLanes;
  const float inf = std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < rows; ++i) {
    T* row = logits + i * stride;
    const int64_t target = targets[i];
    if (target < 0) {  // ignored position: no loss, no gradient
      loss[i] = 0.0f;
      if (grad_scale) std::memset(static_cast<void*>(row), 0, sizeof(T) * vocab);
      continue;
    }
    float* x = kInPlace ? reinterpret_cast<float*>(row) : buffer.data();
    const float x_target = load1(row + target);

    // Pass 1: the maximum (NaN is skipped here and caught by the sum), and the row as float32.
    f32x16 max16 = f32x16{} - inf;
    for (int64_t j = 0; j < blocked; j += kLanes) {
      const f32x16 v = load16(row + j);
      if constexpr (!kInPlace) store16(x + j, v);
      max16 = v > max16 ? v : max16;
    }
    float max = max_lanes(max16, -inf);
    for (int64_t j = blocked; j < vocab; ++j) {
      const float v = load1(row + j);
      x[j] = v;
      max = v > max ? v : max;
    }

    // Pass 2: e^(x - max) and their sum; kept in x for the gradient (float rows are left as
    // they were when there is no gradient to write).
    const bool keep = grad_scale != nullptr || !kInPlace;
    f32x16 sum16 = {};
    for (int64_t j = 0; j < blocked; j += kLanes) {
      const f32x16 e = simd::exp(load16(x + j) - max);
      if (keep) store16(x + j, e);
      sum16 += e;
    }
    float sum = sum_lanes(sum16);
    for (int64_t j = blocked; j < vocab; ++j) {
      const float e = simd::exp(x[j] - max);
      if (keep) x[j] = e;
      sum += e;
    }
    loss[i] = max + std::log(sum) - x_target;  // -log softmax(x)[target]
    if (!grad_scale) continue;

    // Pass 3: the gradient, softmax - onehot, times the row's scale.
    const float scale = grad_scale[i];
    const float p_scale = scale / sum;
    const float p_target = x[target];
    for (int64_t j = 0; j < blocked; j += kLanes) store16(row + j, load16(x + j) * p_scale);
    for (int64_t j = blocked; j < vocab; ++j) store1(row + j, x[j] * p_scale);
    store1(row + target, p_target * p_scale - scale);
  }
}

}  // namespace

PLINTH_CPU_CLONES
void softmax_xent_rows_bf16(uint16_t* logits, int64_t rows, int64_t vocab, int64_t stride,
                            const int64_t* targets, const float* grad_scale, float* loss) {
  xent_rows(logits, rows, vocab, stride, targets, grad_scale, loss);
}

PLINTH_CPU_CLONES
void softmax_xent_rows_f32(float* logits, int64_t rows, int64_t vocab, int64_t stride, const int64_t* targets,
                           const float* grad_scale, float* loss) {
  xent_rows(logits, rows, vocab, stride, targets, grad_scale, loss);
}

}  // namespace plinth::train
