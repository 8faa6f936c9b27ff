#include "train/head_gradients.h"

namespace plinth::train {

void save_head_gradients(torch::autograd::AutogradContext* ctx, const torch::Tensor& grad_hidden,
                         const torch::Tensor& grad_weight, torch::ScalarType hidden_dtype,
                         torch::ScalarType weight_dtype) {
  ctx->save_for_backward({grad_hidden, grad_weight});
  ctx->saved_data["hidden_dtype"] = static_cast<int64_t>(hidden_dtype);
  ctx->saved_data["weight_dtype"] = static_cast<int64_t>(weight_dtype);
}

torch::autograd::variable_list scaled_head_gradients(torch::autograd::AutogradContext* ctx,
                                                     const torch::autograd::variable_list& grad_output,
                                                     size_t inputs) {
  HeadAutocastOff autocast_off;
  torch::NoGradGuard no_grad;
  const auto saved = ctx->get_saved_variables();
  const auto hidden_dtype = static_cast<torch::ScalarType>(ctx->saved_data["hidden_dtype"].toInt());
  const auto weight_dtype = static_cast<torch::ScalarType>(ctx->saved_data["weight_dtype"].toInt());
  const torch::Tensor go = grad_output[0].to(torch::kFloat32);  // () d out / d (the head's output)
  auto scaled = [&](const torch::Tensor& g, torch::ScalarType t) {
    return g.defined() ? (g * go).to(t) : torch::Tensor();
  };
  torch::autograd::variable_list out(inputs);
  out[0] = scaled(saved[0], hidden_dtype);
  out[1] = scaled(saved[1], weight_dtype);
  return out;
}

}  // namespace plinth::train
