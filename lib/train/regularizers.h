// Penalties that keep a fine-tune near its base, added by the Trainer to the loss once per
// optimizer step (TrainerOptions::regularizers):
//   L2-SP (Li et al. 2018):  alpha / 2 * sum_i ||theta_i - theta0_i||^2
//   EWC (Kirkpatrick et al. 2017): lambda / 2 * sum_i F_i * (theta_i - theta0_i)^2, F = a diagonal
//     Fisher of the base on its pretraining validation data (fisher.h)
// theta0 is the base: detached copies of the parameters taken when the regularizer is made, so
// make one right after loading the base weights and before training. Only trainable parameters
// (requires_grad) are anchored, and LoRA adapters (names with "lora_") never are: they start at
// zero and have no base value to return to.
#pragma once

#include <memory>
#include <string>

#include "model/llama.h"
#include "train/fisher.h"

namespace plinth::train {

class Regularizer {
 public:
  virtual ~Regularizer();
  virtual std::string name() const = 0;  // "l2sp", "ewc": log lines and reports
  // A float32 scalar on the parameters' device, differentiable in the model's parameters.
  virtual torch::Tensor penalty(const model::LlamaImpl& model) const = 0;
};

// True for the parameters a regularizer anchors: requires_grad and not a LoRA adapter.
bool anchorable(const std::string& name, const torch::Tensor& parameter);

// alpha >= 0. Anchors the current values of `model`'s anchorable parameters.
std::shared_ptr<Regularizer> make_l2sp(const model::LlamaImpl& model, double alpha);

// lambda >= 0. Anchors the anchorable parameters that have a Fisher entry. BadInput when an
// entry's shape differs from its parameter's, or when the Fisher covers none of them (it was
// estimated for another model).
std::shared_ptr<Regularizer> make_ewc(const FisherDiagonal& fisher, const model::LlamaImpl& model, double lambda);

}  // namespace plinth::train
