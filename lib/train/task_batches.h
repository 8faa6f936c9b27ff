// Fine-tuning batches: one task example per row with masked targets, and the mix of task
// rows with replayed pretraining rows.
//
// Masking: a row holds prompt + completion (+ the completion suffix), right-padded. Targets
// are -1 (ignored by the loss) where the target token is padding or, unless loss_on_prompt,
// a prompt token, so only completion tokens are scored. Padding sits at the right end of a
// row and attention is causal, so no real token ever attends to padding, and a row never
// holds a second example: no example attends to another. Padding positions themselves attend
// to the real tokens before them, but their targets are -1, so they add nothing to the loss.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "data/task_data.h"
#include "train/batch_source.h"

namespace plinth::train {

class TaskBatches : public BatchSource {
 public:
  // seq_len: tokens per row (T). An example longer than T + 1 tokens is cut by
  // data::fit_example, the rule test scoring uses too (counted by truncated()); one left with
  // no scored target is dropped (dropped()).
  // pad_id fills x after an example (any valid id: its targets are -1). seed draws the order:
  // a fresh permutation of the examples per epoch. Throws BadInput when `examples` is empty
  // or no example is left.
  TaskBatches(std::vector<data::TokenizedExample> examples, int64_t seq_len, int64_t pad_id,
              bool loss_on_prompt, uint64_t seed);

  // x, y: (rows, T) int64 on the CPU.
  void next(int64_t rows, torch::Tensor& x, torch::Tensor& y) override;
  // Examples drawn so far. Draw i is example perm(seed, i / size())[i % size()], so the
  // cursor alone fixes what comes next: restore(cursor()) resumes the exact sequence.
  uint64_t cursor() const override { return drawn_; }
  void restore(uint64_t cursor) override { drawn_ = cursor; }

  int64_t size() const { return static_cast<int64_t>(rows_.size()); }  // examples in use
  int64_t seq_len() const { return seq_len_; }
  int64_t truncated() const { return truncated_; }  // examples longer than T + 1 tokens, cut to fit
  int64_t dropped() const { return dropped_; }      // of those, the ones left with nothing to score
  uint64_t epoch() const { return drawn_ / rows_.size(); }

 private:
  struct Row {
    std::vector<int64_t> tokens;  // prompt + completion, at most T + 1
    int64_t first_scored = 0;     // index of the first token that is a scored target
  };
  // The example index of draw `i`.
  size_t example_of(uint64_t i);

  std::vector<Row> rows_;
  int64_t seq_len_;
  int64_t pad_id_;
  uint64_t seed_;
  uint64_t drawn_ = 0;
  int64_t truncated_ = 0, dropped_ = 0;
  std::vector<uint32_t> order_;  // the permutation of epoch order_epoch_
  uint64_t order_epoch_ = UINT64_MAX;
};

// Replay: each batch mixes task rows with rows of another source (the pretraining
// MixtureBatches, window = T + 1), so the model keeps seeing its old domains while it learns
// the task. Rows [0, rows - replay_rows(rows)) come from the task, the rest from replay.
class ReplayBatches : public BatchSource {
 public:
  // fraction in [0, 1): the share of each batch's rows replayed. Both sources must give rows
  // of the same width T. Throws Failure for a fraction outside [0, 1).
  ReplayBatches(std::unique_ptr<BatchSource> task, std::unique_ptr<BatchSource> replay, double fraction);

  // x, y: (rows, T) int64; task rows first, then replay rows.
  void next(int64_t rows, torch::Tensor& x, torch::Tensor& y) override;
  // task cursor << 32 | replay cursor; Failure when either no longer fits 32 bits.
  uint64_t cursor() const override;
  void restore(uint64_t cursor) override;

  // round(fraction * rows), at least 1 when fraction > 0 and rows > 1, at most rows - 1
  // (so with rows == 1 every row is a task row).
  int64_t replay_rows(int64_t rows) const;
  double fraction() const { return fraction_; }
  BatchSource& task() { return *task_; }
  BatchSource& replay() { return *replay_; }

 private:
  std::unique_ptr<BatchSource> task_, replay_;
  double fraction_;
};

}  // namespace plinth::train
