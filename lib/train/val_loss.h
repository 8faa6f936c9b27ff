// The trainer's built-in validation: mean next-token loss on each domain's val shard. The
// same windows every time (deterministic, no sampling), so successive evaluations of one run
// are comparable and a resumed run reports what an uninterrupted one would.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "data/shard.h"
#include "model/llama.h"

namespace plinth::train {

class DataParallel;

// Per-domain validation loss, in the order the domains were given. The trainer calls it with
// the model in eval mode and gradients off; the lead's lib/eval provides richer ones.
using DomainLosses = std::vector<std::pair<std::string, double>>;
using EvalFn = std::function<DomainLosses(model::Llama&)>;

struct ValDomain {
  std::string name;
  const data::ShardReader* shard = nullptr;  // not owned
};

struct ValLossOptions {
  int64_t max_tokens = 65536;  // predicted tokens per domain, at most
  int64_t batch_size = 8;      // windows per forward pass
  bool bf16 = false;           // autocast as in training
  // Data-parallel: rank r of W scores the batches b with b % W == r and the sums are all-reduced,
  // so every rank gets the numbers one process computes (up to the order of a float64 sum).
  DataParallel* data_parallel = nullptr;
};

// Draws batch `b` of a validation set, whatever was drawn before: x, y (B, T) int64 on the CPU,
// targets < 0 not scored.
using BatchDrawer = std::function<void(int64_t b, torch::Tensor& x, torch::Tensor& y)>;

// The one validation loop, of pretraining's domains and of a fine-tune's task alike: the mean of
// model_loss (train/model_loss.h: the training's head, bf16 autocast when `bf16`) over every
// scored target of batches 0 .. batches - 1. Each rank draws and scores the batches scores_batch
// gives it; the sums are all-reduced. NaN when nothing was scored. Call under NoGradGuard.
double mean_validation_loss(model::LlamaImpl& model, int64_t batches, const BatchDrawer& draw, bool bf16,
                            DataParallel* dp);

// Consecutive windows of context + 1 tokens from the start of each shard, each starting where
// the previous one's inputs end, so every token after the first is predicted exactly once;
// only whole windows are used, unless the shard is shorter than one window (then one shorter
// window). The mean is over predicted tokens. A domain with fewer than 2 tokens gets NaN.
DomainLosses validation_loss(model::LlamaImpl& model, const std::vector<ValDomain>& domains,
                             const ValLossOptions& options);

EvalFn make_val_loss_evaluator(std::vector<ValDomain> domains, ValLossOptions options);

}  // namespace plinth::train
