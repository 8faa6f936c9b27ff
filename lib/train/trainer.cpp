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
#include "train/param_groups.h"
#include "train/step_gradients.h"
#include "train/stop_signal.h"
#include "train/trainer_progress.h"
#include "train/training_checkpoint.h"
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
  bool on_divergence(const StepLoss& l, double penalty, double grad_norm, int64_t& consecutive_skips,
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

  // What the steps of one run() share: the run's constants, the metrics since the last line, the
  // terminal's line and the counters of the closing summary.
  struct RunState {
    Clock::time_point start = Clock::now();
    Clock::time_point loop_start;       // wall time per step counts from here (for the ETA)
    std::optional<MetricsLog> metrics;  // the lead's
    fs::path plot;                      // loss.svg
    std::string title;
    bool tty = false, regularized = false, replaying = false;
    double tokens_per_step = 0, flops_per_token = 0;
    MetricsWindow window;
    double total_seconds = 0;  // of the steps themselves
    double step_waits = 0;     // data-parallel: seconds of the steps spent waiting on the all-reduce
    int64_t steps_this_run = 0, consecutive_skips = 0;
    LiveLine live{false};
  };

  // The run directory made (or taken over, when resumed), the constants of the run, its first
  // line, and step 0's validation on a fresh run.
  void begin_run(RunState& st, TrainResult& result) {
    const TrainSpec& s = opt.spec;
    const fs::path run_dir = s.run_dir;
    if (!resumed) refuse_existing_run(run_dir);
    if (lead()) {
      fs::create_directories(checkpoint_dir(run_dir));
      write_file_atomic(run_dir / "recipe.yaml", opt.recipe_yaml);
      st.metrics.emplace(run_dir / "metrics.jsonl", resumed ? step : -1,
                         s.tensorboard ? run_dir / "tb" : fs::path());
    }
    st.plot = run_dir / "loss.svg";
    st.title = fmt::format("{}: {}", opt.label, run_dir.filename().string());
    result.start_step = step;
    if (fs::exists(best_checkpoint_path(run_dir))) result.best_checkpoint = best_checkpoint_path(run_dir);
    st.tty = ::isatty(STDERR_FILENO) && log::verbosity() >= 1 && lead();
    st.live = LiveLine(st.tty);
    const int context = opt.row_tokens > 0 ? static_cast<int>(opt.row_tokens) : model->config().context;
    st.tokens_per_step = static_cast<double>(s.tokens_per_step(context));
    st.flops_per_token = model->config().flops_per_token();
    st.regularized = !opt.regularizers.empty();
    st.replaying = batches->last_replayed_targets() >= 0;
    std::vector<std::string> regularizers;
    for (const auto& r : opt.regularizers) regularizers.push_back(r->name());
    log::info("{}", run_start_line(opt.label, params, st.tokens_per_step, s, device.str(), regularizers));
    if (!resumed && step == 0 && (opt.evaluate || opt.probe))
      evaluate_untrained(st.metrics, result, st.start);
    st.loop_start = Clock::now();
  }

  // The progress line's text (progress_line), for the terminal's live line or the log.
  std::string progress(const RunState& st, double loss, double penalty, double lr,
                       std::optional<double> grad_norm, double tokens_per_s) const {
    return progress_line({opt.label, step, opt.spec.steps, loss,
                          st.regularized ? std::optional(penalty) : std::nullopt, lr, grad_norm, tokens_per_s,
                          st.flops_per_token, opt.peak_flops, seconds_since(st.loop_start),
                          st.steps_this_run});
  }

  // This step's validation into `r` and the result; a new best asks for a checkpoint (best.ckpt
  // must hold exactly these weights).
  void validate(MetricsRecord& r, TrainResult& result, bool& checkpoint_now, bool& new_best, RunState& st) {
    r.val_loss = evaluate();
    result.last_val = r.val_loss;
    result.last_val_step = step;
    const double mean = mean_finite(r.val_loss);
    if (opt.spec.keep_best && mean < best_val) {
      best_val = mean;
      best_step = step;
      new_best = checkpoint_now = true;
    }
    st.live.erase();
    log::info("step {} val: {}{}", step, format_val(r.val_loss), new_best ? " (best)" : "");
  }

  // The metrics line of this step (the window's averages), and its log line off a terminal.
  void write_line(RunState& st, MetricsRecord& r, double lr, double grad_norm) {
    r.step = step;
    st.window.fill(r, st.regularized, st.replaying, st.tokens_per_step);
    if (skipped_steps) r.skipped_steps = static_cast<double>(skipped_steps);
    if (lr_scale != 1.0) r.lr_scale = lr_scale;
    r.lr = lr;
    r.grad_norm = grad_norm;
    r.elapsed_s = seconds_since(st.start);
    if (st.metrics) st.metrics->append(r);
    if (!st.tty) log::info("{}", progress(st, r.loss, r.penalty, lr, grad_norm, r.tokens_per_s));
    st.window = MetricsWindow();
  }

  // After the last step: the closing log lines and the result's totals.
  void finish(RunState& st, TrainResult& result) {
    st.live.end();
    if (st.steps_this_run == 0) {
      log::info("{}: nothing to do, the run is at step {} of {}", opt.label, step, opt.spec.steps);
      if (auto latest = latest_checkpoint(opt.spec.run_dir)) result.last_checkpoint = *latest;
    }
    if (DataParallel* dp = opt.data_parallel.get()) {
      dp->barrier();  // the lead's last checkpoint is on disk when any rank returns
      if (st.total_seconds > 0)
        log::info(
            "data-parallel: {:.1f}% of the training time waiting for the other ranks (the all-reduce "
            "not hidden by the backward pass)",
            100.0 * st.step_waits / st.total_seconds);
    }
    result.end_step = step;
    result.skipped_steps = skipped_steps;
    result.seconds = seconds_since(st.start);
    result.step_seconds = st.total_seconds;
    result.tokens_per_s = st.total_seconds > 0
                              ? st.tokens_per_step * static_cast<double>(st.steps_this_run) / st.total_seconds
                              : 0;
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
  return restore_newest_readable(impl_->opt.spec.run_dir, impl_->lead(),
                                 [&](const fs::path& file) { impl_->restore(file); });
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
  StopSignalScope signals;
  model::configure_threads(s.threads);
  Impl::RunState st;
  TrainResult result;
  t.begin_run(st, result);
  DataParallel* const dp = t.opt.data_parallel.get();
  StepProbe* const probe = t.opt.probe.get();

  while (t.step < s.steps) {
    const auto step_start = Clock::now();
    const double lr = t.lr_at(t.step);
    double grad_norm = 0, penalty = 0;
    bool diverged = false;
    const double waited_before_step = dp ? dp->wait_seconds() : 0;
    const StepLoss step_loss = t.train_step(grad_norm, penalty, diverged);
    if (dp) st.step_waits += dp->wait_seconds() - waited_before_step;
    const double loss = step_loss.loss;
    if (diverged) {
      st.live.end();
      if (t.on_divergence(step_loss, penalty, grad_norm, st.consecutive_skips, result)) {  // rolled back
        if (st.metrics) st.metrics->rewind(t.step);
        st.window = MetricsWindow();
        continue;
      }
    } else {
      st.consecutive_skips = 0;
    }
    const double dt = seconds_since(step_start);
    st.window.add(step_loss, penalty, dt, diverged);
    ++st.steps_this_run;
    st.total_seconds += dt;
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

    st.live.draw(line_now,
                 [&] { return t.progress(st, loss, penalty, lr, std::nullopt, st.tokens_per_step / dt); });

    MetricsRecord r;
    bool new_best = false;
    if (eval_now) t.validate(r, result, checkpoint_now, new_best, st);
    if (probe_now) t.measure_probe(r.val_loss, r);
    if (line_now) t.write_line(st, r, lr, grad_norm);
    if (checkpoint_now) t.checkpoint(new_best, result);
    if (probe_now) probe->committed(t.model, t.step);
    if (st.metrics && (eval_now || checkpoint_now)) st.metrics->write_plot(st.plot, st.title);
    if (sig != 0) {
      result.signal = sig;
      st.live.end();
      log::info("stopped by signal {} after step {}; checkpoint {}", sig, t.step,
                result.last_checkpoint.string());
      break;
    }
  }
  t.finish(st, result);
  return result;
}

}  // namespace plinth::train
