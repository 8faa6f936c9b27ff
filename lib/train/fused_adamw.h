// LibTorch's AdamW with its per-parameter update done in one pass (train/adamw_rows.h) for
// dense float32 CPU parameters. Same options, same state objects (AdamWParamState: step,
// exp_avg, exp_avg_sq), same keys, so checkpoints, param groups and resumption see no
// difference; other parameters (CUDA, amsgrad) take LibTorch's own step.
#pragma once

#include <torch/torch.h>

namespace plinth::train {

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

// The key LibTorch's optimizers file a parameter's state under: 1.13 uses the TensorImpl's
// address printed as a string, 2.x the pointer itself. The map's key type says which.
template <class StateMap>
typename StateMap::key_type optimizer_state_key(const StateMap&, const torch::Tensor& p);

}  // namespace plinth::train
