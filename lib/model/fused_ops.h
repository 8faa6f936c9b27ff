// RMSNorm and the SwiGLU gate as single autograd nodes. On the CPU (float32 or bf16) they run
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

}  // namespace plinth::model
