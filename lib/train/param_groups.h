// Which parameters AdamW decays. Decay pulls weights toward zero; that regularises the
// matrices that mix features, but on RMSNorm gains (which sit near 1) it fights the
// normalisation, and on embedding rows it shrinks rare tokens that get few gradient updates.
// Rule: decay every parameter of 2 or more dimensions except the token embedding (which, when
// tied, is also the lm_head); an untied lm_head is an ordinary matrix and is decayed.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/llama.h"

namespace plinth::train {

bool applies_weight_decay(const std::string& name, const torch::Tensor& parameter);

struct ParamGroups {
  std::vector<std::string> decay_names, no_decay_names;
  std::vector<torch::Tensor> decay, no_decay;
};

// Trainable parameters (requires_grad) split by applies_weight_decay, in named_parameters order.
ParamGroups split_param_groups(model::LlamaImpl& model);

struct TrainSpec;

// AdamW (a FusedAdamW, fused_adamw.h) over the model's trainable parameters in up to two groups,
// the decayed one first, with the spec's betas, eps and weight decay at learning rate `lr`.
// `decays` gets, per group, whether it decays. BadInput when no parameter trains.
std::unique_ptr<torch::optim::AdamW> make_adamw(model::LlamaImpl& model, const TrainSpec& spec, double lr,
                                                std::vector<bool>& decays);
// Every group's options from the spec at learning rate `lr` (`decays` as make_adamw gave it).
void set_adamw_options(torch::optim::AdamW& optim, const std::vector<bool>& decays, const TrainSpec& spec,
                       double lr);

}  // namespace plinth::train
