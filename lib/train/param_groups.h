// Which parameters AdamW decays. Decay pulls weights toward zero; that regularises the
// matrices that mix features, but on RMSNorm gains (which sit near 1) it fights the
// normalisation, and on embedding rows it shrinks rare tokens that get few gradient updates.
// Rule: decay every parameter of 2 or more dimensions except the token embedding (which, when
// tied, is also the lm_head); an untied lm_head is an ordinary matrix and is decayed.
#pragma once

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

}  // namespace plinth::train
