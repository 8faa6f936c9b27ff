#include "train/step_gradients.h"

#include <cmath>
#include <limits>
#include <vector>

#include "model/autocast_guard.h"
#include "train/data_parallel.h"
#include "train/gradient_sync.h"
#include "train/linear_cross_entropy.h"

namespace plinth::train {

StepLoss accumulate_gradients(model::LlamaImpl& model, BatchSource& batches, int64_t rows, int grad_accum,
                              const torch::Device& device, bool bf16, const RankShare* share) {
  struct Micro {
    torch::Tensor x, y;  // (B, T) each, on the CPU: this rank's rows
    int64_t scored = 0;  // in this rank's rows
  };
  std::vector<Micro> micros(static_cast<size_t>(grad_accum));
  StepLoss out;
  const int64_t world = share ? share->dp->world_size() : 1;
  const int64_t mine = rows / world, first = share ? share->dp->rank() * mine : 0;
  for (Micro& m : micros) {
    batches.next(rows, m.x, m.y);
    out.scored += (m.y >= 0).sum().item<int64_t>();
    if (share) {
      m.x = m.x.narrow(0, first, mine);
      m.y = m.y.narrow(0, first, mine);
    }
    m.scored = (m.y >= 0).sum().item<int64_t>();
    const int64_t replayed = batches.last_replayed_targets();
    if (replayed >= 0) out.replayed = (out.replayed < 0 ? 0 : out.replayed) + replayed;
  }
  if (out.scored == 0) {
    out.loss = std::numeric_limits<double>::quiet_NaN();  // the caller reports it as divergence
    return out;
  }
  torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().device(device).dtype(torch::kFloat64));
  size_t last = micros.size();  // this rank's last micro-batch with a backward
  for (size_t k = 0; k < micros.size(); ++k)
    if (micros[k].scored > 0) last = k;
  for (size_t k = 0; k < micros.size(); ++k) {
    Micro& m = micros[k];
    if (m.scored == 0) continue;  // its mean is NaN and its weight 0
    if (share && k == last) share->sync->arm();
    const torch::Tensor x = m.x.to(device), y = m.y.to(device);
    torch::Tensor loss;  // mean over this micro-batch's scored targets, float32
    {
      model::AutocastGuard autocast(device.type(), torch::kBFloat16, bf16);
      torch::Tensor hidden = model.hidden_states(x);  // (B, T, C)
      loss =
          linear_cross_entropy(hidden, model.lm_head_weight(), y, bf16 ? torch::kBFloat16 : torch::kFloat32);
    }
    const double weight = static_cast<double>(m.scored) / static_cast<double>(out.scored);
    (loss * weight).backward();
    loss_sum += loss.detach().to(torch::kFloat64) * weight;
  }
  out.loss = loss_sum.item<double>();
  if (share) {
    share->sync->finish();
    out.loss = share->dp->sum(out.loss);
  }
  return out;
}

}  // namespace plinth::train
