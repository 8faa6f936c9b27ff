// The recipe's `train:` section: how long, how fast, on what, and what a run leaves behind.
// No torch here, so recipe binding and --print-config need not include it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "util/config_section.h"
#include "util/precision.h"

namespace plinth::train {

struct TrainSpec {
  int64_t steps = 1000;             // optimizer steps
  int batch_size = 8;               // sequences per micro-batch
  int grad_accum = 1;               // micro-batches per optimizer step
  double lr = 3e-4;                 // peak learning rate, reached at the end of warmup
  double min_lr = 3e-5;             // where cosine / linear decay ends (last step)
  int64_t warmup_steps = 100;       // linear ramp from lr / warmup_steps to lr
  std::string schedule = "cosine";  // cosine | linear | constant, after the warmup
  double weight_decay = 0.1;        // decoupled (AdamW), on 2-D weight matrices except embeddings
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double grad_clip = 1.0;          // max global grad norm; 0 = no clipping (the norm is still logged)
  // fp32 | bf16 (autocast: fp32 master weights, fp32 loss; util/precision.h) | auto (nullopt
  // here until settle_training_precision, precision_choice.h, measures the faster).
  std::optional<Precision> precision = Precision::fp32;
  std::string device = "auto";     // auto | cpu | cuda (auto: cuda when available)
  int64_t seed = 1337;             // model init, data order
  int64_t eval_every = 100;        // steps between validation passes; 0 = only at the end
  int64_t eval_tokens = 65536;     // per domain and validation pass, at most
  int64_t log_every = 10;          // steps between metrics lines (and log lines off a terminal)
  int64_t checkpoint_every = 500;  // steps between checkpoints; the last step always gets one
  int keep_last = 3;               // newest step checkpoints kept; 0 = keep all
  bool keep_best = true;           // checkpoints/best.ckpt: lowest mean validation loss
  bool tensorboard = true;         // <run_dir>/tb: TensorBoard event files of metrics.jsonl's lines
  std::string run_dir;             // "" = runs/<recipe name>
  int threads = 0;                 // 0 = $PLINTH_THREADS or all cores
  double temperature = 1.0;        // domain mixture: p ∝ weight^(1/temperature)
  // A step whose loss, penalty or gradient norm is NaN/Inf (never applied to the weights):
  //   stop      end the run (exit 1), naming the step and the domains its batch drew from
  //   skip      drop the step and go on with the next batch (counted: skipped_steps in
  //             metrics.jsonl); stops after kMaxConsecutiveSkips in a row
  //   rollback  reload the newest step checkpoint and go on at half the learning rate
  //             (lr_scale in metrics.jsonl); stops after kMaxRollbacks
  std::string on_divergence = "stop";

  int64_t tokens_per_step(int context) const {
    return static_cast<int64_t>(batch_size) * grad_accum * context;
  }

  // Training in bf16 autocast; std::logic_error while train.precision is still auto.
  bool autocast_bf16() const;
  // "fp32", "bf16" or "auto": as the recipe and the logs say it.
  const char* precision_word() const;
};

constexpr int kMaxConsecutiveSkips = 10;
constexpr int kMaxRollbacks = 3;

// Reads every key of the section (all optional), checks ranges and cross-field rules
// (min_lr <= lr, warmup_steps < steps), and reports unknown keys.
void bind(ConfigSection& s, TrainSpec& spec);

// Learning rate for the optimizer step with 0-based index `step`: a linear warmup to lr over
// warmup_steps, then the schedule from lr down to min_lr, reached exactly at the last step
// (steps - 1). `constant` stays at lr.
double learning_rate(const TrainSpec& spec, int64_t step);

}  // namespace plinth::train
