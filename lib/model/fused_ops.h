// RMSNorm, the SwiGLU gate and the rotary embedding as single autograd nodes. On the CPU (float32 or bf16) they run
// plinth's one-pass kernels (model/norm_gate_rows.h); elsewhere the same math in ATen ops.
#pragma once

#include <torch/torch.h>

namespace plinth::model {

// x (..., C), weight (C) -> (..., C) in out_dtype: normalised in float32, (x * rstd) * weight,
// rstd = 1 / sqrt(mean(x^2) + eps), rounded once to out_dtype. Under autocast the blocks pass
// autocast's dtype, so the q/k/v and gate/up projections get their input cast once, here,
// instead of each casting the same tensor.
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps,
                       torch::ScalarType out_dtype);

// silu(gate) * up, elementwise; gate and up of one shape and dtype.
torch::Tensor swiglu(const torch::Tensor& gate, const torch::Tensor& up);

// A projection's output x (B, t, heads * hd) -> (B, heads, t, hd) with the rotary embedding
// applied (cos/sin (t, hd) float32, positions of the t tokens; HF's rotate-half pairing):
// the head split, the transpose and the rotation in one pass. cos/sin (B, 1, t, hd), a position
// per token of each row (packed rows, model/llama.h), take ATen ops.
torch::Tensor rope_heads(const torch::Tensor& x, int64_t heads, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace plinth::model
