// What a training run shows while it runs (trainer.cpp's helpers): the averages of the steps
// since the last metrics line, the terminal's live progress line, and the numbers as the log
// prints them. Internal to lib/train.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "train/metrics_log.h"
#include "train/step_gradients.h"
#include "train/val_loss.h"

namespace plinth::train {

// 1234567 -> "1.23M", 4096 -> "4.1k", 512 -> "512".
std::string format_count(double v);
// The mean of the finite losses (NaN when none is): a domain that diverged does not hide the rest.
double mean_finite(const DomainLosses& losses);
struct TrainSpec;

// A run's first line: what trains (parameters, trainable ones), how much of it, on what, where:
// "pretrain: 6.42M parameters, 4.1k tokens per step, 300 steps, bf16 on cpu, run dir runs/x".
std::string run_start_line(const std::string& label,
                           const std::vector<std::pair<std::string, torch::Tensor>>& params,
                           double tokens_per_step, const TrainSpec& spec, const std::string& device,
                           const std::vector<std::string>& regularizers);

// A training step's progress, as the terminal's live line and the log show it:
// "finetune step 40/200 | loss 2.3456 | lr 3.00e-04 | grad norm 0.812 | 5.1k tok/s, 31.2 GFLOP/s | ETA 1m05s"
// (the penalty after the loss with regularizers; the grad norm in the log; MFU with a peak).
struct Progress {
  std::string label;
  int64_t step = 0, steps = 0;
  double loss = 0;
  std::optional<double> penalty;
  double lr = 0;
  std::optional<double> grad_norm;
  double tokens_per_s = 0, flops_per_token = 0, peak_flops = 0;  // peak_flops 0: no MFU
  double loop_seconds = 0;  // wall time since the loop began (validation and checkpoints included)
  int64_t loop_steps = 0;   // steps since then: the ETA is their mean time x the steps left
};
std::string progress_line(const Progress& p);

// "code 4.512, legal 3.901 | mean 4.206".
std::string format_val(const DomainLosses& losses);

// The steps since the last metrics line: what that line's averages are made of. A diverged
// step counts in the time and the replay/distillation shares, not in the loss.
struct MetricsWindow {
  double loss = 0, penalty = 0, seconds = 0;
  int64_t steps = 0, applied = 0;    // applied: of `steps`, those not skipped for divergence
  int64_t scored = 0, replayed = 0;  // scored targets, and of those replayed ones
  double kl = 0;                     // distillation: KL summed over distilled positions
  int64_t distilled = 0;

  void add(const StepLoss& l, double step_penalty, double dt, bool diverged);
  // The window's averages into a metrics line.
  void fill(MetricsRecord& r, bool regularized, bool replaying, double tokens_per_step) const;
};

// The progress line on a terminal: redrawn in place at most every 200 ms (and whenever asked),
// erased or ended before any other line is printed.
class LiveLine {
  using Clock = std::chrono::steady_clock;

 public:
  explicit LiveLine(bool enabled) : enabled_(enabled) {}

  template <class Text>
  void draw(bool now, const Text& text) {
    if (!enabled_ || (!now && Clock::now() - last_ <= std::chrono::milliseconds(200))) return;
    last_ = Clock::now();
    fmt::print(stderr, "\r\033[K{}", text());
    std::fflush(stderr);
    open_ = true;
  }
  void erase();  // a log line takes its place
  void end();    // it stays, and what follows starts on a new line

 private:
  bool enabled_;
  bool open_ = false;
  Clock::time_point last_ = Clock::now() - std::chrono::seconds(1);
};

}  // namespace plinth::train
