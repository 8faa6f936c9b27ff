// Torch first: its logging header defines CHECK; catch.hpp must come after it so that CHECK
// is Catch's assertion.
#include "train/linear_cross_entropy.h"

#include <catch2/catch.hpp>

#include <cmath>

#include "model/autocast_guard.h"

using namespace plinth;

namespace {

struct Grads {
  double loss;
  torch::Tensor hidden, weight;
};

// Loss and gradients through the chunked head, or through full logits + cross_entropy.
Grads run(bool chunked, torch::ScalarType compute, int64_t chunk_rows, const torch::Tensor& targets) {
  torch::manual_seed(3);
  torch::Tensor h = torch::randn({3, 7, 16}).requires_grad_();        // (B, T, C)
  torch::Tensor w = (0.3 * torch::randn({50, 16})).requires_grad_();  // (V, C)
  torch::Tensor loss;
  if (chunked) {
    loss = train::linear_cross_entropy(h, w, targets, compute, chunk_rows);
  } else {
    model::AutocastGuard autocast(torch::kCPU, torch::kBFloat16, compute == torch::kBFloat16);
    torch::Tensor logits = torch::nn::functional::linear(h, w).to(torch::kFloat32);  // (B, T, V)
    loss = torch::nn::functional::cross_entropy(
        logits.reshape({-1, 50}), targets.reshape({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-1));
  }
  loss.backward();
  return {loss.item<double>(), h.grad(), w.grad()};
}

}  // namespace

TEST_CASE("the chunked head gives the loss and gradients of full logits", "[train]") {
  torch::manual_seed(5);
  torch::Tensor targets = torch::randint(0, 50, {3, 7}, torch::kInt64);  // (B, T)
  targets[0][2] = -1;  // ignored, as prompt tokens will be in fine-tuning
  targets[2][6] = -1;
  const Grads full = run(false, torch::kFloat32, 0, targets);
  for (int64_t chunk : {1, 4, 5, 21, 64}) {
    INFO("chunk_rows " << chunk);
    const Grads c = run(true, torch::kFloat32, chunk, targets);
    CHECK(c.loss == Approx(full.loss).epsilon(1e-6));
    CHECK(torch::allclose(c.hidden, full.hidden, 1e-5, 1e-7));
    CHECK(torch::allclose(c.weight, full.weight, 1e-5, 1e-7));
  }
  SECTION("bf16 matmuls stay close to autocast's") {
    const Grads bf = run(false, torch::kBFloat16, 0, targets);
    const Grads c = run(true, torch::kBFloat16, 4, targets);
    CHECK(c.loss == Approx(bf.loss).epsilon(1e-2));
    CHECK(torch::allclose(c.hidden, full.hidden, 5e-2, 2e-3));
    CHECK(torch::allclose(c.weight, full.weight, 5e-2, 2e-3));
  }
}

TEST_CASE("the chunked head ignores negative targets - none valid gives NaN", "[train]") {
  torch::Tensor h = torch::randn({2, 4, 8}), w = torch::randn({10, 8});
  torch::Tensor all_ignored = torch::full({2, 4}, -100, torch::kInt64);
  CHECK(std::isnan(train::linear_cross_entropy(h, w, all_ignored, torch::kFloat32).item<double>()));
}

TEST_CASE("the ATen path of the head (CUDA's, and float64's) agrees with the CPU kernel", "[train]") {
  torch::manual_seed(12);
  torch::Tensor targets = torch::randint(0, 50, {3, 7}, torch::kInt64);
  targets[1][1] = -1;
  auto run_in = [&](torch::ScalarType dtype) {
    torch::manual_seed(3);
    torch::Tensor h = torch::randn({3, 7, 16}).to(dtype).requires_grad_();
    torch::Tensor w = (0.3 * torch::randn({50, 16})).to(dtype).requires_grad_();
    torch::Tensor loss = train::linear_cross_entropy(h, w, targets, dtype, 8);
    loss.backward();
    return Grads{loss.item<double>(), h.grad().to(torch::kFloat32), w.grad().to(torch::kFloat32)};
  };
  const Grads kernel = run_in(torch::kFloat32), aten = run_in(torch::kFloat64);
  CHECK(kernel.loss == Approx(aten.loss).epsilon(1e-6));
  CHECK(torch::allclose(kernel.hidden, aten.hidden, 1e-4, 1e-7));
  CHECK(torch::allclose(kernel.weight, aten.weight, 1e-4, 1e-7));
}
