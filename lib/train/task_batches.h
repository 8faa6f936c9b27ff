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

  torch::Tensor last_task_positions() const override { return positions_; }

  int64_t size() const { return static_cast<int64_t>(rows_.size()); }  // examples in use
  // Mean scored targets per row over the examples in use (what replay sizes itself by).
  double mean_scored_targets() const { return mean_scored_; }
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
  double mean_scored_ = 0;
  torch::Tensor positions_;      // (rows, T) bool of the last batch: t + 1 < the example's length
  std::vector<uint32_t> order_;  // the permutation of epoch order_epoch_
  uint64_t order_epoch_ = UINT64_MAX;
};

// Replay: each batch mixes task rows with rows of another source (the pretraining
// MixtureBatches, window = T + 1), so the model keeps seeing its old domains while it learns
// the task.
//
// `fraction` is the share of each batch's SCORED TARGETS that come from replay, i.e. the share
// of the step's loss and gradient, not of its rows: a task row scores only its completion
// (a few tokens) while a pretraining window scores all T, so a quarter of the rows would be
// most of the gradient. A batch of B rows is built as:
//   1. R = replay_rows(B) rows are set aside for replay, enough to hold the replay targets a
//      batch of average task rows needs (with headroom), the rest are task rows;
//   2. the task rows are drawn and their scored targets S_t counted;
//   3. the replay rows keep round(fraction / (1 - fraction) * S_t) targets (at most R * T),
//      spread evenly over the R rows, each row scoring its LAST targets (those with the longest
//      context, all of it real pretraining text); their other targets are -1.
// So replayed / (replayed + S_t) equals `fraction` up to one target per batch (less only when a
// batch's task rows are far longer than average and R * T cannot hold the share).
// last_replayed_targets() gives the count for the metrics' "replay_share".
class ReplayBatches : public BatchSource {
 public:
  // fraction in [0, 1). Both sources must give rows of the same width T. Throws Failure for a
  // fraction outside [0, 1).
  ReplayBatches(std::unique_ptr<TaskBatches> task, std::unique_ptr<BatchSource> replay, double fraction);

  // x, y: (rows, T) int64; task rows first, then replay rows.
  void next(int64_t rows, torch::Tensor& x, torch::Tensor& y) override;
  // task cursor << 32 | replay cursor; Failure when either no longer fits 32 bits.
  uint64_t cursor() const override;
  void restore(uint64_t cursor) override;
  int64_t last_replayed_targets() const override { return last_replayed_; }
  // Task rows come first, replay rows (every position: pretraining windows) after them.
  torch::Tensor last_task_positions() const override { return task_positions_; }
  torch::Tensor last_replay_positions() const override { return replay_positions_; }

  // Rows of a batch of `rows` set aside for replay: 0 when fraction is 0 or rows is 1, else
  // between 1 and rows - 1.
  int64_t replay_rows(int64_t rows) const;
  // Replayed targets wanted next to `task_targets` scored task targets.
  int64_t replay_targets(int64_t task_targets) const;
  double fraction() const { return fraction_; }
  TaskBatches& task() { return *task_; }
  BatchSource& replay() { return *replay_; }

 private:
  std::unique_ptr<TaskBatches> task_;
  std::unique_ptr<BatchSource> replay_;
  double fraction_;
  int64_t last_replayed_ = 0;
  torch::Tensor task_positions_, replay_positions_;  // (B, T) bool of the last batch
};

}  // namespace plinth::train
