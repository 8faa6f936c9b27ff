#include "finetune/finetune_run.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <optional>

#include "data/mixture_sampler.h"
#include "data/prepare.h"
#include "finetune/generated_replay.h"
#include "finetune/run_state.h"
#include "finetune/selection_probe.h"
#include "model/checkpoint_file.h"
#include "model/checkpoint_model.h"
#include "model/device.h"
#include "model/freezing.h"
#include "model/hf_import.h"
#include "model/lora.h"
#include "model/torch_runtime.h"
#include "recipe/recipe_writer.h"
#include "train/batch_source.h"
#include "train/checkpoint_files.h"
#include "train/data_parallel.h"
#include "train/fisher.h"
#include "train/precision_choice.h"
#include "train/regularizers.h"
#include "train/task_batches.h"
#include "train/trainer.h"
#include "train/training_checkpoint.h"
#include "train/val_loss.h"
#include "util/atomic_file.h"
#include "util/dir_lock.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/progress.h"

namespace plinth::finetune {

namespace {

namespace fs = std::filesystem;

// Mean loss over the scored (completion) tokens of every validation example, in a fixed order,
// by pretraining validation's own loop (train::mean_validation_loss): in the training's
// precision (bf16 autocast when `bf16`) through the training loss's chunked head, so it measures
// what the steps optimise at the steps' speed (full float32 logits made a validation cost as
// much as some 100 training steps: docs/performance.md, "Measurements behind the code's choices").
// Data-parallel: rank r of W scores the batches b with b % W == r, and the sums are all-reduced.
train::EvalFn task_val_loss(std::vector<data::TokenizedExample> val, int64_t seq_len, int64_t pad_id,
                            int64_t batch_rows, bool bf16, const std::string& name, train::DataParallel* dp) {
  auto batches = std::make_shared<train::TaskBatches>(std::move(val), seq_len, pad_id, false, 0);
  return [batches, batch_rows, bf16, name, dp](model::Llama& m) {
    torch::NoGradGuard no_grad;
    const int64_t count = (batches->size() + batch_rows - 1) / batch_rows;
    // The same examples, in the same order, every time: batch b holds draws b * batch_rows, ...
    const train::BatchDrawer draw = [&](int64_t b, torch::Tensor& x, torch::Tensor& y) {
      batches->restore(static_cast<uint64_t>(b * batch_rows));
      batches->next(std::min(batch_rows, batches->size() - b * batch_rows), x, y);  // (rows, T)
    };
    return train::DomainLosses{{name, train::mean_validation_loss(*m, count, draw, bf16, dp)}};
  };
}

// The base's Fisher diagonal from <run_dir>/fisher.ckpt, estimated and stored first when there is
// none or the one there does not fit (another base, another estimator, another sample size): on a seeded
// sample of windows of the base's pretraining TRAINING shards, never the validation documents
// that `plinth eval` measures forgetting on (train/fisher.h).
// Data-parallel: every rank estimates (the same numbers), rank 0 writes, and all read what it wrote.
train::FisherDiagonal base_fisher(const FinetuneRecipe& f, const fs::path& base_ckpt, model::LlamaImpl& base,
                                  const tokenizer::Tokenizer& tok, const torch::Device& device,
                                  train::DataParallel* dp) {
  const fs::path file = train::fisher_path(f.run_dir);
  constexpr uint64_t kSampleSeed = 0;  // one sample per base: every fine-tune of it draws the same
  std::vector<std::string> names;
  for (const auto& d : f.recipe.data.domains) names.push_back(d.name);
  const std::string data = fmt::format("train shards of {}; seed {}", fmt::join(names, ", "), kSampleSeed);
  std::error_code ec;
  if (fs::exists(file, ec)) {
    try {
      train::FisherDiagonal fisher = train::read_fisher(file);
      train::check_fisher_fits(fisher, file, base, tok.hash());
      if (fisher.sequences != f.finetune.ewc.fisher_sequences || fisher.data != data)
        throw BadInput(fmt::format("{} averages {} sequences of {}, the recipe asks for {} of {}",
                                   file.string(), fisher.sequences, fisher.data,
                                   f.finetune.ewc.fisher_sequences, data));
      return fisher;
    } catch (const BadInput& e) {
      log::warn("estimating the Fisher again: {}", e.what());
    }
  }
  DomainShards train_shards = open_domain_shards(
      f.recipe, names, "train", tok.hash(),
      fmt::format(
          "EWC needs a Fisher diagonal of the base ({}), estimated on the base's pretraining training data",
          file.string()));
  std::vector<data::MixtureDomain> mixture;
  for (const auto& d : f.recipe.data.domains)
    for (const auto& [name, shard] : train_shards.domains)
      if (name == d.name) mixture.push_back({name, d.weight, shard});
  data::DomainMixtureSampler sampler(mixture, base.config().context + 1, kSampleSeed, 1.0);
  train::MixtureBatches windows(std::move(sampler));
  log::info("estimating the Fisher diagonal of {} on {} training windows (one backward each)",
            base_ckpt.string(), f.finetune.ewc.fisher_sequences);
  train::FisherDiagonal fisher =
      train::estimate_fisher(base, windows, f.finetune.ewc.fisher_sequences, device);
  fisher.base_checkpoint = base_ckpt.string();
  fisher.tokenizer_hash = tok.hash();
  fisher.data = data;
  if (!dp || dp->lead()) {
    train::write_fisher(file, fisher);
    log::info("wrote {}", file.string());
  }
  if (dp) dp->barrier();
  return train::read_fisher(file);  // as a resumed run will see it
}

// The replay source: windows as wide as the task's rows, of the pretraining mixture, or of the
// generated documents `keep` already holds (source generated: one domain).
std::unique_ptr<train::BatchSource> replay_source(const FinetuneRecipe& f, int64_t seq_len,
                                                  const tokenizer::Tokenizer& tok,
                                                  std::shared_ptr<DomainShards>& keep) {
  const uint64_t seed = static_cast<uint64_t>(f.train.seed) + 1;
  if (f.finetune.replay.generated()) {
    data::DomainMixtureSampler sampler({{keep->domains[0].first, 1.0, keep->domains[0].second}}, seq_len + 1,
                                       seed, 1.0);
    return std::make_unique<train::MixtureBatches>(std::move(sampler));
  }
  std::vector<std::pair<std::string, double>> weights = f.finetune.replay.domains;
  if (weights.empty())
    for (const auto& d : f.recipe.data.domains) weights.emplace_back(d.name, d.weight);
  std::vector<std::string> names;
  for (const auto& [name, w] : weights) {
    bool known = false;
    for (const auto& d : f.recipe.data.domains) known = known || d.name == name;
    if (!known)
      throw BadInput(fmt::format("finetune.replay.domains: '{}' is not a domain of this recipe's data", name),
                     "name domains of the data: section (the base's pretraining domains)");
    names.push_back(name);
  }
  keep = std::make_shared<DomainShards>(open_domain_shards(
      f.recipe, names, "train", tok.hash(), "finetune.replay draws from the pretraining shards"));
  std::vector<data::MixtureDomain> mixture;
  for (size_t i = 0; i < weights.size(); ++i)
    mixture.push_back({weights[i].first, weights[i].second, keep->domains[i].second});
  data::DomainMixtureSampler sampler(mixture, seq_len + 1, seed, 1.0);
  return std::make_unique<train::MixtureBatches>(std::move(sampler));
}

// The select: panel (selection_probe.h): a seeded sample of every pretraining domain's
// validation documents, scored as plinth eval scores them (eval: seed, batch size, document caps).
std::shared_ptr<SelectionProbe> selection_probe(const FinetuneRecipe& f, const model::ModelConfig& config,
                                                const tokenizer::Tokenizer& tok, train::DataParallel* dp,
                                                std::map<std::string, std::string> meta) {
  std::vector<std::string> names;
  for (const auto& d : f.recipe.data.domains) names.push_back(d.name);
  auto shards = std::make_shared<DomainShards>(
      open_domain_shards(f.recipe, names, "val", tok.hash(),
                         "select: scores a panel of every pretraining domain's validation documents"));
  eval::ScoreOptions o;
  o.context = f.eval.context > 0 ? std::min<int64_t>(f.eval.context, config.context) : config.context;
  o.batch_size = f.eval.batch_size;
  o.eos_id = tok.eos_id();
  o.document_start_id = tok.document_start_id();
  o.seed = f.eval.seed;
  o.max_tokens = static_cast<uint64_t>(f.select.panel_tokens);
  o.min_documents = f.eval.min_documents;
  o.max_document_tokens = f.eval.max_document_tokens;
  o.max_documents = f.eval.max_documents;
  // In the training's precision: a float32 panel costs several bf16 steps where bf16 has AMX.
  o.bf16 = f.train.autocast_bf16();
  log::info(
      "select: a panel of up to {} tokens per domain ({}, scored in {}) at step 0 and every {} steps; "
      "tuned.ckpt: the best task validation loss within {}",
      f.select.panel_tokens, fmt::join(names, ", "), f.train.precision_word(), f.select.every,
      describe_budget(f.select));
  return std::make_shared<SelectionProbe>(f.select, f.run_dir, std::move(shards), o, dp, std::move(meta));
}

// tuned.ckpt (and adapter.ckpt): the trained weights as a plain model, LoRA merged, so every
// command that reads checkpoints can use it. `extra`: more meta (the select: decision).
void write_tuned(const FinetuneRecipe& f, model::Llama& net,
                 const std::map<std::string, std::string>& provenance, uint64_t tokenizer_hash, int64_t step,
                 const std::map<std::string, std::string>& extra = {}) {
  model::CheckpointContents c;
  c.meta = provenance;
  c.meta.insert(extra.begin(), extra.end());
  c.meta["kind"] = "plinth-finetuned";
  c.meta["model_config"] = model::model_config_json(net->config());
  c.meta["step"] = std::to_string(step);
  c.meta["tokenizer_hash"] = hex64(tokenizer_hash);
  c.meta["recipe"] = recipe::to_yaml(f.recipe.loaded.root);
  c.meta["torch_version"] = model::torch_version();
  if (model::has_lora(*net)) {
    model::CheckpointContents adapter = c;
    adapter.meta["kind"] = "plinth-lora-adapter";
    // What PEFT's adapter_config.json needs beside the tensors (plinth export writes it).
    adapter.meta["lora_alpha"] = fmt::format("{}", f.finetune.lora.alpha);
    adapter.meta["lora_dropout"] = fmt::format("{}", f.finetune.lora.dropout);
    for (auto& [name, t] : model::lora_parameters(*net))
      adapter.tensors.emplace_back(name, t.detach().to(torch::kCPU));
    model::write_checkpoint(adapter_checkpoint_path(f.run_dir), adapter);
    torch::NoGradGuard no_grad;
    model::merge_lora(*net);
  }
  for (const auto& item : net->named_parameters())
    c.tensors.emplace_back("model/" + item.key(), item.value().detach().to(torch::kCPU).contiguous());
  model::write_checkpoint(tuned_checkpoint_path(f.run_dir), c);
}

// tuned.ckpt from the step select: chose (selected.ckpt), its meta and selection.json saying
// which and why, and what the last step would have given; the panels' cost against training.
void write_selected_tuned(const FinetuneRecipe& f, const SelectionProbe& probe, model::Llama& net,
                          const std::map<std::string, std::string>& provenance, uint64_t tokenizer_hash,
                          int64_t last_step, double step_seconds) {
  const Selection chosen = probe.selection();
  const std::vector<Panel>& panels = probe.panels();
  const Panel& base = panels.front();
  auto describe = [&](const Panel& p) {
    return fmt::format("task val loss {:.4f}, mean forgetting {:+.2f}%", p.task_val_loss,
                       mean_forgetting(panel_forgetting(p, base)));
  };
  const Panel* selected = &base;
  for (const auto& p : panels)
    if (p.step == chosen.step) selected = &p;
  if (chosen.within_budget)
    log::info("select: step {} ({}): {}", chosen.step, describe(*selected), chosen.reason);
  else
    log::warn(
        "select: NO STEP FITS THE BUDGET: tuned.ckpt is the BASE (step 0), unchanged by the fine-tune: {}",
        chosen.reason);
  log::info("select: the last step, {}, would have given {}", panels.back().step, describe(panels.back()));
  const double panel_seconds = probe.panel_seconds();
  log::info("select: the panels took {:.2f}s against {:.2f}s of training steps ({:.1f}%)", panel_seconds,
            step_seconds, step_seconds > 0 ? 100 * panel_seconds / step_seconds : 0.0);
  probe.load_selected(*net);
  write_tuned(f, net, provenance, tokenizer_hash, chosen.step,
              {{"selected_step", std::to_string(chosen.step)},
               {"selected_reason", chosen.reason},
               {"trained_steps", std::to_string(last_step)}});
  write_file_atomic(
      selection_report_path(f.run_dir),
      selection_report(f.select, f.train.precision_word(), panels, chosen, panel_seconds, step_seconds));
  log::info("wrote {}", selection_report_path(f.run_dir).string());
}

// The base checkpoint's contents, checked against the recipe: its tokenizer and the
// pretraining data it was trained on.
model::CheckpointContents load_base(const FinetuneRecipe& f, const fs::path& base_ckpt,
                                    const tokenizer::Tokenizer& tok) {
  model::CheckpointContents base = model::read_model_checkpoint(base_ckpt);
  model::check_tokenizer(base, base_ckpt, tok.hash(), f.recipe.tokenizer.model_file());
  check_base_data(f.recipe, base, base_ckpt);
  return base;
}

// The method on the loaded base: frozen parameters first, then adapters (which freeze
// everything else themselves); logs what trains.
void apply_method(const FinetuneRecipe& f, model::Llama& net, const torch::Device& device) {
  if (f.finetune.freeze_on()) {
    const int64_t frozen = model::freeze_parameters(*net, f.finetune.freeze);
    log::info("froze {} parameter tensors", frozen);
  }
  if (f.finetune.lora_on()) {
    auto adapted = model::attach_lora(*net, f.finetune.lora, static_cast<uint64_t>(f.train.seed));
    net->to(device);
    log::info("LoRA rank {} on {} projections", f.finetune.lora.rank, adapted.size());
  }
  int64_t trainable = 0;
  for (const auto& p : net->parameters())
    if (p.requires_grad()) trainable += p.numel();
  log::info("{}: {} of {} parameters trainable", finetune::method_label(f.finetune), trainable,
            net->config().parameter_count());
}

// Distillation's reference (finetune.distill): a full fine-tune keeps a frozen float32 copy of
// the base (one more model's weights in memory, and its forward pass per distilled row); LoRA
// switches its adapters off for that pass instead (no copy: null). Made before the seed is set:
// a model's construction draws its initial weights from the global generator.
model::Llama distill_reference(const FinetuneRecipe& f, const model::CheckpointContents& base,
                               const fs::path& base_ckpt, const torch::Device& device) {
  model::Llama reference{nullptr};
  if (!f.finetune.distill_on() || f.finetune.lora_on()) return reference;
  reference = model::model_from_checkpoint(base, base_ckpt);
  reference->to(device);
  reference->eval();
  for (auto& p : reference->parameters()) p.requires_grad_(false);
  return reference;
}

// What keeps the model near its base, into the trainer's options: distillation, L2-SP, EWC.
void add_anchors(const FinetuneRecipe& f, model::Llama& net, const model::Llama& reference,
                 const fs::path& base_ckpt, const tokenizer::Tokenizer& tok, const torch::Device& device,
                 train::DataParallel* dp, train::TrainerOptions& options) {
  if (f.finetune.distill_on()) {
    options.distill.weight = f.finetune.distill.weight;
    options.distill.on_replay = f.finetune.distill.on != "task";  // replay or generated: the replayed rows
    options.distill_reference = reference;
    log::info("distillation to the base: weight {} on the {} rows' positions, the base {}",
              f.finetune.distill.weight, f.finetune.distill.on,
              reference ? "a frozen copy (float32)" : "the same weights with the adapters off");
  }
  if (f.finetune.l2sp_on()) options.regularizers.push_back(train::make_l2sp(*net, f.finetune.l2sp.alpha));
  if (f.finetune.ewc_on()) {
    const train::FisherDiagonal fisher = base_fisher(f, base_ckpt, *net, tok, device, dp);
    options.regularizers.push_back(train::make_ewc(fisher, *net, f.finetune.ewc.lambda));
  }
}

// The training rows: the task's, and with finetune.replay the pretraining data's (or the base's
// generated documents) mixed in. `replay_shards` keeps the shards the replay reads open: the
// caller holds it for as long as the batches live.
std::unique_ptr<train::BatchSource> finetune_batches(const FinetuneRecipe& f, const TaskSet& task,
                                                     int64_t seq_len, int64_t pad_id,
                                                     const tokenizer::Tokenizer& tok,
                                                     std::shared_ptr<DomainShards>& replay_shards) {
  auto task_batches = std::make_unique<train::TaskBatches>(task.train, seq_len, pad_id, f.task.loss_on_prompt,
                                                           static_cast<uint64_t>(f.train.seed));
  log::info("task rows of {} tokens; {} of {} training examples cut to fit", seq_len,
            task_batches->truncated(), task.train.size());
  if (!f.finetune.replay_on()) return task_batches;
  return std::make_unique<train::ReplayBatches>(
      std::move(task_batches), replay_source(f, seq_len, tok, replay_shards), f.finetune.replay.fraction);
}

// The task's validation loss at each train.eval_every, and the select: panel when the recipe has
// one (returned, null without), into the trainer's options.
std::shared_ptr<SelectionProbe> add_validation(const FinetuneRecipe& f, const TaskSet& task, int64_t seq_len,
                                               int64_t pad_id, const model::ModelConfig& config,
                                               const tokenizer::Tokenizer& tok, train::DataParallel* dp,
                                               train::TrainerOptions& options) {
  if (task.val.empty())
    log::warn(
        "task {}: the validation split is empty: no validation loss during training (raise "
        "task.val_fraction)",
        f.task.name);
  else
    options.evaluate = task_val_loss(task.val, seq_len, pad_id, f.train.batch_size, f.train.autocast_bf16(),
                                     "task " + f.task.name, dp);
  if (!f.select.on()) return nullptr;
  if (task.val.empty())
    throw BadInput(fmt::format("select: needs the task's validation loss, but task {} has no validation "
                               "examples",
                               f.task.name),
                   "raise task.val_fraction, or remove the select: section");
  auto probe = selection_probe(
      f, config, tok, dp,
      {{"model_config", model::model_config_json(config)}, {"tokenizer_hash", hex64(tok.hash())}});
  options.probe = probe;
  return probe;
}

}  // namespace

std::map<std::string, std::string> finetune_provenance(const FinetuneRecipe& f, const fs::path& base_ckpt) {
  std::map<std::string, std::string> p = recipe_source(f.recipe.loaded);
  p.insert({{"base_checkpoint", base_ckpt.string()},
            {"base_hash", hex64(model::model_source_hash(base_ckpt))},
            {"method", finetune::method_label(f.finetune)},
            {"task_hash", hex64(hash_file(f.task.path))},
            {"shards_hash", hex64(data::shards_fingerprint(f.recipe.data))}});
  return p;
}

bool run_finetune(const FinetuneRecipe& recipe, bool resume) {
  FinetuneRecipe f = recipe;  // train.precision: auto is settled below
  const train::TrainSpec& spec = f.train;
  // Launched by torchrun / plinth launch: join the other ranks first, so a bad launch fails fast.
  const auto dp = train::start_data_parallel(spec, f.recipe.loaded.root, f.recipe.loaded.file.string());
  const bool lead = !dp || dp->lead();
  std::optional<DirLock> lock;  // one process per run directory (data-parallel: rank 0's)
  if (lead) lock.emplace(f.run_dir, "finetune");
  const auto tok = load_recipe_tokenizer(f.recipe);

  const fs::path base_ckpt = finetune::resolve_base_checkpoint(f.finetune.base);
  const model::CheckpointContents base = load_base(f, base_ckpt, tok);
  model::Llama net = model::model_from_checkpoint(base, base_ckpt);
  net->train();
  const auto& config = net->config();
  log::info("base {} (step {}), {} parameters", base_ckpt.string(), model::checkpoint_step(base),
            config.parameter_count());

  // The task, in rows wide enough for 99% of the training examples (up to the context): short
  // examples are not padded to the full context, and a few long ones do not widen every row.
  TaskSet task = load_task_set(f.task, tok);
  const int64_t seq_len = task_row_tokens(f.task, task, config.context);
  const int64_t pad_id = tok.pad_id() >= 0 ? tok.pad_id() : tok.eos_id();

  const torch::Device device = dp ? dp->device() : model::resolve_device(spec.device, "train.device");
  net->to(device);
  // Before generated replay or the Fisher: they take long.
  if (!resume)
    train::refuse_existing_run(f.run_dir);
  else
    train::checkpoint_to_resume(f.run_dir, fmt::format("plinth finetune {}", f.recipe.loaded.file.string()));
  // train.precision: auto becomes fp32 or bf16 here, before anything reads it.
  train::settle_training_precision(f.train, config, device,
                                   resume ? train::latest_checkpoint(f.run_dir) : std::nullopt, dp.get());
  // Generated replay: documents the base writes itself, sampled from it as loaded (before
  // adapters or freezing), or reused from the run directory.
  std::shared_ptr<DomainShards> replay_shards;
  if (f.finetune.replay_on() && f.finetune.replay.generated())
    replay_shards =
        std::make_shared<DomainShards>(generated_replay(f, base_ckpt, net, tok, seq_len, dp.get()));
  model::Llama reference = distill_reference(f, base, base_ckpt, device);
  torch::manual_seed(static_cast<uint64_t>(spec.seed));
  apply_method(f, net, device);

  train::TrainerOptions options;
  options.spec = spec;
  options.label = "finetune";
  options.row_tokens = seq_len;
  options.tokenizer_hash = tok.hash();
  options.recipe_yaml = recipe::to_yaml(f.recipe.loaded.root);
  options.checkpoint_kind = "plinth-finetune";
  // What the run was made from, in every step checkpoint and in tuned.ckpt: `plinth run` compares
  // it with what the recipe names now (finetune_provenance) to tell a stale run.
  const std::map<std::string, std::string> provenance = finetune_provenance(f, base_ckpt);
  for (const auto& [key, value] : provenance) options.extra_meta[key] = value;
  std::shared_ptr<SelectionProbe> probe =
      add_validation(f, task, seq_len, pad_id, config, tok, dp.get(), options);
  add_anchors(f, net, reference, base_ckpt, tok, device, dp.get(), options);
  std::unique_ptr<train::BatchSource> batches =
      finetune_batches(f, task, seq_len, pad_id, tok, replay_shards);

  options.data_parallel = dp;
  train::Trainer trainer(net, std::move(batches), std::move(options));
  if (resume) trainer.resume_latest();  // falls back past a damaged newest checkpoint
  const train::TrainResult result = trainer.run();
  if (result.signal != 0)  // the checkpoint is written; rank 0 says so
    throw StoppedBySignal(
        result.signal,
        lead ? fmt::format("stopped by signal {}; continue with --resume", result.signal) : "");
  if (!lead) return false;  // rank 0 writes the fine-tuned model
  if (probe)
    write_selected_tuned(f, *probe, net, provenance, tok.hash(), trainer.step(), result.step_seconds);
  else
    write_tuned(f, net, provenance, tok.hash(), trainer.step());
  log::info("{} steps in {}; wrote {}", result.end_step - result.start_step, format_duration(result.seconds),
            tuned_checkpoint_path(f.run_dir).string());
  return true;
}

}  // namespace plinth::finetune
