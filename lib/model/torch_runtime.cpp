#include "model/torch_runtime.h"

#include <fmt/format.h>
#include <sched.h>

#include <cstdlib>
#include <thread>

#include "model/torch_compat.h"

namespace plinth::model {

std::string torch_version() {
  std::string v = fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH);
  return torch::cuda::is_available() ? v + " (CUDA)" : v + " (CPU)";
}

bool cuda_available() { return torch::cuda::is_available(); }

int available_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

int configure_threads(int requested) {
  int n = requested;
  if (n <= 0)
    if (const char* env = std::getenv("PLINTH_THREADS")) n = std::atoi(env);
  if (n <= 0) n = available_cores();
  at::set_num_threads(n);
  return n;
}

}  // namespace plinth::model
