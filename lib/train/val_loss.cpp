#include "train/val_loss.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "train/data_parallel.h"
#include "train/model_loss.h"

namespace plinth::train {

double mean_validation_loss(model::LlamaImpl& model, int64_t batches, const BatchDrawer& draw, bool bf16,
                            DataParallel* dp) {
  const torch::Device device = model.parameters().front().device();
  double nll = 0;  // summed over scored targets
  int64_t count = 0;
  for (int64_t b = 0; b < batches; ++b) {
    if (!scores_batch(dp, b)) continue;  // another rank's
    torch::Tensor x, y;                  // (B, T)
    draw(b, x, y);
    const int64_t scored = y.ge(0).sum().item<int64_t>();
    if (scored == 0) continue;  // the loss's mean would be NaN
    const torch::Tensor mean = model_loss(model, x.to(device), y.to(device), bf16);
    nll += mean.item<double>() * static_cast<double>(scored);
    count += scored;
  }
  nll = sum_over_ranks(dp, nll);
  count = static_cast<int64_t>(sum_over_ranks(dp, static_cast<double>(count)));
  return count ? nll / static_cast<double>(count) : std::numeric_limits<double>::quiet_NaN();
}

DomainLosses validation_loss(model::LlamaImpl& model, const std::vector<ValDomain>& domains,
                             const ValLossOptions& options) {
  torch::NoGradGuard no_grad;
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
    const int64_t batches = (windows + options.batch_size - 1) / options.batch_size;
    const BatchDrawer draw = [&](int64_t b, torch::Tensor& x, torch::Tensor& y) {
      const int64_t first = b * options.batch_size;
      const int64_t rows = std::min(options.batch_size, windows - first);
      torch::Tensor buf = torch::empty({rows, t + 1}, torch::kInt64);  // (B, t + 1)
      for (int64_t r = 0; r < rows; ++r)
        d.shard->read(static_cast<uint64_t>((first + r) * t), static_cast<size_t>(t + 1),
                      buf.data_ptr<int64_t>() + r * (t + 1));
      x = buf.narrow(1, 0, t);  // (B, t)
      y = buf.narrow(1, 1, t);
    };
    out.emplace_back(d.name, mean_validation_loss(model, batches, draw, options.bf16, options.data_parallel));
  }
  return out;
}

EvalFn make_val_loss_evaluator(std::vector<ValDomain> domains, ValLossOptions options) {
  return [domains = std::move(domains), options](model::Llama& m) {
    return validation_loss(*m, domains, options);
  };
}

}  // namespace plinth::train
