#include "train/fused_adamw.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <sstream>
#include <type_traits>

#include "train/adamw_rows.h"

namespace plinth::train {

template <class StateMap>
typename StateMap::key_type optimizer_state_key(const StateMap&, const torch::Tensor& p) {
  using Key = typename StateMap::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;
    s << p.unsafeGetTensorImpl();
    return s.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

using StateMap = std::remove_reference_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;
template StateMap::key_type optimizer_state_key<StateMap>(const StateMap&, const torch::Tensor&);

namespace {

bool fusable(const torch::Tensor& p, const torch::optim::AdamWOptions& o) {
  const torch::Tensor& g = p.grad();
  return !o.amsgrad() && p.is_cpu() && p.scalar_type() == torch::kFloat32 && p.is_contiguous() && !g.is_sparse() &&
         g.scalar_type() == torch::kFloat32 && g.is_contiguous();
}

}  // namespace

torch::Tensor FusedAdamW::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  bool all_fusable = true;
  for (auto& group : param_groups_)
    for (auto& p : group.params())
      if (p.grad().defined() && !fusable(p, static_cast<torch::optim::AdamWOptions&>(group.options())))
        all_fusable = false;
  if (!all_fusable) {  // LibTorch's own step (CUDA, amsgrad, sparse): one path for every parameter
    torch::optim::AdamW::step();
    return loss;
  }
  for (auto& group : param_groups_) {
    const auto& o = static_cast<torch::optim::AdamWOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto key = optimizer_state_key(state_, p);
      auto it = state_.find(key);
      if (it == state_.end()) {
        auto fresh = std::make_unique<torch::optim::AdamWParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        it = state_.emplace(key, std::move(fresh)).first;
      }
      auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
      s.step(s.step() + 1);
      const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
      AdamWScalars k;
      k.decay = static_cast<float>(1.0 - o.lr() * o.weight_decay());
      k.beta1 = static_cast<float>(beta1);
      k.beta2 = static_cast<float>(beta2);
      k.sqrt_bias2 = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, s.step())));
      k.eps = static_cast<float>(o.eps());
      k.step_size = static_cast<float>(o.lr() / (1.0 - std::pow(beta1, s.step())));
      float* pp = p.data_ptr<float>();
      const float* gp = p.grad().data_ptr<float>();
      float* mp = s.exp_avg().data_ptr<float>();
      float* vp = s.exp_avg_sq().data_ptr<float>();
      // Elementwise, so any split across threads gives the same bits.
      at::parallel_for(0, p.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
        adamw_update(pp + begin, gp + begin, mp + begin, vp + begin, end - begin, k);
      });
    }
  }
  return loss;
}

}  // namespace plinth::train
