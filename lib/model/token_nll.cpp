#include "model/token_nll.h"

namespace plinth::model {

namespace {

// (B, T) float64 -log p of each scored target, 0 where y < 0.
torch::Tensor masked_nll_positions(LlamaImpl& model, const torch::Tensor& x, const torch::Tensor& y) {
  const torch::Tensor logp = model.forward(x).to(torch::kFloat32).log_softmax(-1);         // (B, T, V)
  const torch::Tensor picked = logp.gather(-1, y.clamp_min(0).unsqueeze(-1)).squeeze(-1);  // (B, T)
  return (-picked).to(torch::kFloat64).masked_fill(y.lt(0), 0.0);                          // (B, T)
}

}  // namespace

std::vector<double> token_nll(LlamaImpl& model, const std::vector<int64_t>& ids) {
  if (ids.size() < 2) return {};
  torch::NoGradGuard no_grad;
  const auto n = static_cast<int64_t>(ids.size());
  const torch::Tensor x = torch::tensor(ids, torch::kInt64).unsqueeze(0);  // (1, T)
  const torch::Tensor y =
      torch::cat({x.slice(1, 1), torch::full({1, 1}, int64_t{-1})}, 1);  // (1, T): next ids
  const torch::Tensor nll =
      masked_nll_positions(model, x, y).slice(1, 0, n - 1).flatten().to(torch::kCPU).contiguous();  // (T-1)
  return {nll.data_ptr<double>(), nll.data_ptr<double>() + nll.numel()};
}

std::pair<double, int64_t> masked_nll(LlamaImpl& model, const torch::Tensor& x, const torch::Tensor& y) {
  const double nll = masked_nll_positions(model, x, y).sum().item<double>();
  return {nll, y.ge(0).sum().item<int64_t>()};
}

}  // namespace plinth::model
