#include "train/val_loss.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "train/data_parallel.h"
#include "train/model_loss.h"

namespace plinth::train {

DomainLosses validation_loss(model::LlamaImpl& model, const std::vector<ValDomain>& domains,
                             const ValLossOptions& options) {
  torch::NoGradGuard no_grad;
  const torch::Device device = model.parameters().front().device();
  const int64_t context = model.config().context;
  DomainLosses out;
  for (const auto& d : domains) {
    const int64_t available = static_cast<int64_t>(d.shard->size()) - 1;  // tokens that have a predecessor
    const int64_t budget = std::min(options.max_tokens, available);
    if (budget < 1) {
      out.emplace_back(d.name, std::numeric_limits<double>::quiet_NaN());
      continue;
    }
    const int64_t t = std::min(context, budget);
    const int64_t windows = budget / t;
    double loss_sum = 0;  // summed over predicted tokens
    for (int64_t first = 0, batch = 0; first < windows; first += options.batch_size, ++batch) {
      if (!scores_batch(options.data_parallel, batch)) continue;  // another rank's
      const int64_t rows = std::min(options.batch_size, windows - first);
      torch::Tensor buf = torch::empty({rows, t + 1}, torch::kInt64);  // (B, t + 1)
      for (int64_t r = 0; r < rows; ++r)
        d.shard->read(static_cast<uint64_t>((first + r) * t), static_cast<size_t>(t + 1),
                      buf.data_ptr<int64_t>() + r * (t + 1));
      buf = buf.to(device);
      torch::Tensor x = buf.narrow(1, 0, t), y = buf.narrow(1, 1, t);  // (B, t) each
      const torch::Tensor loss = model_loss(model, x, y, options.bf16);
      loss_sum += loss.item<double>() * static_cast<double>(rows * t);
    }
    loss_sum = sum_over_ranks(options.data_parallel, loss_sum);
    out.emplace_back(d.name, loss_sum / static_cast<double>(windows * t));
  }
  return out;
}

EvalFn make_val_loss_evaluator(std::vector<ValDomain> domains, ValLossOptions options) {
  return [domains = std::move(domains), options](model::Llama& m) {
    return validation_loss(*m, domains, options);
  };
}

}  // namespace plinth::train
