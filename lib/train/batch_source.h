// Where the trainer's micro-batches come from. Pretraining draws windows from the domain
// mixture; fine-tuning (later) brings its own source with masked targets. Each source has a
// cursor that a checkpoint stores, so a resumed run sees the same batches.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "data/mixture_sampler.h"

namespace plinth::train {

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // x, y: (rows, T) int64 on the CPU; y[b, t] is the target after x[b, :t+1]; y < 0 is ignored.
  virtual void next(int64_t rows, torch::Tensor& x, torch::Tensor& y) = 0;
  virtual uint64_t cursor() const = 0;
  virtual void restore(uint64_t cursor) = 0;
  // Of the last batch's scored targets, how many came from replayed pretraining rows
  // (ReplayBatches); -1 for a source that does not replay. Logged as the realised replay share.
  virtual int64_t last_replayed_targets() const { return -1; }
  // Per position of the last batch, (rows, T) bool: true where the row holds a real token whose
  // next token is real too (not padding), for task rows and for replayed rows apart. These are
  // the positions distillation (finetune.distill) compares the model with its base on, prompts
  // included. Undefined for a source without such rows.
  virtual torch::Tensor last_task_positions() const { return {}; }
  virtual torch::Tensor last_replay_positions() const { return {}; }
  // What the batches since the last call drew from (domain names, "task"), sorted, and forgets
  // them: a diverged step is reported with the domains that fed it.
  std::vector<std::string> take_sources() {
    std::vector<std::string> out(sources_.begin(), sources_.end());
    sources_.clear();
    return out;
  }

 protected:
  void note_source(const std::string& name) { sources_.insert(name); }
  // Sources noted by a wrapped source (ReplayBatches) become this one's.
  void adopt_sources(BatchSource& inner) {
    for (auto& s : inner.take_sources()) sources_.insert(std::move(s));
  }

 private:
  std::set<std::string> sources_;
};

// The same rows every time, for measuring a step (plinth bench train, train.precision: auto):
// next(rows) gives the first `rows` of x and y (rows <= x.size(0)).
class RepeatedBatch : public BatchSource {
 public:
  RepeatedBatch(torch::Tensor x, torch::Tensor y) : x_(std::move(x)), y_(std::move(y)) {}
  void next(int64_t rows, torch::Tensor& x, torch::Tensor& y) override {
    x = x_.narrow(0, 0, rows);
    y = y_.narrow(0, 0, rows);
  }
  uint64_t cursor() const override { return 0; }
  void restore(uint64_t) override {}

 private:
  torch::Tensor x_, y_;  // (B, T) int64
};

// Windows of T + 1 tokens from the mixture sampler: x = window[:-1], y = window[1:].
class MixtureBatches : public BatchSource {
 public:
  explicit MixtureBatches(data::DomainMixtureSampler sampler) : sampler_(std::move(sampler)) {}
  void next(int64_t rows, torch::Tensor& x, torch::Tensor& y) override;
  uint64_t cursor() const override { return sampler_.cursor(); }
  void restore(uint64_t cursor) override { sampler_.restore(cursor); }
  const data::DomainMixtureSampler& sampler() const { return sampler_; }

 private:
  data::DomainMixtureSampler sampler_;
};

}  // namespace plinth::train
