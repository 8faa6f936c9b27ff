// CPU kernels for the elementwise stages of every block: RMSNorm, the SwiGLU gate and the
// rotary embedding, forward and backward. Torch-free (raw pointers); model/fused_ops.h wraps them as autograd
// functions. Done with ATen ops, RMSNorm is eight kernels forward and more backward, each a
// pass over the (N, C) activations plus a cast for autocast, and SwiGLU three passes forward
// and five backward; here each is one pass over the data.
//
// Rows are contiguous, `dim` floats each. bf16 values are uint16_t bit patterns
// (c10::BFloat16), rounded to nearest even when written.
#pragma once

#include <cstdint>

namespace plinth::model {

// y = (x * rstd) * w with rstd = 1 / sqrt(mean(x^2) + eps), per row; rstd (rows) is kept for
// the backward. y is float32 or bf16.
void rms_norm_rows(const float* x, const float* w, int64_t rows, int64_t dim, float eps, float* y, float* rstd);
void rms_norm_rows(const float* x, const float* w, int64_t rows, int64_t dim, float eps, uint16_t* y,
                   float* rstd);

// Given dy (float32 or bf16): dx = rstd * (dy*w - xhat * mean(dy*w * xhat)) with xhat = x * rstd,
// and dw += sum over these rows of dy * xhat (dw is float32, `dim` long, accumulated into).
void rms_norm_backward_rows(const float* dy, const float* x, const float* w, const float* rstd, int64_t rows,
                            int64_t dim, float* dx, float* dw);
void rms_norm_backward_rows(const uint16_t* dy, const float* x, const float* w, const float* rstd, int64_t rows,
                            int64_t dim, float* dx, float* dw);

// out = silu(gate) * up over n elements, all of one dtype.
void swiglu(const float* gate, const float* up, int64_t n, float* out);
void swiglu(const uint16_t* gate, const uint16_t* up, int64_t n, uint16_t* out);

// d_gate = d_out * up * s * (1 + gate * (1 - s)) and d_up = d_out * silu(gate), s = sigmoid(gate).
void swiglu_backward(const float* d_out, const float* gate, const float* up, int64_t n, float* d_gate,
                     float* d_up);
void swiglu_backward(const uint16_t* d_out, const uint16_t* gate, const uint16_t* up, int64_t n,
                     uint16_t* d_gate, uint16_t* d_up);

// Rotary embedding of `rows` vectors of `dim` (even) values, position i using cos/sin row i
// (rows x dim, float32), HF's rotate-half pairing (j, j + dim/2):
//   out_j = in_j cos_j - in_{j+h} sin_j,  out_{j+h} = in_{j+h} cos_{j+h} + in_j sin_{j+h}
// inverse = true rotates back by the same angles (the backward: the transpose of a rotation).
// Rows are in_stride / out_stride elements apart, so a head can be read from the projection's
// (B, t, H * dim) layout and written to attention's (B, H, t, dim) in the same pass.
void rope_rows(const float* in, int64_t in_stride, const float* cos, const float* sin, int64_t rows, int64_t dim,
               bool inverse, float* out, int64_t out_stride);
void rope_rows(const uint16_t* in, int64_t in_stride, const float* cos, const float* sin, int64_t rows,
               int64_t dim, bool inverse, uint16_t* out, int64_t out_stride);

}  // namespace plinth::model
