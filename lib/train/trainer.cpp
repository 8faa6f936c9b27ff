#include "train/trainer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>

#include "model/device.h"
#include "model/torch_runtime.h"
#include "train/checkpoint_files.h"
#include "train/data_parallel.h"
#include "train/fused_adamw.h"
#include "train/gradient_sync.h"
#include "train/metrics_log.h"
#include "train/param_groups.h"
#include "train/step_gradients.h"
#include "train/stop_signal.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/progress.h"

namespace plinth::train {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

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

// A test failpoint: PLINTH_INJECT_NAN_AT_STEP=5,9 makes the first attempt of steps 5 and 9
// diverge (first since the variable took this value, in this process), to test
// train.on_divergence without a model that really blows up.
bool inject_nan_at(int64_t step) {
  static std::string parsed;         // the value `pending` was made from
  static std::set<int64_t> pending;  // its steps not yet poisoned
  const char* env = std::getenv("PLINTH_INJECT_NAN_AT_STEP");
  if (!env || !*env) return false;
  if (parsed != env) {
    parsed = env;
    pending.clear();
    for (std::string_view s(env); !s.empty();) {
      const size_t comma = std::min(s.find(','), s.size());
      pending.insert(std::atoll(std::string(s.substr(0, comma)).c_str()));
      s.remove_prefix(std::min(comma + 1, s.size()));
    }
  }
  return pending.erase(step) > 0;
}

// The steps since the last metrics line: what that line's averages are made of. A diverged
// step counts in the time and the replay/distillation shares, not in the loss.
struct MetricsWindow {
  double loss = 0, penalty = 0, seconds = 0;
  int64_t steps = 0, applied = 0;    // applied: of `steps`, those not skipped for divergence
  int64_t scored = 0, replayed = 0;  // scored targets, and of those replayed ones
  double kl = 0;                     // distillation: KL summed over distilled positions
  int64_t distilled = 0;

  void add(const StepLoss& l, double step_penalty, double dt, bool diverged) {
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

  // The window's averages into a metrics line.
  void fill(MetricsRecord& r, bool regularized, bool replaying, double tokens_per_step) const {
    if (applied) r.loss = loss / static_cast<double>(applied);
    if (regularized && applied) r.penalty = penalty / static_cast<double>(applied);
    if (replaying && scored > 0) r.replay_share = static_cast<double>(replayed) / static_cast<double>(scored);
    if (distilled > 0) r.distill_kl = kl / static_cast<double>(distilled);
    r.tokens_per_s = tokens_per_step * static_cast<double>(steps) / seconds;
  }
};

// The progress line on a terminal: redrawn in place at most every 200 ms (and whenever asked),
// erased or ended before any other line is printed.
class LiveLine {
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
  void erase() {  // a log line takes its place
    if (open_) fmt::print(stderr, "\r\033[K");
    open_ = false;
  }
  void end() {  // it stays, and what follows starts on a new line
    if (open_) fmt::print(stderr, "\n");
    open_ = false;
  }

