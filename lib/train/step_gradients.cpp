#include "train/step_gradients.h"

#include <cmath>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "model/autocast_guard.h"
#include "model/eval_mode.h"
#include "model/lora.h"
#include "train/data_parallel.h"
#include "train/gradient_sync.h"
#include "train/linear_kl.h"
#include "train/model_loss.h"

namespace plinth::train {

namespace {

// The reference's final hidden states and head weight on x, without gradient, in eval mode.
std::pair<torch::Tensor, torch::Tensor> reference_pass(model::LlamaImpl& model, const DistillTerm& distill,
                                                       const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  model::LlamaImpl& ref = distill.reference ? *distill.reference : model;
  model::EvalModeGuard eval_mode(&ref);
  std::optional<model::LoraAdaptersOff> base_only;
  if (!distill.reference) base_only.emplace(model);
  return {ref.hidden_states(x), ref.lm_head_weight()};
}

}  // namespace

StepLoss accumulate_gradients(model::LlamaImpl& model, BatchSource& batches, int64_t rows, int grad_accum,
                              const torch::Device& device, bool bf16, const RankShare* share,
                              const DistillTerm* distill) {
  struct Micro {
    torch::Tensor x, y;  // (B, T) each, on the CPU: this rank's rows
    torch::Tensor kl;    // (B, T) bool: this rank's distilled positions (distillation only)
    int64_t scored = 0;  // in this rank's rows
    int64_t distilled = 0;
  };
  std::vector<Micro> micros(static_cast<size_t>(grad_accum));
  StepLoss out;
  const int64_t world = share ? share->dp->world_size() : 1;
  const int64_t mine = rows / world, first = share ? share->dp->rank() * mine : 0;
  for (Micro& m : micros) {
    batches.next(rows, m.x, m.y);
    out.scored += (m.y >= 0).sum().item<int64_t>();
    if (distill) {
      m.kl = distill->on_replay ? batches.last_replay_positions() : batches.last_task_positions();
      if (!m.kl.defined()) m.kl = torch::zeros(m.y.sizes(), torch::kBool);  // a source without such rows
      out.distilled += m.kl.sum().item<int64_t>();
    }
    if (share) {
      m.x = m.x.narrow(0, first, mine);
      m.y = m.y.narrow(0, first, mine);
      if (distill) m.kl = m.kl.narrow(0, first, mine);
    }
    m.scored = (m.y >= 0).sum().item<int64_t>();
    if (distill) m.distilled = m.kl.sum().item<int64_t>();
    const int64_t replayed = batches.last_replayed_targets();
    if (replayed >= 0) out.replayed = (out.replayed < 0 ? 0 : out.replayed) + replayed;
  }
  if (out.scored == 0) {
    out.loss = std::numeric_limits<double>::quiet_NaN();  // the caller reports it as divergence
    return out;
  }
  const auto options64 = torch::TensorOptions().device(device).dtype(torch::kFloat64);
  torch::Tensor loss_sum = torch::zeros({}, options64), kl_sum = torch::zeros({}, options64);
  const auto compute = bf16 ? torch::kBFloat16 : torch::kFloat32;
  auto has_backward = [&](const Micro& m) { return m.scored > 0 || m.distilled > 0; };
  size_t last = micros.size();  // this rank's last micro-batch with a backward
  for (size_t k = 0; k < micros.size(); ++k)
    if (has_backward(micros[k])) last = k;
  for (size_t k = 0; k < micros.size(); ++k) {
    Micro& m = micros[k];
    if (!has_backward(m)) continue;  // its mean is NaN and its weight 0
    if (share && k == last) share->sync->arm();
    const torch::Tensor x = m.x.to(device), y = m.y.to(device);
    torch::Tensor objective;  // this micro-batch's share of the step's loss (+ distillation)
    torch::Tensor loss, kl;   // mean over its scored targets; KL summed over its distilled positions
    {
      model::AutocastGuard autocast(device.type(), torch::kBFloat16, bf16);
      torch::Tensor hidden = model.hidden_states(x);  // (B, T, C)
      if (m.scored > 0) loss = head_loss(model, hidden, y, bf16);
      if (m.distilled > 0) {
        const auto [ref_hidden, ref_weight] = reference_pass(model, *distill, x);
        kl = linear_kl_sum(hidden, model.lm_head_weight(), ref_hidden, ref_weight, m.kl.to(device), compute);
      }
    }
    const double weight = static_cast<double>(m.scored) / static_cast<double>(out.scored);
    if (loss.defined()) {
      objective = loss * weight;
      loss_sum += loss.detach().to(torch::kFloat64) * weight;
    }
    if (kl.defined()) {
      torch::Tensor term = kl * (distill->weight / static_cast<double>(out.distilled));
      objective = objective.defined() ? objective + term : term;
      kl_sum += kl.detach().to(torch::kFloat64);
    }
    objective.backward();
  }
  out.loss = loss_sum.item<double>();
  double kl_total = distill ? kl_sum.item<double>() : 0.0;
  if (share) {
    share->sync->finish();
    out.loss = share->dp->sum(out.loss);
    if (distill) kl_total = share->dp->sum(kl_total);
  }
  if (distill && out.distilled > 0) out.distill_kl = kl_total / static_cast<double>(out.distilled);
  return out;
}

double clip_gradient_norm(const std::vector<std::pair<std::string, torch::Tensor>>& params, double max_norm) {
  std::vector<torch::Tensor> norms;
  for (const auto& [name, p] : params)
    if (p.requires_grad() && p.grad().defined()) norms.push_back(p.grad().norm(2).to(torch::kFloat32));
  if (norms.empty()) return 0.0;
  const double total = torch::stack(norms).norm(2).item<double>();
  if (max_norm > 0 && total > max_norm) {
    const double scale = max_norm / (total + 1e-6);
    for (const auto& [name, p] : params)
      if (p.requires_grad() && p.grad().defined()) p.grad().mul_(scale);
  }
  return total;
}

}  // namespace plinth::train
