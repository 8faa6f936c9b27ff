#include "train/trainer.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <optional>

#include "model/checkpoint_model.h"
#include "model/device.h"
#include "model/torch_runtime.h"
#include "train/checkpoint_files.h"
#include "train/data_parallel.h"
#include "train/divergence.h"
#include "train/gradient_sync.h"
#include "train/metrics_log.h"
#include "train/optimizer_checkpoint.h"
#include "train/param_groups.h"
#include "train/step_gradients.h"
#include "train/stop_signal.h"
#include "train/trainer_progress.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/progress.h"

namespace plinth::train {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Trainer::Impl {
  model::Llama model;
  std::unique_ptr<BatchSource> batches;
  TrainerOptions opt;
  torch::Device device;
  // Every parameter, trainable or not, in named_parameters order: index i is "optim/<i>" in
  // checkpoints, so indices stay stable whatever is frozen.
  NamedParameters params;
  std::vector<bool> group_decays;              // per optimizer group
  std::unique_ptr<torch::optim::AdamW> optim;  // a FusedAdamW
  int64_t step = 0;                            // optimizer steps done
  bool resumed = false;
  double best_val = std::numeric_limits<double>::infinity();
  int64_t best_step = -1;
  double lr_scale = 1.0;      // halved by each rollback (train.on_divergence); kept in checkpoints
  int64_t skipped_steps = 0;  // diverged steps skipped; kept in checkpoints
  std::vector<std::string> step_sources;  // what the last step's batches drew from
  std::unique_ptr<GradientSync> sync;     // data-parallel only

  Impl(model::Llama m, std::unique_ptr<BatchSource> b, TrainerOptions o)
      : model(std::move(m)),
        batches(std::move(b)),
        opt(std::move(o)),
        device(opt.data_parallel ? opt.data_parallel->device()
                                 : model::resolve_device(opt.spec.device, "train.device")) {
    if (opt.spec.run_dir.empty()) throw Failure("Trainer: spec.run_dir is empty");
    for (const char* key :
         {"kind", "model_config", "step", "tokenizer_hash", "recipe", "sampler_cursor", "precision",
          "torch_version", "best_val_loss", "best_step", "lr_scale", "skipped_steps"})
      if (opt.extra_meta.count(key)) throw Failure(fmt::format("Trainer: extra_meta may not set '{}'", key));
    model->to(device);
    for (auto& item : model->named_parameters()) params.emplace_back(item.key(), item.value());
    optim = make_adamw(*model, opt.spec, lr_at(step), group_decays);
    if (opt.data_parallel) {
      if (opt.spec.batch_size % opt.data_parallel->world_size() != 0)
        throw Failure("Trainer: train.batch_size is not a multiple of the world size");  // the command checks
      std::vector<torch::Tensor> trainable;
      for (const auto& [name, p] : params)
        if (p.requires_grad()) trainable.push_back(p);
      sync = std::make_unique<GradientSync>(opt.data_parallel, trainable);
    }
  }

  // The process that writes the run directory: the only one, or data-parallel rank 0.
  bool lead() const { return !opt.data_parallel || opt.data_parallel->lead(); }

  // Every group's options from the spec: after a resume (AdamW keeps none of them in our
  // checkpoint, and LibTorch's own load would not restore them either), after a rollback, and for each step's
  // learning rate.
  void apply_group_options() { set_adamw_options(*optim, group_decays, opt.spec, lr_at(step)); }

  double lr_at(int64_t at) const { return learning_rate(opt.spec, at) * lr_scale; }

  model::CheckpointContents make_checkpoint() const {
    model::CheckpointContents c;
    c.meta = opt.extra_meta;
    c.meta["kind"] = opt.checkpoint_kind;
    c.meta["model_config"] = model::model_config_json(model->config());
    c.meta["step"] = std::to_string(step);
    c.meta["tokenizer_hash"] = hex64(opt.tokenizer_hash);
    c.meta["recipe"] = opt.recipe_yaml;
    c.meta["sampler_cursor"] = std::to_string(batches->cursor());
    c.meta["precision"] = opt.spec.precision_word();
    c.meta["torch_version"] = model::torch_version();
    if (best_step >= 0) {
      c.meta["best_val_loss"] = fmt::format("{:.17g}", best_val);
      c.meta["best_step"] = std::to_string(best_step);
    }
    if (lr_scale != 1.0) c.meta["lr_scale"] = fmt::format("{:.17g}", lr_scale);
    if (skipped_steps) c.meta["skipped_steps"] = std::to_string(skipped_steps);
    if (opt.probe)
      for (auto& [key, value] : opt.probe->state())
        if (!c.meta.emplace(key, value).second)
          throw Failure("Trainer: the probe's state reuses meta key " + key);
    for (const auto& [name, p] : params) c.tensors.emplace_back("model/" + name, p.detach().to(torch::kCPU));
    add_optimizer_state(c, params, *optim);
    add_generator_states(c, device);
    return c;
  }