 private:
  bool enabled_;
  bool open_ = false;
  Clock::time_point last_ = Clock::now() - std::chrono::seconds(1);
};

std::string format_val(const DomainLosses& losses) {
  std::string s;
  for (const auto& [name, v] : losses) s += fmt::format("{}{} {:.3f}", s.empty() ? "" : ", ", name, v);
  return s + fmt::format(" | mean {:.3f}", mean_finite(losses));
}

}  // namespace

void check_checkpoint_compatible(const model::CheckpointContents& ckpt, const fs::path& file,
                                 const model::ModelConfig& config, uint64_t tokenizer_hash) {
  if (tokenizer_hash != 0) {
    const std::string& theirs = ckpt.meta_or_throw("tokenizer_hash", file);
    if (theirs != hex64(tokenizer_hash))
      throw BadInput(fmt::format("checkpoint {} was made with another tokenizer (hash {}; this recipe's "
                                 "tokenizer has {})",
                                 file.string(), theirs, hex64(tokenizer_hash)),
                     "use the tokenizer the run was trained with (see the checkpoint's run_dir/recipe.yaml), "
                     "or start a new run in another train.run_dir");
  }
  const model::ModelConfig c = model::model_config_from_json(ckpt.meta_or_throw("model_config", file), file);
  std::vector<std::string> diffs;
  auto cmp = [&](const char* name, auto theirs, auto ours) {
    if (theirs != ours) diffs.push_back(fmt::format("{} {} (checkpoint) vs {} (recipe)", name, theirs, ours));
  };
  cmp("vocab_size", c.vocab_size, config.vocab_size);
  cmp("dim", c.dim, config.dim);
  cmp("layers", c.layers, config.layers);
  cmp("heads", c.heads, config.heads);
  cmp("kv_heads", c.resolved_kv_heads(), config.resolved_kv_heads());
  cmp("ffn", c.resolved_ffn(), config.resolved_ffn());
  cmp("context", c.context, config.context);
  cmp("tie_embeddings", c.tie_embeddings, config.tie_embeddings);
  cmp("rope_theta", c.rope_theta, config.rope_theta);
  cmp("norm_eps", c.norm_eps, config.norm_eps);
  if (!diffs.empty())
    throw BadInput(fmt::format("checkpoint {} holds another model: model.{}", file.string(),
                               fmt::join(diffs, ", model.")),
                   "use the model section the run was started with (its run_dir/recipe.yaml), or start a new "
                   "run in another train.run_dir");
}

void load_model_weights(model::LlamaImpl& m, const model::CheckpointContents& ckpt, const fs::path& file,
                        bool adapters_may_be_missing) {
  torch::NoGradGuard no_grad;
  for (auto& item : m.named_parameters()) {
    const torch::Tensor* t = ckpt.find("model/" + item.key());
    if (!t && adapters_may_be_missing && item.key().find("lora_") != std::string::npos) continue;
    if (!t)
      throw BadInput(fmt::format("checkpoint {} lacks the weight {}", file.string(), item.key()),
                     "it was written for another model; use a checkpoint of this model");
    if (t->sizes() != item.value().sizes())
      throw BadInput(
          fmt::format("checkpoint {}: {} has shape [{}], the model expects [{}]", file.string(), item.key(),
                      fmt::join(t->sizes(), ", "), fmt::join(item.value().sizes(), ", ")),
          "it was written for another model shape; use a checkpoint of this model");
    item.value().copy_(*t);
  }
}

struct Trainer::Impl {
  model::Llama model;
  std::unique_ptr<BatchSource> batches;
  TrainerOptions opt;
  torch::Device device;
  // Every parameter, trainable or not, in named_parameters order: index i is "optim/<i>" in
  // checkpoints, so indices stay stable whatever is frozen.
  std::vector<std::pair<std::string, torch::Tensor>> params;
  std::vector<bool> group_decays;              // per optimizer group
  std::unique_ptr<torch::optim::AdamW> optim;  // a FusedAdamW
  int64_t step = 0;                            // optimizer steps done
  bool resumed = false;
  double best_val = kInf;
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
    ParamGroups groups = split_param_groups(*model);
    if (groups.decay.empty() && groups.no_decay.empty())
      throw BadInput("every parameter of the model is frozen: there is nothing to train",
                     "freeze fewer parameters (finetune.freeze), or use finetune.method: lora");
    std::vector<torch::optim::OptimizerParamGroup> optim_groups;
    for (bool decays : {true, false}) {
      auto& tensors = decays ? groups.decay : groups.no_decay;
      if (tensors.empty()) continue;
      optim_groups.emplace_back(tensors, std::make_unique<torch::optim::AdamWOptions>(options_for(decays)));
      group_decays.push_back(decays);
    }
    optim = std::make_unique<FusedAdamW>(std::move(optim_groups), options_for(true));
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

  torch::optim::AdamWOptions options_for(bool decays) const {
    const TrainSpec& s = opt.spec;
    return torch::optim::AdamWOptions(lr_at(step))
        .betas({s.beta1, s.beta2})
        .eps(s.eps)
        .weight_decay(decays ? s.weight_decay : 0.0);
  }

  // Every group's options from the spec: after a resume (AdamW keeps none of them in our
  // checkpoint, and LibTorch's own load would not restore them either) and for each step's lr.
  void apply_group_options() {
    auto& groups = optim->param_groups();
    for (size_t g = 0; g < groups.size(); ++g)
      static_cast<torch::optim::AdamWOptions&>(groups[g].options()) = options_for(group_decays[g]);
  }

  double lr_at(int64_t at) const { return learning_rate(opt.spec, at) * lr_scale; }

