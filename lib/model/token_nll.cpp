#include "model/token_nll.h"

namespace plinth::model {

std::pair<double, int64_t> masked_nll(LlamaImpl& model, const torch::Tensor& x, const torch::Tensor& y) {
  const torch::Tensor logp = model.forward(x).log_softmax(-1);                      // (B, T, V) float32
  const torch::Tensor scored = y.ge(0);                                             // (B, T)
  const torch::Tensor picked = logp.gather(-1, y.clamp_min(0).unsqueeze(-1)).squeeze(-1);  // (B, T)
  const double nll = -(picked * scored).to(torch::kFloat64).sum().item<double>();
  return {nll, scored.sum().item<int64_t>()};
}

}  // namespace plinth::model
