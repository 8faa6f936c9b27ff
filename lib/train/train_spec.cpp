#include "train/train_spec.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace plinth::train {

void bind(ConfigSection& s, TrainSpec& spec) {
  s.read("steps", spec.steps, Range<int64_t>::between(1, int64_t{1} << 40));
  s.read("batch_size", spec.batch_size, Range<int64_t>::between(1, 1 << 20));
  s.read("grad_accum", spec.grad_accum, Range<int64_t>::between(1, 1 << 16));
  s.read("lr", spec.lr, Range<double>{0.0, 10.0, true});
  s.read("min_lr", spec.min_lr, Range<double>::between(0.0, 10.0));
  s.read("warmup_steps", spec.warmup_steps, Range<int64_t>::at_least(0));
  s.read_choice("schedule", spec.schedule, {"cosine", "linear", "constant"});
  s.read("weight_decay", spec.weight_decay, Range<double>::between(0.0, 10.0));
  s.read("beta1", spec.beta1, Range<double>{0.0, 1.0, false});
  s.read("beta2", spec.beta2, Range<double>{0.0, 1.0, false});
  s.read("eps", spec.eps, Range<double>{0.0, 1.0, true});
  s.read("grad_clip", spec.grad_clip, Range<double>::at_least(0.0));
  std::string precision = spec.precision_word();
  if (s.read_choice("precision", precision, {"fp32", "bf16", "auto"}))
    spec.precision = parse_precision(precision);
  s.read_choice("device", spec.device, {"auto", "cpu", "cuda"});
  s.read("seed", spec.seed, Range<int64_t>::at_least(0));
  s.read("eval_every", spec.eval_every, Range<int64_t>::at_least(0));
  s.read("eval_tokens", spec.eval_tokens, Range<int64_t>::at_least(1));
  s.read("log_every", spec.log_every, Range<int64_t>::at_least(1));
  s.read("checkpoint_every", spec.checkpoint_every, Range<int64_t>::at_least(1));
  s.read("keep_last", spec.keep_last, Range<int64_t>::between(0, 1 << 20));
  s.read("keep_best", spec.keep_best);
  s.read("tensorboard", spec.tensorboard);
  s.read("run_dir", spec.run_dir);
  s.read("threads", spec.threads, Range<int64_t>::between(0, 1024));
  s.read("temperature", spec.temperature, Range<double>{0.0, 1000.0, true});
  s.read_choice("on_divergence", spec.on_divergence, {"stop", "skip", "rollback"});
  s.finish();

  // beta == 1 would freeze the moment estimates; Range cannot say "< 1", so check here.
  if (spec.beta1 >= 1.0) s.error("beta1", fmt::format("{} must be below 1", spec.beta1), "0.9 is usual");
  if (spec.beta2 >= 1.0)
    s.error("beta2", fmt::format("{} must be below 1", spec.beta2), "0.95 or 0.999 are usual");
  if (spec.min_lr > spec.lr)
    s.error("min_lr", fmt::format("min_lr {} is above lr {}", spec.min_lr, spec.lr),
            "the schedule decays from lr down to min_lr: make min_lr <= lr");
  if (spec.warmup_steps >= spec.steps)
    s.error("warmup_steps",
            fmt::format("warmup of {} steps leaves none of the {} steps", spec.warmup_steps, spec.steps),
            "make warmup_steps smaller than steps (a few percent of it is usual)");
}

double learning_rate(const TrainSpec& spec, int64_t step) {
  if (step < spec.warmup_steps)
    return spec.lr * static_cast<double>(step + 1) / static_cast<double>(spec.warmup_steps);
  if (spec.schedule == "constant") return spec.lr;
  int64_t span = spec.steps - 1 - spec.warmup_steps;
  double progress =
      span > 0 ? std::clamp(static_cast<double>(step - spec.warmup_steps) / span, 0.0, 1.0) : 1.0;
  double fall = spec.schedule == "linear" ? progress : 0.5 * (1.0 - std::cos(M_PI * progress));
  return spec.lr - (spec.lr - spec.min_lr) * fall;
}

bool TrainSpec::autocast_bf16() const {
  if (!precision)
    throw std::logic_error("train.precision auto is not settled yet (settle_training_precision)");
  return *precision == Precision::bf16;
}

const char* TrainSpec::precision_word() const {
  return precision ? precision_name(*precision) : "auto";
}

}  // namespace plinth::train
