// The evaluation's per-position NLL, KL and top-1 agreement from the fused chunked head against
// the same figures from whole float32 logits with ATen's log_softmax (the definition).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "model/next_token_stats.h"

using plinth::model::next_token_stats;

namespace {

struct Reference {
  torch::Tensor nll_b, nll_t, kl, agree;
};

Reference reference(const torch::Tensor& hb, const torch::Tensor& wb, const torch::Tensor& ht,
                    const torch::Tensor& wt, const torch::Tensor& targets, torch::ScalarType compute) {
  const torch::Tensor lb = hb.to(compute).matmul(wb.to(compute).t()).to(torch::kFloat32).log_softmax(-1);
  const torch::Tensor lt = ht.to(compute).matmul(wt.to(compute).t()).to(torch::kFloat32).log_softmax(-1);
  const torch::Tensor t = targets.unsqueeze(1);
  return {-lb.gather(1, t).squeeze(1), -lt.gather(1, t).squeeze(1), (lb.exp() * (lb - lt)).sum(-1),
          lb.argmax(-1).eq(lt.argmax(-1)).to(torch::kUInt8)};
}

}  // namespace

TEST_CASE("next-token stats: the fused chunked head gives the NLL, KL and agreement of whole logits",
          "[model][eval]") {
  torch::manual_seed(3);
  // 37 rows of width 24, a vocabulary of 1000 (not a multiple of the 16 lanes) and a second
  // model near the first: KL small against its logits, where cancellation would show.
  for (int64_t vocab : {1000, 5000}) {
    const int64_t n = vocab == 5000 ? 300 : 37, c = 24;  // 300 rows x 5000: more than one chunk
    const torch::Tensor hb = torch::randn({n, c}), wb = torch::randn({vocab, c});
    const torch::Tensor ht = hb + 0.05 * torch::randn({n, c}), wt = wb + 0.05 * torch::randn({vocab, c});
    const torch::Tensor targets = torch::randint(0, vocab, {n}, torch::kInt64);
    for (torch::ScalarType compute : {torch::kFloat32, torch::kBFloat16}) {
      INFO("vocab " << vocab << ", " << (compute == torch::kFloat32 ? "float32" : "bf16"));
      const auto s = next_token_stats(hb, wb, ht, wt, targets, compute);
      const Reference r = reference(hb, wb, ht, wt, targets, compute);
      CHECK(torch::allclose(s.nll_base, r.nll_b, 1e-5, 1e-5));
      CHECK(torch::allclose(s.nll_tuned, r.nll_t, 1e-5, 1e-5));
      CHECK(torch::allclose(s.kl, r.kl, 1e-4, 2e-6));
      CHECK(r.kl.mean().item<double>() > 1e-3);  // the models differ: the KL check is not vacuous
      CHECK(torch::equal(s.agree, r.agree));
      CHECK(s.agree.sum().item<int64_t>() > 0);
      CHECK(s.agree.sum().item<int64_t>() < n);
      // One model: its NLL alone, the same values.
      const auto one = next_token_stats(hb, wb, torch::Tensor(), torch::Tensor(), targets, compute);
      CHECK(torch::equal(one.nll_base, s.nll_base));
      CHECK_FALSE(one.kl.defined());
    }
  }
}

TEST_CASE("next-token stats: a model against itself has KL 0 and full agreement; ties pick the first index",
          "[model][eval]") {
  torch::manual_seed(4);
  const torch::Tensor h = torch::randn({20, 8}), w = torch::randn({100, 8});
  const torch::Tensor targets = torch::randint(0, 100, {20}, torch::kInt64);
  const auto s = next_token_stats(h, w, h, w, targets, torch::kFloat32);
  CHECK(s.kl.abs().max().item<float>() == 0.0f);
  CHECK(s.agree.sum().item<int64_t>() == 20);
  CHECK(torch::equal(s.nll_base, s.nll_tuned));
  // Rows whose largest logit is tied at indices 17 and 90 in the base, and at 17 only in the
  // other: the base's top-1 is its first, 17, so they agree; moved to 90 in the other, they do not.
  torch::Tensor wb = torch::zeros({100, 1}), wt = torch::zeros({100, 1}), wt2 = torch::zeros({100, 1});
  wb[17][0] = wb[90][0] = 1.0f;
  wt[17][0] = 1.0f;
  wt2[90][0] = 1.0f;
  const torch::Tensor h1 = torch::ones({3, 1}), t1 = torch::zeros({3}, torch::kInt64);
  CHECK(next_token_stats(h1, wb, h1, wt, t1, torch::kFloat32).agree.sum().item<int64_t>() == 3);
  CHECK(next_token_stats(h1, wb, h1, wt2, t1, torch::kFloat32).agree.sum().item<int64_t>() == 0);
}

TEST_CASE("next-token stats: NaN logits give NaN figures", "[model][eval]") {
  torch::Tensor w = torch::randn({50, 4});
  torch::Tensor h = torch::randn({2, 4});
  h[1][2] = std::numeric_limits<float>::quiet_NaN();
  const auto s = next_token_stats(h, w, h, w, torch::zeros({2}, torch::kInt64), torch::kFloat32);
  CHECK(std::isfinite(s.nll_base[0].item<float>()));
  CHECK(std::isnan(s.nll_base[1].item<float>()));
  CHECK(std::isnan(s.kl[1].item<float>()));
}
