// <run_dir>/metrics.jsonl: one JSON object per line, for people, plots and scripts.
//   {"step": 200, "loss": 4.21, "lr": 0.00028, "grad_norm": 0.61, "tokens_per_s": 5120.3,
//    "elapsed_s": 93.2, "val_loss": {"code": 4.5, "legal": 3.9}, "val_loss_mean": 4.2}
// "loss" is the mean training loss of the steps since the previous line; val_loss appears on
// evaluation steps only. Fine-tunes with regularizers add "penalty" (their mean penalty over the
// same steps, not included in "loss"); fine-tunes with replay add "replay_share" (of the scored
// targets of those steps, the share from replayed pretraining rows: the share of the gradient
// that replay carries, which finetune.replay.fraction sets); fine-tunes that distil to their base
// (finetune.distill) add "distill_kl" (the mean KL(base ‖ model) per distilled position over those
// steps, before the weight; not included in "loss"). A line for step 0 (before training) holds only
// the validation loss. Fine-tunes that choose their checkpoint (select:, finetune/selection_probe.h)
// add on each panel step "forgetting" (per domain, percent, against the step-0 panel),
// "forgetting_mean" (the mean over the domains) and "panel_s" (seconds the panel took).
// "wall_time" (Unix seconds) says when the line was written.
// <run_dir>/loss.svg draws the file (the forgetting curves in a second chart below the losses).
// <run_dir>/tb/ holds the same lines as TensorBoard events (tensorboard_event below), unless the
// recipe says train.tensorboard: false.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "util/tensorboard_events.h"

namespace plinth::train {

struct MetricsRecord {
  static constexpr double kNone = std::numeric_limits<double>::quiet_NaN();
  int64_t step = 0;
  double loss = kNone, lr = kNone, grad_norm = kNone, tokens_per_s = kNone, elapsed_s = kNone;
  double penalty = kNone;        // regularizers' mean penalty (fine-tuning); kNone without any
  double replay_share = kNone;   // replayed share of the scored targets (fine-tuning); kNone without replay
  double distill_kl = kNone;     // mean KL to the base per distilled position (finetune.distill); kNone: off
  double skipped_steps = kNone;  // diverged steps skipped so far (train.on_divergence: skip); kNone: none
  double lr_scale = kNone;       // learning-rate factor after rollbacks (on_divergence: rollback); kNone: 1
  std::vector<std::pair<std::string, double>> val_loss;    // per domain; empty off evaluation steps
  std::vector<std::pair<std::string, double>> forgetting;  // per domain, %; empty off panel steps
  double panel_s = kNone;                                  // seconds the forgetting panel took
  double wall_time = kNone;  // Unix seconds; MetricsLog::append fills it in when kNone

  std::string to_json() const;  // one line, no newline; NaN fields are left out
};

// Every line that parses; a torn last line (a killed process) is skipped.
std::vector<MetricsRecord> read_metrics(const std::filesystem::path& file);

// A record as TensorBoard scalars at its step, tags grouped by kind: train/loss, train/lr,
// train/grad_norm, train/tokens_per_s, train/elapsed_s, train/penalty, train/replay_share,
// train/distill_kl, train/skipped_steps, train/lr_scale; val/<domain> and val/mean (the mean of
// the finite ones, as metrics.jsonl's val_loss_mean); forgetting/<domain>, forgetting/mean and
// forgetting/panel_s. Absent and non-finite values are left out.
TensorBoardEvent tensorboard_event(const MetricsRecord& record);

class MetricsLog {
 public:
  // Keeps the records with step <= keep_through_step (-1: none, a fresh run) and rewrites the
  // file atomically with just those, so a resumed run continues a consistent history. With a
  // `tensorboard_dir`, the same records go there as TensorBoard events (TensorBoardWriter: the
  // event file is replaced by the kept records, then appended to).
  MetricsLog(std::filesystem::path file, int64_t keep_through_step,
             std::filesystem::path tensorboard_dir = {});
  // Appends a line and flushes it (a crash loses at most the line being written), then its event.
  void append(MetricsRecord record);
  const std::vector<MetricsRecord>& records() const { return records_; }
  // Drops the records after `keep_through_step` (a rollback to that step's checkpoint).
  void rewind(int64_t keep_through_step);
  // Training loss and each domain's validation loss against step; below them, when the records
  // hold any, each domain's panel forgetting and their mean.
  void write_plot(const std::filesystem::path& svg, const std::string& title) const;

 private:
  void rewrite();  // the file := records_, atomically; then appends continue

  std::filesystem::path file_;
  std::filesystem::path tensorboard_dir_;  // empty: no event files
  std::vector<MetricsRecord> records_;
  std::ofstream out_;
  std::unique_ptr<TensorBoardWriter> tensorboard_;
};

}  // namespace plinth::train
