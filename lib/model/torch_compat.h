// Every difference between the LibTorch versions plinth builds against (Debian's 1.13, CPU;
// PyPI's 2.x, CUDA) lives here, so the rest of the code is written once.
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#define PLINTH_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace c10d {
class Backend;
class ProcessGroup;
}  // namespace c10d

namespace plinth::model {

// One c10d backend (Gloo, NCCL) as a handle: 2.0 split the process group into a ProcessGroup
// front and per-device Backends, which ProcessGroupGloo and ProcessGroupNCCL now derive from;
// in 1.13 they are ProcessGroups themselves. Both have the same allreduce / barrier.
#if PLINTH_TORCH_AT_LEAST(2, 0)
using C10dBackend = c10d::Backend;
#else
using C10dBackend = c10d::ProcessGroup;
#endif

// Fused causal attention. q, k, v: (B, H, T, hd) -> (B, H, T, hd).
// 1.13 has only the private op (returns (out, attn)); 2.x has the public one (flash /
// memory-efficient kernels on CUDA).
inline torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k,
                                      const torch::Tensor& v) {
#if PLINTH_TORCH_AT_LEAST(2, 0)
  return at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, /*dropout_p=*/0.0, /*is_causal=*/true);
#else
  return std::get<0>(at::_scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, /*dropout_p=*/0.0,
                                                       /*need_attn_weights=*/false, /*is_causal=*/true));
#endif
}

// Autocast's state for one device type: 2.4 made the API take a device type; 1.13 has one
// function pair per device.
inline bool autocast_enabled(c10::DeviceType d) {
#if PLINTH_TORCH_AT_LEAST(2, 4)
  return at::autocast::is_autocast_enabled(d);
#else
  return d == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

inline c10::ScalarType autocast_dtype(c10::DeviceType d) {
#if PLINTH_TORCH_AT_LEAST(2, 4)
  return at::autocast::get_autocast_dtype(d);
#else
  return d == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

}  // namespace plinth::model