  void restore(const fs::path& file) {
    model::CheckpointContents c = model::read_checkpoint(file);
    if (auto kind = c.meta.find("kind"); kind != c.meta.end() && kind->second != opt.checkpoint_kind)
      throw BadInput(fmt::format("checkpoint {} was written by a {} run; this is a {} run", file.string(),
                                 kind->second, opt.checkpoint_kind),
                     "resume a run with the command that started it, or start a new run in another "
                     "train.run_dir");
    model::check_checkpoint_compatible(c, file, model->config(), opt.tokenizer_hash);
    model::load_model_weights(*model, c, file);
    step = c.meta_int("step", file);
    batches->restore(static_cast<uint64_t>(c.meta_int("sampler_cursor", file)));
    // Before apply_group_options below, which sets each group's lr from it.
    lr_scale = c.meta.count("lr_scale") ? c.meta_double("lr_scale", file) : 1.0;
    skipped_steps = c.meta.count("skipped_steps") ? c.meta_int("skipped_steps", file) : 0;

    restore_optimizer_state(c, file, params, *optim);
    apply_group_options();

    restore_generator_states(c, device);
    best_step = -1;
    best_val = std::numeric_limits<double>::infinity();
    if (c.meta.count("best_step")) {
      best_step = c.meta_int("best_step", file);
      best_val = c.meta_double("best_val_loss", file);
    }
    if (opt.probe) opt.probe->restore(c, file, model, step);
    resumed = true;
    log::info("resumed {} at step {}", file.string(), step);
  }

  // The regularizers' penalty, backpropagated once per step (float32, outside autocast): its
  // gradient adds to the micro-batches', as if it were part of the step's loss. Returns its value.
  double apply_penalty() {
    if (opt.regularizers.empty()) return 0.0;
    torch::Tensor total;
    for (const auto& r : opt.regularizers) {
      torch::Tensor p = r->penalty(*model);  // scalar
      total = total.defined() ? total + p : p;
    }
    if (total.requires_grad()) total.backward();
    return total.item<double>();
  }

  // One optimizer step over grad_accum micro-batches (step_gradients.h); returns the mean token
  // loss over the step's scored targets (penalty excluded) and their counts. A step whose loss,
  // penalty or gradient norm is not finite is not applied: `diverged` is set, the weights and
  // the optimizer state stay as they were, and the step count does not move.
  StepLoss train_step(double& grad_norm, double& penalty, bool& diverged) {
    const TrainSpec& s = opt.spec;
    apply_group_options();  // this step's learning rate
    // Gradients as "none" instead of zero-filled: the first backward writes them, no fill pass.
    for (auto& [name, p] : params) p.mutable_grad() = torch::Tensor();
    // Data-parallel: the gradients and the loss come back summed over the ranks (identical on
    // each), so the penalty, clipping, the divergence check and the update agree everywhere.
    const RankShare share{opt.data_parallel.get(), sync.get()};
    DistillTerm distill = opt.distill;
    distill.reference = opt.distill_reference ? opt.distill_reference.get() : nullptr;
    StepLoss step_loss =
        accumulate_gradients(*model, *batches, s.batch_size, s.grad_accum, device, s.autocast_bf16(),
                             sync ? &share : nullptr, distill.weight > 0 ? &distill : nullptr);
    step_sources = batches->take_sources();
    if (inject_nan_at(step + 1)) step_loss.loss = std::numeric_limits<double>::quiet_NaN();
    penalty = apply_penalty();
    grad_norm = clip_gradient_norm(params, opt.spec.grad_clip);
    diverged = !std::isfinite(step_loss.loss) || !std::isfinite(penalty) || !std::isfinite(grad_norm);
    if (diverged) return step_loss;
    optim->step();
    ++step;
    return step_loss;
  }

  DomainLosses evaluate() {
    torch::NoGradGuard no_grad;
    model->eval();
    DomainLosses v = opt.evaluate(model);
    model->train();
    return v;
  }

  // The probe's measurement of this step, into the step's metrics line.
  void measure_probe(const DomainLosses& val, MetricsRecord& r) {
    torch::NoGradGuard no_grad;
    model->eval();
    opt.probe->measure(model, step, val, r);
    model->train();
  }

