// The training loss of a model on a batch, the one definition that every loss of training
// shares: the step (step_gradients.cpp), pretraining validation (val_loss.cpp), the fine-tune's
// task validation (finetune/finetune_run.cpp), the Fisher (fisher.cpp) and plinth bench train.
// Validation therefore measures what the steps optimise, in their precision. Includes torch.
#pragma once

#include <torch/torch.h>

#include "model/llama.h"

namespace plinth::train {

// hidden (B, T, C): m's final hidden states of a batch; y (B, T) targets, < 0 not scored -> the
// mean cross-entropy over the scored targets through m's head (linear_cross_entropy.h: chunked,
// the gradients computed in the same pass), its matmul in bf16 when `bf16`, else float32.
torch::Tensor head_loss(model::LlamaImpl& m, const torch::Tensor& hidden, const torch::Tensor& y, bool bf16);

// The same from token ids x (B, T): the forward pass under bf16 autocast when `bf16`, then
// head_loss. Differentiable; under NoGradGuard for validation.
torch::Tensor model_loss(model::LlamaImpl& m, const torch::Tensor& x, const torch::Tensor& y, bool bf16);

}  // namespace plinth::train