  void set_lr(double lr) {
    for (auto& g : optim->param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
  }

  model::CheckpointContents make_checkpoint() const {
    model::CheckpointContents c;
    c.meta = opt.extra_meta;
    c.meta["kind"] = opt.checkpoint_kind;
    c.meta["model_config"] = model::model_config_json(model->config());
    c.meta["step"] = std::to_string(step);
    c.meta["tokenizer_hash"] = hex64(opt.tokenizer_hash);
    c.meta["recipe"] = opt.recipe_yaml;
    c.meta["sampler_cursor"] = std::to_string(batches->cursor());
    c.meta["precision"] = opt.spec.precision;
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
    const auto& state = optim->state();
    for (size_t i = 0; i < params.size(); ++i) {
      auto it = state.find(optimizer_state_key(state, params[i].second));
      if (it == state.end()) continue;  // no step taken yet
      const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
      c.tensors.emplace_back(fmt::format("optim/{}/exp_avg", i), s.exp_avg().to(torch::kCPU));
      c.tensors.emplace_back(fmt::format("optim/{}/exp_avg_sq", i), s.exp_avg_sq().to(torch::kCPU));
      c.tensors.emplace_back(fmt::format("optim/{}/step", i), torch::tensor(s.step(), torch::kInt64));
    }
    {
      at::Generator cpu = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(cpu.mutex());
      c.tensors.emplace_back("rng/cpu", cpu.get_state());
    }
    if (device.is_cuda()) {
      at::Generator cuda = at::globalContext().defaultGenerator(device);
      std::lock_guard<std::mutex> lock(cuda.mutex());
      c.tensors.emplace_back("rng/cuda", cuda.get_state());
    }
    return c;
  }

  void restore(const fs::path& file) {
    model::CheckpointContents c = model::read_checkpoint(file);
    if (auto kind = c.meta.find("kind"); kind != c.meta.end() && kind->second != opt.checkpoint_kind)
      throw BadInput(fmt::format("checkpoint {} was written by a {} run; this is a {} run", file.string(),
                                 kind->second, opt.checkpoint_kind),
                     "resume a run with the command that started it, or start a new run in another "
                     "train.run_dir");
    check_checkpoint_compatible(c, file, model->config(), opt.tokenizer_hash);
    load_model_weights(*model, c, file);
    step = c.meta_int("step", file);
    batches->restore(static_cast<uint64_t>(c.meta_int("sampler_cursor", file)));
    // Before apply_group_options below, which sets each group's lr from it.
    lr_scale = c.meta.count("lr_scale") ? c.meta_double("lr_scale", file) : 1.0;
    skipped_steps = c.meta.count("skipped_steps") ? c.meta_int("skipped_steps", file) : 0;

    auto& state = optim->state();
    state.clear();
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) {
      const torch::Tensor* m = c.find(fmt::format("optim/{}/exp_avg", i));
      const torch::Tensor* v = c.find(fmt::format("optim/{}/exp_avg_sq", i));
      const torch::Tensor* n = c.find(fmt::format("optim/{}/step", i));
      const torch::Tensor& p = params[i].second;
      // Frozen now: not in the optimizer, so its state (if any) has nowhere to go.
      if ((!m && !v && !n) || !p.requires_grad()) continue;
      if (!m || !v || !n || m->sizes() != p.sizes() || v->sizes() != p.sizes())
        throw BadInput(
            fmt::format("checkpoint {}: the optimizer state of {} is incomplete or has another shape",
                        file.string(), params[i].first),
            "use another checkpoint");
      auto s = std::make_unique<torch::optim::AdamWParamState>();
      s->step(n->item<int64_t>());
      s->exp_avg(m->to(p.options()).clone());
      s->exp_avg_sq(v->to(p.options()).clone());
      state[optimizer_state_key(state, p)] = std::move(s);
    }
    apply_group_options();

    if (const torch::Tensor* g = c.find("rng/cpu")) {
      at::Generator cpu = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(cpu.mutex());
      cpu.set_state(*g);
    }
    if (const torch::Tensor* g = c.find("rng/cuda"); g && device.is_cuda()) {
      at::Generator cuda = at::globalContext().defaultGenerator(device);
      std::lock_guard<std::mutex> lock(cuda.mutex());
      cuda.set_state(*g);
    }
    best_step = -1;
    best_val = kInf;
    if (c.meta.count("best_step")) {
      best_step = c.meta_int("best_step", file);
      best_val = c.meta_double("best_val_loss", file);
    }
    if (opt.probe) opt.probe->restore(c, file, model, step);
    resumed = true;
    log::info("resumed {} at step {}", file.string(), step);
  }

