#include "model/next_token_rows.h"

#include <cmath>
#include <limits>

#include "util/float_vectors.h"

namespace plinth::model {

namespace {

using namespace simd;

typedef int32_t i32x16 __attribute__((vector_size(64)));

struct RowMax {
  float value;
  int64_t index;  // the first index holding it
};

// The largest value of a row and its first index (NaN is skipped: the sums catch it).
template <typename T>
PLINTH_INLINE RowMax row_max(const T* row, int64_t vocab) {
  const int64_t blocked = vocab - vocab % kLanes;
  const float inf = std::numeric_limits<float>::infinity();
  f32x16 best = f32x16{} - inf;
  i32x16 best_at = {}, at = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  for (int64_t j = 0; j < blocked; j += kLanes, at += kLanes) {
    const f32x16 v = load16(row + j);
    const i32x16 larger = v > best;  // strict: each lane keeps its first index of a tie
    best = larger ? v : best;
    best_at = larger ? at : best_at;
  }
  RowMax out{-inf, 0};
  for (int l = 0; l < kLanes; ++l)
    if (best[l] > out.value || (best[l] == out.value && best_at[l] < out.index)) out = {best[l], best_at[l]};
  for (int64_t j = blocked; j < vocab; ++j) {
    const float v = load1(row + j);
    if (v > out.value) out = {v, j};
  }
  return out;
}

template <typename T>
PLINTH_INLINE void rows_kernel(const T* base, const T* tuned, int64_t rows, int64_t vocab, int64_t stride,
                               const int64_t* targets, float* nll_base, float* nll_tuned, float* kl,
                               uint8_t* agree) {
  const int64_t blocked = vocab - vocab % kLanes;
  for (int64_t i = 0; i < rows; ++i) {
    const T* b = base + i * stride;
    const RowMax mb = row_max(b, vocab);
    if (!tuned) {
      f32x16 zb16 = {};
      for (int64_t j = 0; j < blocked; j += kLanes) zb16 += simd::exp(load16(b + j) - mb.value);
      float zb = sum_lanes(zb16);
      for (int64_t j = blocked; j < vocab; ++j) zb += simd::exp(load1(b + j) - mb.value);
      nll_base[i] = static_cast<float>(mb.value + std::log(static_cast<double>(zb)) - load1(b + targets[i]));
      continue;
    }
    const T* t = tuned + i * stride;
    const RowMax mt = row_max(t, vocab);
    // zb = sum e^(b - mb), zt = sum e^(t - mt), s = sum e^(b - mb) (b - t); then
    // KL = s / zb - (mb + log zb) + (mt + log zt): the expectation of log p - log q under p.
    f32x16 zb16 = {}, zt16 = {}, s16 = {};
    for (int64_t j = 0; j < blocked; j += kLanes) {
      const f32x16 vb = load16(b + j), vt = load16(t + j);
      const f32x16 eb = simd::exp(vb - mb.value);
      zb16 += eb;
      s16 += eb * (vb - vt);
      zt16 += simd::exp(vt - mt.value);
    }
    float zb = sum_lanes(zb16), zt = sum_lanes(zt16), s = sum_lanes(s16);
    for (int64_t j = blocked; j < vocab; ++j) {
      const float vb = load1(b + j), vt = load1(t + j);
      const float eb = simd::exp(vb - mb.value);
      zb += eb;
      s += eb * (vb - vt);
      zt += simd::exp(vt - mt.value);
    }
    const double lse_b = mb.value + std::log(static_cast<double>(zb));
    const double lse_t = mt.value + std::log(static_cast<double>(zt));
    nll_base[i] = static_cast<float>(lse_b - load1(b + targets[i]));
    nll_tuned[i] = static_cast<float>(lse_t - load1(t + targets[i]));
    kl[i] = static_cast<float>(static_cast<double>(s) / zb - lse_b + lse_t);
    agree[i] = mb.index == mt.index ? 1 : 0;
  }
}

}  // namespace

PLINTH_CPU_CLONES
void next_token_rows_f32(const float* base, const float* tuned, int64_t rows, int64_t vocab, int64_t stride,
                         const int64_t* targets, float* nll_base, float* nll_tuned, float* kl,
                         uint8_t* agree) {
  rows_kernel(base, tuned, rows, vocab, stride, targets, nll_base, nll_tuned, kl, agree);
}

PLINTH_CPU_CLONES
void next_token_rows_bf16(const uint16_t* base, const uint16_t* tuned, int64_t rows, int64_t vocab,
                          int64_t stride, const int64_t* targets, float* nll_base, float* nll_tuned,
                          float* kl, uint8_t* agree) {
  rows_kernel(base, tuned, rows, vocab, stride, targets, nll_base, nll_tuned, kl, agree);
}

}  // namespace plinth::model
