// The matmul speed a benchmark's share-of-peak is measured against, and the check that the BLAS
// kernel in use computes what float64 computes (`plinth bench matmul`).
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace plinth {

struct MatmulShape {
  int64_t m, k, n;  // (m x k) @ (k x n)
};

struct MatmulTiming {
  MatmulShape shape;
  double gflops = 0;
};

// Best-of-`repeats` GFLOP/s of each shape in `dtype` on `device`.
std::vector<MatmulTiming> time_matmuls(const std::vector<MatmulShape>& shapes, torch::ScalarType dtype,
                                       const torch::Device& device, int repeats = 6);

// The dtype's peak here: the fastest of a square product (1024, or 8192 on a GPU) and `extra`
// (a benchmark passes its model's own matmul shapes, so that no share of peak exceeds 100%
// because the square product happened to hit a slower path).
double matmul_peak_gflops(torch::ScalarType dtype, const torch::Device& device,
                          const std::vector<MatmulShape>& extra = {});

// Largest |float32 result - float64 result| over the largest |float64 result|, for a seeded
// (m x k) @ (k x n) product: ~1e-7 for a correct kernel.
double matmul_error_vs_float64(MatmulShape shape);

// "OpenBLAS 0.3.21, SkylakeX kernel" or "not OpenBLAS (LibTorch's own BLAS)".
std::string blas_description();

}  // namespace plinth
