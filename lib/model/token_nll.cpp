#include "model/token_nll.h"

namespace plinth::model {

torch::Tensor masked_nll_rows(LlamaImpl& model, const torch::Tensor& x, const torch::Tensor& y) {
  const torch::Tensor logp = model.forward(x).to(torch::kFloat32).log_softmax(-1);         // (B, T, V)
  const torch::Tensor picked = logp.gather(-1, y.clamp_min(0).unsqueeze(-1)).squeeze(-1);  // (B, T)
  return (-picked).to(torch::kFloat64).masked_fill(y.lt(0), 0.0).sum(1).to(torch::kCPU);   // (B)
}

std::pair<double, int64_t> masked_nll(LlamaImpl& model, const torch::Tensor& x, const torch::Tensor& y) {
  const double nll = masked_nll_rows(model, x, y).sum().item<double>();
  return {nll, y.ge(0).sum().item<int64_t>()};
}

}  // namespace plinth::model
