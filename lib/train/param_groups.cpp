#include "train/param_groups.h"

#include "train/fused_adamw.h"
#include "train/train_spec.h"
#include "util/error.h"

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

namespace {

torch::optim::AdamWOptions adamw_options(const TrainSpec& spec, double lr, bool decays) {
  return torch::optim::AdamWOptions(lr)
      .betas({spec.beta1, spec.beta2})
      .eps(spec.eps)
      .weight_decay(decays ? spec.weight_decay : 0.0);
}

}  // namespace

std::unique_ptr<torch::optim::AdamW> make_adamw(model::LlamaImpl& model, const TrainSpec& spec, double lr,
                                                std::vector<bool>& decays) {
  ParamGroups groups = split_param_groups(model);
  if (groups.decay.empty() && groups.no_decay.empty())
    throw BadInput("every parameter of the model is frozen: there is nothing to train",
                   "freeze fewer parameters (finetune.freeze), or use finetune.method: lora");
  decays.clear();
  std::vector<torch::optim::OptimizerParamGroup> optim_groups;
  for (bool decayed : {true, false}) {
    auto& tensors = decayed ? groups.decay : groups.no_decay;
    if (tensors.empty()) continue;
    optim_groups.emplace_back(tensors,
                              std::make_unique<torch::optim::AdamWOptions>(adamw_options(spec, lr, decayed)));
    decays.push_back(decayed);
  }
  return std::make_unique<FusedAdamW>(std::move(optim_groups), adamw_options(spec, lr, true));
}

void set_adamw_options(torch::optim::AdamW& optim, const std::vector<bool>& decays, const TrainSpec& spec,
                       double lr) {
  auto& groups = optim.param_groups();
  for (size_t g = 0; g < groups.size(); ++g)
    static_cast<torch::optim::AdamWOptions&>(groups[g].options()) = adamw_options(spec, lr, decays[g]);
}

}  // namespace plinth::train