  fs::path save_checkpoint() {
    const fs::path file = step_checkpoint_path(opt.spec.run_dir, step);
    if (lead()) model::write_checkpoint(file, make_checkpoint());
    return file;
  }

  // Step 0's validation and probe, on a run that starts fresh: the untrained model's loss
  // anchors the curve (about ln(vocab_size)).
  void evaluate_untrained(std::optional<MetricsLog>& metrics, TrainResult& result, Clock::time_point start) {
    MetricsRecord r;
    r.step = 0;
    if (opt.evaluate) {
      r.val_loss = evaluate();
      log::info("step 0 val: {}", format_val(r.val_loss));
    }
    if (opt.probe) measure_probe(r.val_loss, r);
    r.elapsed_s = seconds_since(start);
    if (metrics) metrics->append(r);
    if (opt.probe) opt.probe->committed(model, 0);
    result.last_val = r.val_loss;
    result.last_val_step = 0;
  }

  // The step's checkpoint, best.ckpt when it is the best, and the older ones pruned.
  void checkpoint(bool new_best, TrainResult& result) {
    const fs::path run_dir = opt.spec.run_dir;
    result.last_checkpoint = save_checkpoint();
    if (new_best) {
      if (lead()) link_best_checkpoint(run_dir, result.last_checkpoint);
      result.best_checkpoint = best_checkpoint_path(run_dir);
    }
    if (lead()) prune_checkpoints(run_dir, opt.spec.keep_last, opt.spec.keep_best ? best_step : -1);
  }

  // train.on_divergence for a step that was not applied: rollback restores the newest step
  // checkpoint at half the learning rate (returns true: the caller goes on from there), skip
  // counts the step as done (returns false), stop and exhausted budgets throw Failure.
  bool on_divergence(const StepLoss& l, double penalty, double grad_norm, int& consecutive_skips,
                     TrainResult& result) {
    const TrainSpec& s = opt.spec;
    const std::string what =
        divergence_text(step + 1, l.loss, opt.regularizers.empty() ? std::nullopt : std::optional(penalty),
                        grad_norm, step_sources);
    const auto latest = latest_checkpoint(s.run_dir);
    const char* fix = kDivergenceHint;
    if (s.on_divergence == "rollback") {
      if (!latest)
        throw Failure(
            fmt::format("training diverged at {}, and there is no step checkpoint in {} to roll "
                        "back to (train.on_divergence: rollback)\n  hint: {}",
                        what, checkpoint_dir(s.run_dir).string(), fix));
      if (result.rollbacks >= kMaxRollbacks)
        throw Failure(fmt::format("training diverged at {} after {} rollbacks; stopping\n  hint: {}", what,
                                  result.rollbacks, fix));
      const double scale = lr_scale;
      restore(*latest);
      lr_scale = std::min(scale, lr_scale) * 0.5;
      apply_group_options();
      ++result.rollbacks;
      log::warn("training diverged at {}: rolled back to {} (step {}); learning rate now x{:g}", what,
                latest->string(), step, lr_scale);
      return true;
    }
    if (s.on_divergence != "skip")
      throw Failure(
          fmt::format("training diverged at {}; the step was not applied, the last checkpoint is "
                      "{}\n  hint: {}",
                      what, latest ? latest->string() : "none", fix));
    ++step;
    ++skipped_steps;
    if (++consecutive_skips >= kMaxConsecutiveSkips)
      throw Failure(fmt::format("training diverged at {}: {} steps in a row skipped; stopping\n  hint: {}",
                                what, consecutive_skips, fix));
    log::warn("training diverged at {}: step skipped ({} so far)", what, skipped_steps);
    return false;
  }
};

Trainer::Trainer(model::Llama model, std::unique_ptr<BatchSource> batches, TrainerOptions options)
    : impl_(nullptr) {
  if (!options.spec.precision)
    throw std::logic_error("Trainer: settle train.precision first (settle_training_precision)");
  impl_ = std::make_unique<Impl>(std::move(model), std::move(batches), std::move(options));
}

Trainer::~Trainer() = default;

void Trainer::resume(const fs::path& checkpoint) {
  impl_->restore(checkpoint);
}

fs::path Trainer::resume_latest() {
  const fs::path run_dir = impl_->opt.spec.run_dir;
  auto steps = list_step_checkpoints(run_dir);
  if (steps.empty())
    throw BadInput(
        fmt::format("--resume: {} holds no checkpoint to resume", checkpoint_dir(run_dir).string()),
        "start the run without --resume");
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    try {
      impl_->restore(it->second);
      return it->second;
    } catch (const model::DamagedCheckpoint& e) {
      fs::path aside = it->second;
      aside += ".damaged";
      std::error_code ec;
      if (impl_->lead()) fs::rename(it->second, aside, ec);
      log::warn("{}\n  set aside as {}; {}", e.what(), aside.string(),
                std::next(it) == steps.rend()
                    ? "no older checkpoint is left"
                    : "resuming from the one before it, " + std::next(it)->second.string());
    }
  }
  throw BadInput(fmt::format("--resume: every checkpoint in {} is damaged (set aside as *.damaged)",
                             checkpoint_dir(run_dir).string()),
                 "start the run again without --resume in a new train.run_dir");
}

