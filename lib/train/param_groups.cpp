#include "train/param_groups.h"

namespace plinth::train {

bool applies_weight_decay(const std::string& name, const torch::Tensor& parameter) {
  return parameter.dim() >= 2 && name.find("embed_tokens") == std::string::npos;
}

ParamGroups split_param_groups(model::LlamaImpl& model) {
  ParamGroups g;
  for (const auto& item : model.named_parameters()) {
    if (!item.value().requires_grad()) continue;
    if (applies_weight_decay(item.key(), item.value())) {
      g.decay_names.push_back(item.key());
      g.decay.push_back(item.value());
    } else {
      g.no_decay_names.push_back(item.key());
      g.no_decay.push_back(item.value());
    }
  }
  return g;
}

}  // namespace plinth::train
