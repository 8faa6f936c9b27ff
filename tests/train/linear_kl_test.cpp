// Torch first: its logging header defines CHECK; catch.hpp must come after it so that CHECK
// is Catch's assertion.
#include "train/linear_kl.h"

#include <catch2/catch.hpp>

using namespace plinth;

namespace {

struct KlGrads {
  double kl;
  torch::Tensor hidden, weight;
};

// The KL sum and the gradients through the chunked head, or through autograd of the direct
// formula on full logits: sum over masked rows of Σ_v q (log q − log p).
KlGrads kl_run(bool chunked, torch::ScalarType compute, int64_t chunk_rows, const torch::Tensor& mask) {
  torch::manual_seed(11);
  torch::Tensor h = torch::randn({3, 7, 16}).requires_grad_();           // (B, T, C)
  torch::Tensor w = (0.3 * torch::randn({50, 16})).requires_grad_();     // (V, C)
  const torch::Tensor rh = h.detach() + 0.5 * torch::randn({3, 7, 16});  // the reference's, nearby
  const torch::Tensor rw = w.detach() + 0.1 * torch::randn({50, 16});
  torch::Tensor kl;
  if (chunked) {
    kl = train::linear_kl_sum(h, w, rh, rw, mask, compute, chunk_rows);
  } else {
    const torch::Tensor logp = torch::nn::functional::linear(h, w).log_softmax(-1);  // (B, T, V)
    const torch::Tensor logq = torch::nn::functional::linear(rh, rw).log_softmax(-1);
    const torch::Tensor per_row = (logq.exp() * (logq - logp)).sum(-1);  // (B, T)
    kl = per_row.masked_select(mask).sum();
  }
  kl.backward();
  return {kl.item<double>(), h.grad(), w.grad()};
}

}  // namespace

TEST_CASE("the chunked KL to a reference gives the value and gradients of full logits", "[train][distill]") {
  torch::manual_seed(5);
  torch::Tensor mask = torch::rand({3, 7}) < 0.7;  // (B, T)
  mask[1][3] = false;
  mask[0][0] = true;
  const KlGrads full = kl_run(false, torch::kFloat32, 0, mask);
  REQUIRE(full.kl > 0);
  for (int64_t chunk : {1, 4, 5, 21, 64}) {
    INFO("chunk_rows " << chunk);
    const KlGrads c = kl_run(true, torch::kFloat32, chunk, mask);
    CHECK(c.kl == Approx(full.kl).epsilon(1e-5));
    CHECK(torch::allclose(c.hidden, full.hidden, 1e-4, 1e-6));
    CHECK(torch::allclose(c.weight, full.weight, 1e-4, 1e-6));
  }
  // Rows outside the mask get no gradient.
  const KlGrads c = kl_run(true, torch::kFloat32, 4, mask);
  CHECK(c.hidden[1][3].abs().max().item<float>() == 0.0f);
  // bf16 matmuls: the same within bf16's precision.
  const KlGrads b = kl_run(true, torch::kBFloat16, 8, mask);
  CHECK(b.kl == Approx(full.kl).epsilon(0.03));
  CHECK(torch::allclose(b.hidden, full.hidden, 0.05, 2e-3));
}

TEST_CASE("the KL to an identical reference is zero, and so is its gradient", "[train][distill]") {
  torch::manual_seed(2);
  torch::Tensor h = torch::randn({2, 5, 8}).requires_grad_();
  torch::Tensor w = torch::randn({30, 8}).requires_grad_();
  const torch::Tensor mask = torch::ones({2, 5}, torch::kBool);
  torch::Tensor kl = train::linear_kl_sum(h, w, h.detach(), w.detach(), mask, torch::kFloat32, 3);
  CHECK(std::abs(kl.item<double>()) < 1e-5);
  kl.backward();
  CHECK(h.grad().abs().max().item<float>() < 1e-6f);
  // No row in the mask: zero, and no gradient at all.
  torch::Tensor h2 = torch::randn({2, 5, 8}).requires_grad_();
  torch::Tensor none = train::linear_kl_sum(h2, w, h2.detach() + 1, w.detach(),
                                            torch::zeros({2, 5}, torch::kBool), torch::kFloat32, 3);
  CHECK(none.item<double>() == 0.0);
  none.backward();
  CHECK((!h2.grad().defined() || h2.grad().abs().max().item<float>() == 0.0f));
  // Under NoGradGuard (validation) only the value.
  torch::NoGradGuard no_grad;
  CHECK(train::linear_kl_sum(h, w, h.detach() + 0.1, w.detach(), mask, torch::kFloat32, 4).item<double>() >
        0);
}