  // Global L2 norm of the trainable parameters' gradients (before clipping); scales them down to
  // grad_clip when above. Frozen parameters, and trainable ones the loss did not reach, have none.
  double clip_gradients() {
    std::vector<torch::Tensor> norms;
    for (const auto& [name, p] : params)
      if (p.requires_grad() && p.grad().defined()) norms.push_back(p.grad().norm(2).to(torch::kFloat32));
    if (norms.empty()) return 0.0;
    double total = torch::stack(norms).norm(2).item<double>();
    if (opt.spec.grad_clip > 0 && total > opt.spec.grad_clip) {
      const double scale = opt.spec.grad_clip / (total + 1e-6);
      for (const auto& [name, p] : params)
        if (p.requires_grad() && p.grad().defined()) p.grad().mul_(scale);
    }
    return total;
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
    set_lr(lr_at(step));
    // Gradients as "none" instead of zero-filled: the first backward writes them, no fill pass.
    for (auto& [name, p] : params) p.mutable_grad() = torch::Tensor();
    // Data-parallel: the gradients and the loss come back summed over the ranks (identical on
    // each), so the penalty, clipping, the divergence check and the update agree everywhere.
    const RankShare share{opt.data_parallel.get(), sync.get()};
    DistillTerm distill = opt.distill;
    distill.reference = opt.distill_reference ? opt.distill_reference.get() : nullptr;
    StepLoss step_loss =
        accumulate_gradients(*model, *batches, s.batch_size, s.grad_accum, device, s.precision == "bf16",
                             sync ? &share : nullptr, distill.weight > 0 ? &distill : nullptr);
    step_sources = batches->take_sources();
    if (inject_nan_at(step + 1)) step_loss.loss = std::numeric_limits<double>::quiet_NaN();
    penalty = apply_penalty();
    grad_norm = clip_gradients();
    diverged = !std::isfinite(step_loss.loss) || !std::isfinite(penalty) || !std::isfinite(grad_norm);
    if (diverged) return step_loss;
    optim->step();
    ++step;
    return step_loss;
  }

  // "step 7: loss nan, gradient norm 3.2 (batch from alpha, beta)"
  std::string divergence_text(int64_t at, const StepLoss& l, double penalty, double grad_norm) const {
    return fmt::format("step {}: loss {}{}, gradient norm {} (batch from {})", at, l.loss,
                       opt.regularizers.empty() ? "" : fmt::format(", penalty {}", penalty), grad_norm,
                       step_sources.empty() ? "nothing" : fmt::format("{}", fmt::join(step_sources, ", ")));
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

  // The run's first line: what trains, how much of it, on what, where.
  void log_start(double tokens_per_step) const {
    const TrainSpec& s = opt.spec;
    double trainable = 0, total = 0;
    for (const auto& [name, p] : params) {
      total += static_cast<double>(p.numel());
      if (p.requires_grad()) trainable += static_cast<double>(p.numel());
    }
    const std::string trainable_text =
        trainable < total ? fmt::format(" ({} trainable)", format_count(trainable)) : "";
    std::string regularizer_names;
    for (const auto& r : opt.regularizers)
      regularizer_names += (regularizer_names.empty() ? "" : ", ") + r->name();
    log::info("{}: {} parameters{}, {} tokens per step, {} steps, {} on {}, run dir {}{}", opt.label,
              format_count(total), trainable_text, format_count(tokens_per_step), s.steps, s.precision,
              device.str(), s.run_dir,
              regularizer_names.empty() ? "" : ", regularizers " + regularizer_names);
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
    const std::string what = divergence_text(step + 1, l, penalty, grad_norm);
    const auto latest = latest_checkpoint(s.run_dir);
    const std::string fix =
        "lower train.lr, raise train.warmup_steps or set train.grad_clip (fine-tuning: or lower "
        "finetune.ewc.lambda / finetune.l2sp.alpha), or set train.on_divergence: skip or rollback; then "
        "resume from the last checkpoint (--resume) or start again";
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
  if (options.spec.precision != "fp32" && options.spec.precision != "bf16")
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
  t.log_start(tokens_per_step);

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
