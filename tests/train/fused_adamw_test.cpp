// Torch first: its logging header defines CHECK; catch.hpp must come after it.
#include "train/fused_adamw.h"

#include <catch2/catch.hpp>

using namespace plinth;

namespace {

// Two groups (decayed and not) over three parameters, five steps of the same gradients.
std::vector<torch::Tensor> after_steps(bool fused, int steps) {
  torch::manual_seed(6);
  std::vector<torch::Tensor> ps = {torch::randn({37, 5}).requires_grad_(), torch::randn({1000}).requires_grad_(),
                                   torch::randn({3}).requires_grad_()};
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{ps[0], ps[1]},
                      std::make_unique<torch::optim::AdamWOptions>(
                          torch::optim::AdamWOptions(1e-2).weight_decay(0.1).betas({0.9, 0.95})));
  groups.emplace_back(std::vector<torch::Tensor>{ps[2]}, std::make_unique<torch::optim::AdamWOptions>(
                                                             torch::optim::AdamWOptions(1e-2).weight_decay(0)));
  std::unique_ptr<torch::optim::AdamW> opt;
  if (fused)
    opt = std::make_unique<train::FusedAdamW>(std::move(groups), torch::optim::AdamWOptions(1e-2));
  else
    opt = std::make_unique<torch::optim::AdamW>(std::move(groups), torch::optim::AdamWOptions(1e-2));
  for (int s = 0; s < steps; ++s) {
    for (auto& p : ps) p.mutable_grad() = torch::sin(p.detach() * (s + 1));
    opt->step();
  }
  std::vector<torch::Tensor> out;
  for (auto& p : ps) out.push_back(p.detach().clone());
  // The state sits where LibTorch's AdamW keeps it, under the same keys.
  for (auto& p : ps) {
    auto it = opt->state().find(train::optimizer_state_key(opt->state(), p));
    REQUIRE(it != opt->state().end());
    const auto& st = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    CHECK(st.step() == steps);
    out.push_back(st.exp_avg_sq().clone());
  }
  return out;
}

}  // namespace

TEST_CASE("the one-pass AdamW gives LibTorch's AdamW updates and state", "[train]") {
  const auto ref = after_steps(false, 5), got = after_steps(true, 5);
  REQUIRE(ref.size() == got.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    INFO("tensor " << i << " max diff " << (ref[i] - got[i]).abs().max().item<double>());
    CHECK(torch::allclose(got[i], ref[i], 1e-5, 1e-6));
  }
}
