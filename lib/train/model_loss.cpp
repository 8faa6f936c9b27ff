#include "train/model_loss.h"

#include "model/autocast_guard.h"
#include "train/linear_cross_entropy.h"

namespace plinth::train {

torch::Tensor head_loss(model::LlamaImpl& m, const torch::Tensor& hidden, const torch::Tensor& y, bool bf16) {
  return linear_cross_entropy(hidden, m.lm_head_weight(), y, bf16 ? torch::kBFloat16 : torch::kFloat32);
}

torch::Tensor model_loss(model::LlamaImpl& m, const torch::Tensor& x, const torch::Tensor& y, bool bf16) {
  const torch::Device device = x.device();
  model::AutocastGuard autocast(device.type(), torch::kBFloat16, bf16);
  return head_loss(m, m.hidden_states(x), y, bf16);  // (B, T, C) hidden states in
}

}  // namespace plinth::train
