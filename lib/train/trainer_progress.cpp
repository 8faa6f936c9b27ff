#include "train/trainer_progress.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <limits>

#include "train/train_spec.h"
#include "util/progress.h"

namespace plinth::train {

std::string format_count(double v) {
  if (v >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f}k", v / 1e3);
  return fmt::format("{:.0f}", v);
}

double mean_finite(const DomainLosses& losses) {
  double sum = 0;
  int n = 0;
  for (const auto& [name, v] : losses)
    if (std::isfinite(v)) sum += v, ++n;
  return n ? sum / n : std::numeric_limits<double>::quiet_NaN();
}

std::string format_val(const DomainLosses& losses) {
  std::string s;
  for (const auto& [name, v] : losses) s += fmt::format("{}{} {:.3f}", s.empty() ? "" : ", ", name, v);
  return s + fmt::format(" | mean {:.3f}", mean_finite(losses));
}

std::string run_start_line(const std::string& label,
                           const std::vector<std::pair<std::string, torch::Tensor>>& params,
                           double tokens_per_step, const TrainSpec& spec, const std::string& device,
                           const std::vector<std::string>& regularizers) {
  double trainable = 0, total = 0;
  for (const auto& [name, p] : params) {
    total += static_cast<double>(p.numel());
    if (p.requires_grad()) trainable += static_cast<double>(p.numel());
  }
  return fmt::format(
      "{}: {} parameters{}, {} tokens per step, {} steps, {} on {}, run dir {}{}", label, format_count(total),
      trainable < total ? fmt::format(" ({} trainable)", format_count(trainable)) : "",
      format_count(tokens_per_step), spec.steps, spec.precision_word(), device, spec.run_dir,
      regularizers.empty() ? "" : fmt::format(", regularizers {}", fmt::join(regularizers, ", ")));
}

std::string progress_line(const Progress& p) {
  const double flops = p.tokens_per_s * p.flops_per_token;
  const double per_step = p.loop_steps ? p.loop_seconds / static_cast<double>(p.loop_steps) : 0;
  return fmt::format(
      "{} step {}/{} | loss {:.4f}{} | lr {:.2e}{} | {} tok/s, {:.1f} GFLOP/s{} | ETA {}", p.label, p.step,
      p.steps, p.loss, p.penalty ? fmt::format(" | penalty {:.4g}", *p.penalty) : "", p.lr,
      p.grad_norm ? fmt::format(" | grad norm {:.3f}", *p.grad_norm) : "", format_count(p.tokens_per_s),
      flops / 1e9, p.peak_flops > 0 ? fmt::format(", MFU {:.1f}%", 100.0 * flops / p.peak_flops) : "",
      format_duration(per_step * static_cast<double>(p.steps - p.step)));
}

void MetricsWindow::add(const StepLoss& l, double step_penalty, double dt, bool diverged) {
  scored += l.scored;
  if (l.replayed >= 0) replayed += l.replayed;
  if (l.distilled > 0 && std::isfinite(l.distill_kl)) {
    kl += l.distill_kl * static_cast<double>(l.distilled);
    distilled += l.distilled;
  }
  seconds += dt;
  ++steps;
  if (diverged) return;
  loss += l.loss;
  penalty += step_penalty;
  ++applied;
}

void MetricsWindow::fill(MetricsRecord& r, bool regularized, bool replaying, double tokens_per_step) const {
  if (applied) r.loss = loss / static_cast<double>(applied);
  if (regularized && applied) r.penalty = penalty / static_cast<double>(applied);
  if (replaying && scored > 0) r.replay_share = static_cast<double>(replayed) / static_cast<double>(scored);
  if (distilled > 0) r.distill_kl = kl / static_cast<double>(distilled);
  r.tokens_per_s = tokens_per_step * static_cast<double>(steps) / seconds;
}

void LiveLine::erase() {
  if (open_) fmt::print(stderr, "\r\033[K");
  open_ = false;
}

void LiveLine::end() {
  if (open_) fmt::print(stderr, "\n");
  open_ = false;
}

}  // namespace plinth::train