double Trainer::step_once() {
  double grad_norm = 0, penalty = 0;
  bool diverged = false;
  return impl_->train_step(grad_norm, penalty, diverged).loss;
}

int64_t Trainer::step() const {
  return impl_->step;
}

model::Llama& Trainer::model() {
  return impl_->model;
}

torch::optim::AdamW& Trainer::optimizer() {
  return *impl_->optim;
}

TrainResult Trainer::run() {
  Impl& t = *impl_;
  const TrainSpec& s = t.opt.spec;
  const fs::path run_dir = s.run_dir;
  StopSignalScope signals;
  const auto start = Clock::now();
  model::configure_threads(s.threads);

  if (!t.resumed) refuse_existing_run(run_dir);
  std::optional<MetricsLog> metrics;  // the lead's
  if (t.lead()) {
    fs::create_directories(checkpoint_dir(run_dir));
    write_file_atomic(run_dir / "recipe.yaml", t.opt.recipe_yaml);
    metrics.emplace(run_dir / "metrics.jsonl", t.resumed ? t.step : -1,
                    s.tensorboard ? run_dir / "tb" : fs::path());
  }
  DataParallel* const dp = t.opt.data_parallel.get();
  double step_waits = 0;  // data-parallel: seconds of the steps spent waiting on the all-reduce
  const fs::path plot = run_dir / "loss.svg";
  const std::string title = fmt::format("{}: {}", t.opt.label, run_dir.filename().string());

  TrainResult result;
  result.start_step = t.step;
  if (fs::exists(best_checkpoint_path(run_dir))) result.best_checkpoint = best_checkpoint_path(run_dir);
  const bool tty = ::isatty(STDERR_FILENO) && log::verbosity() >= 1 && t.lead();
  const int context = t.opt.row_tokens > 0 ? static_cast<int>(t.opt.row_tokens) : t.model->config().context;
  const double tokens_per_step = static_cast<double>(s.tokens_per_step(context));
  const double flops_per_token = t.model->config().flops_per_token();
  std::vector<std::string> regularizers;
  for (const auto& r : t.opt.regularizers) regularizers.push_back(r->name());
  log::info("{}", run_start_line(t.opt.label, t.params, tokens_per_step, s, t.device.str(), regularizers));

  StepProbe* const probe = t.opt.probe.get();
  if (!t.resumed && t.step == 0 && (t.opt.evaluate || probe)) t.evaluate_untrained(metrics, result, start);

  const bool regularized = !t.opt.regularizers.empty();
  const bool replaying = t.batches->last_replayed_targets() >= 0;
  MetricsWindow window;
  double total_seconds = 0;
  int64_t steps_this_run = 0;
  int consecutive_skips = 0;
  LiveLine live(tty);
  auto throughput = [&](double tokens_per_s) {
    const double flops = tokens_per_s * flops_per_token;
    std::string text = fmt::format("{} tok/s, {:.1f} GFLOP/s", format_count(tokens_per_s), flops / 1e9);
    if (t.opt.peak_flops > 0) text += fmt::format(", MFU {:.1f}%", 100.0 * flops / t.opt.peak_flops);
    return text;
  };
  // Wall time per step since the loop began: periodic validation and checkpoints included.
  const auto loop_start = Clock::now();
  auto eta = [&]() {
    const double per_step = steps_this_run ? seconds_since(loop_start) / steps_this_run : 0;
    return format_duration(per_step * static_cast<double>(s.steps - t.step));
  };

  while (t.step < s.steps) {
    const auto step_start = Clock::now();
    const double lr = t.lr_at(t.step);
    double grad_norm = 0, penalty = 0;
    bool diverged = false;
    const double waited_before_step = dp ? dp->wait_seconds() : 0;
    const StepLoss step_loss = t.train_step(grad_norm, penalty, diverged);
    if (dp) step_waits += dp->wait_seconds() - waited_before_step;
    const double loss = step_loss.loss;
    if (diverged) {
      live.end();
      if (t.on_divergence(step_loss, penalty, grad_norm, consecutive_skips, result)) {  // rolled back
        if (metrics) metrics->rewind(t.step);
        window = MetricsWindow();
        continue;
      }
    } else {
      consecutive_skips = 0;
    }
    const double dt = seconds_since(step_start);
    window.add(step_loss, penalty, dt, diverged);
    ++steps_this_run;
    total_seconds += dt;
    if (!diverged) {
      result.last_loss = loss;
      result.last_penalty = penalty;
      if (t.opt.after_step) t.opt.after_step(t.step, loss);
    }

    // A stop signal on any rank stops every rank after this same step.
    const int sig =
        dp ? static_cast<int>(dp->max(StopSignalScope::requested())) : StopSignalScope::requested();
    const bool last = t.step == s.steps;
    const bool probe_now = probe && (t.step % probe->every() == 0 || last);
    const bool eval_now =
        t.opt.evaluate && ((s.eval_every > 0 && t.step % s.eval_every == 0) || last || probe_now);
    bool checkpoint_now = t.step % s.checkpoint_every == 0 || last || sig != 0 || probe_now;
    const bool line_now = t.step % s.log_every == 0 || eval_now || last || sig != 0 || probe_now;

    live.draw(line_now, [&] {
      return fmt::format("{} step {}/{} | loss {:.4f}{} | lr {:.2e} | {} | ETA {}", t.opt.label, t.step,
                         s.steps, loss, regularized ? fmt::format(" | penalty {:.4g}", penalty) : "", lr,
                         throughput(tokens_per_step / dt), eta());
    });

    MetricsRecord r;
    bool new_best = false;
    if (eval_now) {
      r.val_loss = t.evaluate();
      result.last_val = r.val_loss;
      result.last_val_step = t.step;
      const double mean = mean_finite(r.val_loss);
      if (s.keep_best && mean < t.best_val) {
        t.best_val = mean;
        t.best_step = t.step;
        new_best = checkpoint_now = true;  // best.ckpt must hold exactly these weights
      }
      live.erase();
      log::info("step {} val: {}{}", t.step, format_val(r.val_loss), new_best ? " (best)" : "");
    }
    if (probe_now) t.measure_probe(r.val_loss, r);
    if (line_now) {
      r.step = t.step;
      window.fill(r, regularized, replaying, tokens_per_step);
      if (t.skipped_steps) r.skipped_steps = static_cast<double>(t.skipped_steps);
      if (t.lr_scale != 1.0) r.lr_scale = t.lr_scale;
      r.lr = lr;
      r.grad_norm = grad_norm;
      r.elapsed_s = seconds_since(start);
      if (metrics) metrics->append(r);
      if (!tty)
        log::info("{} step {}/{} | loss {:.4f}{} | lr {:.2e} | grad norm {:.3f} | {} | ETA {}", t.opt.label,
                  t.step, s.steps, r.loss, regularized ? fmt::format(" | penalty {:.4g}", r.penalty) : "", lr,
                  grad_norm, throughput(r.tokens_per_s), eta());
      window = MetricsWindow();
    }
    if (checkpoint_now) t.checkpoint(new_best, result);
    if (probe_now) probe->committed(t.model, t.step);
    if (metrics && (eval_now || checkpoint_now)) metrics->write_plot(plot, title);
    if (sig != 0) {
      result.signal = sig;
      live.end();
      log::info("stopped by signal {} after step {}; checkpoint {}", sig, t.step,
                result.last_checkpoint.string());
      break;
    }
  }
  live.end();
  if (steps_this_run == 0) {
    log::info("{}: nothing to do, the run is at step {} of {}", t.opt.label, t.step, s.steps);
    if (auto latest = latest_checkpoint(run_dir)) result.last_checkpoint = *latest;
  }
  if (dp) {
    dp->barrier();  // the lead's last checkpoint is on disk when any rank returns
    if (total_seconds > 0)
      log::info(
          "data-parallel: {:.1f}% of the training time waiting for the other ranks (the all-reduce "
          "not hidden by the backward pass)",
          100.0 * step_waits / total_seconds);
  }
  result.end_step = t.step;
  result.skipped_steps = t.skipped_steps;
  result.seconds = seconds_since(start);
  result.step_seconds = total_seconds;
  result.tokens_per_s = total_seconds > 0 ? tokens_per_step * steps_this_run / total_seconds : 0;
  return result;
}

}  // namespace plinth::train
