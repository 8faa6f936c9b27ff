#include "model/norm_gate_rows.h"

#include <cmath>

#include "util/float_vectors.h"

namespace plinth::model {

namespace {

using namespace simd;

template <typename Y>
PLINTH_INLINE void rms_norm_impl(const float* x, const float* w, int64_t rows, int64_t dim, float eps, Y* y,
                                 float* rstd) {
  const int64_t blocked = dim - dim % kLanes;
  for (int64_t i = 0; i < rows; ++i) {
    const float* xr = x + i * dim;
    Y* yr = y + i * dim;
    f32x16 sq16 = {};
    for (int64_t j = 0; j < blocked; j += kLanes) {
      const f32x16 v = load16(xr + j);
      sq16 += v * v;
    }
    float sq = sum_lanes(sq16);
    for (int64_t j = blocked; j < dim; ++j) sq += xr[j] * xr[j];
    const float r = 1.0f / std::sqrt(sq / static_cast<float>(dim) + eps);
    rstd[i] = r;
    for (int64_t j = 0; j < blocked; j += kLanes) store16(yr + j, (load16(xr + j) * r) * load16(w + j));
    for (int64_t j = blocked; j < dim; ++j) store1(yr + j, (xr[j] * r) * w[j]);
  }
}

template <typename G>
PLINTH_INLINE void rms_norm_backward_impl(const G* dy, const float* x, const float* w, const float* rstd,
                                          int64_t rows, int64_t dim, float* dx, float* dw) {
  const int64_t blocked = dim - dim % kLanes;
  for (int64_t i = 0; i < rows; ++i) {
    const G* gr = dy + i * dim;
    const float* xr = x + i * dim;
    float* dxr = dx + i * dim;
    const float r = rstd[i];
    // dot = sum_j (dy_j w_j) xhat_j; dw_j += dy_j xhat_j
    f32x16 dot16 = {};
    for (int64_t j = 0; j < blocked; j += kLanes) {
      const f32x16 g = load16(gr + j), xhat = load16(xr + j) * r;
      dot16 += g * load16(w + j) * xhat;
      store16(dw + j, load16(dw + j) + g * xhat);
    }
    float dot = sum_lanes(dot16);
    for (int64_t j = blocked; j < dim; ++j) {
      const float g = load1(gr + j), xhat = xr[j] * r;
      dot += g * w[j] * xhat;
      dw[j] += g * xhat;
    }
    const float mean = dot / static_cast<float>(dim);
    for (int64_t j = 0; j < blocked; j += kLanes) {
      const f32x16 g = load16(gr + j), xhat = load16(xr + j) * r;
      store16(dxr + j, (g * load16(w + j) - xhat * mean) * r);
    }
    for (int64_t j = blocked; j < dim; ++j) dxr[j] = (load1(gr + j) * w[j] - xr[j] * r * mean) * r;
  }
}

template <typename V>
PLINTH_INLINE V sigmoid(const V& x) {
  return 1.0f / (simd::exp(V{} - x) + 1.0f);
}

template <typename T>
PLINTH_INLINE void swiglu_impl(const T* gate, const T* up, int64_t n, T* out) {
  const int64_t blocked = n - n % kLanes;
  for (int64_t j = 0; j < blocked; j += kLanes) {
    const f32x16 g = load16(gate + j);
    store16(out + j, g * sigmoid(g) * load16(up + j));
  }
  for (int64_t j = blocked; j < n; ++j) {
    const float g = load1(gate + j);
    store1(out + j, g * sigmoid(g) * load1(up + j));
  }
}

template <typename T>
PLINTH_INLINE void swiglu_backward_impl(const T* d_out, const T* gate, const T* up, int64_t n, T* d_gate,
                                        T* d_up) {
  const int64_t blocked = n - n % kLanes;
  for (int64_t j = 0; j < blocked; j += kLanes) {
    const f32x16 d = load16(d_out + j), g = load16(gate + j), s = sigmoid(g);
    store16(d_gate + j, d * load16(up + j) * s * (g * (1.0f - s) + 1.0f));
    store16(d_up + j, d * g * s);
  }
  for (int64_t j = blocked; j < n; ++j) {
    const float d = load1(d_out + j), g = load1(gate + j), s = sigmoid(g);
    store1(d_gate + j, d * load1(up + j) * s * (g * (1.0f - s) + 1.0f));
    store1(d_up + j, d * g * s);
  }
}

template <typename T>
PLINTH_INLINE void rope_impl(const T* in, int64_t in_stride, const float* cos, const float* sin, int64_t rows,
                             int64_t dim, bool inverse, T* out, int64_t out_stride) {
  const int64_t half = dim / 2, blocked = half - half % kLanes;
  // forward: first half subtracts the partner's sin term, second half adds it; inverse: the
  // other way round, with the partner's angle.
  const float sign = inverse ? -1.0f : 1.0f;
  for (int64_t i = 0; i < rows; ++i) {
    const T* a = in + i * in_stride;
    T* o = out + i * out_stride;
    const float* c = cos + i * dim;
    const float* s_lo = sin + i * dim + (inverse ? half : 0);  // sin used with the partner of j < half
    const float* s_hi = sin + i * dim + (inverse ? 0 : half);  // ... and of j >= half
    for (int64_t j = 0; j < blocked; j += kLanes) {
      const f32x16 lo = load16(a + j), hi = load16(a + j + half);
      store16(o + j, lo * load16(c + j) - hi * load16(s_lo + j) * sign);
      store16(o + j + half, hi * load16(c + j + half) + lo * load16(s_hi + j) * sign);
    }
    for (int64_t j = blocked; j < half; ++j) {
      const float lo = load1(a + j), hi = load1(a + j + half);
      store1(o + j, lo * c[j] - hi * s_lo[j] * sign);
      store1(o + j + half, hi * c[j + half] + lo * s_hi[j] * sign);
    }
  }
}

}  // namespace

PLINTH_CPU_CLONES
void rope_rows(const float* in, int64_t in_stride, const float* cos, const float* sin, int64_t rows, int64_t dim,
               bool inverse, float* out, int64_t out_stride) {
  rope_impl(in, in_stride, cos, sin, rows, dim, inverse, out, out_stride);
}
PLINTH_CPU_CLONES
void rope_rows(const uint16_t* in, int64_t in_stride, const float* cos, const float* sin, int64_t rows,
               int64_t dim, bool inverse, uint16_t* out, int64_t out_stride) {
  rope_impl(in, in_stride, cos, sin, rows, dim, inverse, out, out_stride);
}

PLINTH_CPU_CLONES
void rms_norm_rows(const float* x, const float* w, int64_t rows, int64_t dim, float eps, float* y, float* rstd) {
  rms_norm_impl(x, w, rows, dim, eps, y, rstd);
}
PLINTH_CPU_CLONES
void rms_norm_rows(const float* x, const float* w, int64_t rows, int64_t dim, float eps, uint16_t* y,
                   float* rstd) {
  rms_norm_impl(x, w, rows, dim, eps, y, rstd);
}
PLINTH_CPU_CLONES
void rms_norm_backward_rows(const float* dy, const float* x, const float* w, const float* rstd, int64_t rows,
                            int64_t dim, float* dx, float* dw) {
  rms_norm_backward_impl(dy, x, w, rstd, rows, dim, dx, dw);
}
PLINTH_CPU_CLONES
void rms_norm_backward_rows(const uint16_t* dy, const float* x, const float* w, const float* rstd, int64_t rows,
                            int64_t dim, float* dx, float* dw) {
  rms_norm_backward_impl(dy, x, w, rstd, rows, dim, dx, dw);
}
PLINTH_CPU_CLONES
void swiglu(const float* gate, const float* up, int64_t n, float* out) { swiglu_impl(gate, up, n, out); }
PLINTH_CPU_CLONES
void swiglu(const uint16_t* gate, const uint16_t* up, int64_t n, uint16_t* out) {
  swiglu_impl(gate, up, n, out);
}
PLINTH_CPU_CLONES
void swiglu_backward(const float* d_out, const float* gate, const float* up, int64_t n, float* d_gate,
                     float* d_up) {
  swiglu_backward_impl(d_out, gate, up, n, d_gate, d_up);
}
PLINTH_CPU_CLONES
void swiglu_backward(const uint16_t* d_out, const uint16_t* gate, const uint16_t* up, int64_t n,
                     uint16_t* d_gate, uint16_t* d_up) {
  swiglu_backward_impl(d_out, gate, up, n, d_gate, d_up);
}

}  // namespace plinth::model
