// plinth bench matmul: which BLAS kernel runs plinth's float32 matmuls, whether it computes what
// float64 computes, and the matmul speed of each dtype here: the peak that `bench train` and
// `bench eval` give their share of.
#include <fmt/format.h>
#include <torch/torch.h>

#include "command.h"
#include "matmul_peak.h"
#include "model/torch_runtime.h"
#include "util/blas_kernel.h"

namespace plinth {

namespace {

struct MatmulBenchArgs {
  int threads = 0;
  int64_t size = 1024;
};

void run_bench_matmul(const MatmulBenchArgs& a) {
  const int threads = model::configure_threads(a.threads);
  fmt::print("BLAS: {}; CPU: {}; {} threads\n", blas_description(), blas::isa_name(blas::cpu_isa()), threads);
  const MatmulShape check{a.size / 2, a.size, a.size / 2};
  fmt::print("float32 {}x{} @ {}x{} against float64: largest error {:.2e} of the largest entry\n", check.m,
             check.k, check.k, check.n, matmul_error_vs_float64(check));
  const std::vector<MatmulShape> shapes = {{a.size / 4, a.size / 4, a.size / 4}, {a.size, a.size, a.size}};
  for (torch::ScalarType dtype : {torch::kFloat32, torch::kBFloat16})
    for (const MatmulTiming& t : time_matmuls(shapes, dtype, torch::Device(torch::kCPU)))
      fmt::print("{:<8} {:>5}x{:<5} @ {:>5}x{:<5} {:8.1f} GFLOP/s\n",
                 dtype == torch::kFloat32 ? "float32" : "bf16", t.shape.m, t.shape.k, t.shape.k, t.shape.n,
                 t.gflops);
}

}  // namespace

void add_bench_matmul_command(CLI::App& bench) {
  auto* cmd = bench.add_subcommand(
      "matmul", "The BLAS kernel in use, its float32 error against float64, and matmul GFLOP/s per dtype");
  static MatmulBenchArgs a;
  cmd->add_option("--threads", a.threads, "Threads (default: all cores)")->check(CLI::PositiveNumber);
  cmd->add_option("--size", a.size, "Side of the largest square product")->check(CLI::Range(16, 16384));
  cmd->footer("Example:\n  plinth bench matmul --threads 2");
  cmd->callback([] { run_bench_matmul(a); });
}

}  // namespace plinth
