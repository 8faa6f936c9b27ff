// What the chunked language-model heads share (linear_cross_entropy.h, linear_kl.h): each is one
// autograd node whose forward pass computes the gradients of hidden and weight while each chunk's
// logits are at hand, and saves them; the backward only scales them by the incoming gradient of
// the (scalar) output. Includes torch.
#pragma once

#include <torch/torch.h>

#include <cstddef>

namespace plinth::train {

// Matmuls in the compute dtype with autocast off: the heads choose their dtypes explicitly.
struct HeadAutocastOff {
  c10::impl::ExcludeDispatchKeyGuard guard{
      c10::DispatchKeySet({c10::DispatchKey::AutocastCPU, c10::DispatchKey::AutocastCUDA})};
};

// Saves grad_hidden (N, C) and grad_weight (V, C) (either may be undefined: not wanted) and the
// dtypes the inputs came in.
void save_head_gradients(torch::autograd::AutogradContext* ctx, const torch::Tensor& grad_hidden,
                         const torch::Tensor& grad_weight, torch::ScalarType hidden_dtype,
                         torch::ScalarType weight_dtype);

// The backward of a head whose first two inputs are hidden and weight, of `inputs` inputs in all:
// the saved gradients times grad_output[0], in the inputs' dtypes, and none for the others.
torch::autograd::variable_list scaled_head_gradients(torch::autograd::AutogradContext* ctx,
                                                     const torch::autograd::variable_list& grad_output,
                                                     size_t inputs);

}  // namespace plinth::train
