// C++ LibTorch has no `torch.autocast` context manager: this RAII guard turns autocast on for
// one device type and dtype and restores the previous state when it goes away. Inside it,
// matmuls run in the low dtype while the parameters (master weights) stay fp32; ops on
// autocast's fp32 list (log_softmax, the loss) stay fp32.
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

#include "model/torch_compat.h"

namespace plinth::model {

class AutocastGuard {
 public:
  // enabled == false: a no-op guard, so call sites need no branch for fp32.
  AutocastGuard(c10::DeviceType device, c10::ScalarType dtype, bool enabled = true)
      : device_(device), active_(enabled) {
    if (!active_) return;
    was_enabled_ = autocast_enabled(device_);
    old_dtype_ = autocast_dtype(device_);
    set_enabled(device_, true);
    set_dtype(device_, dtype);
    at::autocast::increment_nesting();
  }

  ~AutocastGuard() {
    if (!active_) return;
    // The outermost guard drops the cached low-precision copies of the weights: they are
    // stale after the next optimizer step.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    set_enabled(device_, was_enabled_);
    set_dtype(device_, old_dtype_);
  }

  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  // 2.4 made the API take a device type; 1.13 has one function pair per device.
#if PLINTH_TORCH_AT_LEAST(2, 4)
  static void set_enabled(c10::DeviceType d, bool on) {
    at::autocast::set_autocast_enabled(d, on);
  }
  static void set_dtype(c10::DeviceType d, c10::ScalarType t) {
    at::autocast::set_autocast_dtype(d, t);
  }
#else
  static void set_enabled(c10::DeviceType d, bool on) {
    if (d == c10::DeviceType::CUDA)
      at::autocast::set_enabled(on);
    else
      at::autocast::set_cpu_enabled(on);
  }
  static void set_dtype(c10::DeviceType d, c10::ScalarType t) {
    if (d == c10::DeviceType::CUDA)
      at::autocast::set_autocast_gpu_dtype(t);
    else
      at::autocast::set_autocast_cpu_dtype(t);
  }
#endif

  c10::DeviceType device_;
  bool active_;
  bool was_enabled_ = false;
  c10::ScalarType old_dtype_ = c10::ScalarType::Float;
};

}  // namespace plinth::model
