#include "model/torch_runtime.h"

#include <fmt/format.h>
#include "model/torch_compat.h"
#include "util/threads.h"

namespace plinth::model {

std::string torch_version() {
  std::string v = fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH);
  return torch::cuda::is_available() ? v + ", CUDA devices: " + std::to_string(torch::cuda::device_count())
                                     : v + ", CPU (no CUDA device)";
}

bool cuda_available() {
  return torch::cuda::is_available();
}

int configure_threads(int requested) {
  int n = resolve_threads(requested);
  at::set_num_threads(n);
  return n;
}

}  // namespace plinth::model
