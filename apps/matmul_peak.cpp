#include "matmul_peak.h"

#include <algorithm>
#include <chrono>

#include "util/blas_kernel.h"

namespace plinth {

namespace {

void sync(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

}  // namespace

std::vector<MatmulTiming> time_matmuls(const std::vector<MatmulShape>& shapes, torch::ScalarType dtype,
                                       const torch::Device& device, int repeats) {
  std::vector<MatmulTiming> out;
  auto opts = torch::TensorOptions().dtype(dtype).device(device);
  for (const MatmulShape& s : shapes) {
    auto a = torch::randn({s.m, s.k}, opts), b = torch::randn({s.k, s.n}, opts);
    double best = 1e30;
    for (int i = 0; i < repeats; ++i) {
      sync(device);
      const auto t0 = std::chrono::steady_clock::now();
      auto c = torch::matmul(a, b);
      sync(device);
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    out.push_back({s, 2.0 * s.m * s.k * s.n / best / 1e9});
  }
  return out;
}

double matmul_peak_gflops(torch::ScalarType dtype, const torch::Device& device,
                          const std::vector<MatmulShape>& extra) {
  const int64_t n = device.is_cuda() ? 8192 : 1024;
  std::vector<MatmulShape> shapes = {{n, n, n}};
  shapes.insert(shapes.end(), extra.begin(), extra.end());
  double peak = 0;
  for (const MatmulTiming& t : time_matmuls(shapes, dtype, device)) peak = std::max(peak, t.gflops);
  return peak;
}

double matmul_error_vs_float64(MatmulShape shape) {
  torch::manual_seed(1234);
  auto a = torch::randn({shape.m, shape.k}), b = torch::randn({shape.k, shape.n});
  auto c32 = torch::matmul(a, b).to(torch::kFloat64);
  auto c64 = torch::matmul(a.to(torch::kFloat64), b.to(torch::kFloat64));
  return ((c32 - c64).abs().max() / c64.abs().max()).item<double>();
}

std::string blas_description() {
  const std::string version = blas::openblas_version();
  if (version.empty()) return "not OpenBLAS (LibTorch's own BLAS)";
  return version + ", " + blas::openblas_core() + " kernel";
}

}  // namespace plinth
