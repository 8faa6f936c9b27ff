// plinth pretrain RECIPE [--resume]: the decoder trained on the recipe's domain mixture, into
// <train.run_dir> (default runs/<recipe name>): checkpoints, metrics.jsonl, loss.svg.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <optional>

#include "command.h"
#include "data/mixture_sampler.h"
#include "data/prepare.h"
#include "finetune/run_state.h"
#include "model/device.h"
#include "model/model_config.h"
#include "model/torch_runtime.h"
#include "recipe/recipe_writer.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint_files.h"
#include "train/data_parallel.h"
#include "train/precision_choice.h"
#include "train/trainer.h"
#include "train/training_checkpoint.h"
#include "util/dir_lock.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/text.h"

namespace plinth {

void add_pretrain_command(CLI::App& app);

namespace {

namespace fs = std::filesystem;

struct PretrainArgs {
  bool resume = false;
  double peak_tflops = 0;
};

// Memory the process could still get, in bytes (MemAvailable; 0 when unknown).
uint64_t available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  long pages = ::sysconf(_SC_AVPHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

// What the recipe asks for that no machine here can hold: caught before a long start-up.
void check_model_fits(const Recipe& r, const model::ModelConfig& config, bool on_cuda) {
  const ConfigNode* m = r.loaded.root.find("model");
  const Location where = m ? m->where() : Location{r.loaded.file.string()};
  if (config.context > 65536)
    throw BadInput(
        m && m->find("context") ? m->find("context")->where() : where, "model.context",
        fmt::format("a context of {} tokens is more than the 65536 plinth trains with", config.context),
        "use a context of at most 65536 (1024-4096 is usual for small models)");
  if (on_cuda) return;  // device memory is the limit there; LibTorch reports it clearly
  // fp32 weights + gradients + AdamW's two moments: 16 bytes per parameter, before activations.
  const uint64_t need = static_cast<uint64_t>(config.parameter_count()) * 16;
  const uint64_t have = available_memory();
  if (have > 0 && need > have)
    throw BadInput(
        where, "model",
        fmt::format("a model of {} parameters needs about {} for weights, gradients and optimizer state "
                    "(16 bytes per parameter), more than the {} of memory available",
                    with_commas(static_cast<uint64_t>(config.parameter_count())), format_bytes(need),
                    format_bytes(have)),
        "make the model smaller (model.dim, model.layers, model.ffn), or train on a GPU (train.device: "
        "cuda)");
}

// The recipe's tokenizer (which must exist); model.vocab_size 0 takes its vocabulary, a smaller
// one is bad input.
tokenizer::Tokenizer load_tokenizer(const Recipe& r, model::ModelConfig& config) {
  auto tok = load_recipe_tokenizer(r);
  if (config.vocab_size == 0) {
    config.vocab_size = tok.vocab_size();
  } else if (config.vocab_size < tok.vocab_size()) {
    const ConfigNode* v = r.loaded.root.find("model")->find("vocab_size");
    throw BadInput(v->where(), "model.vocab_size",
                   fmt::format("{} is smaller than the tokenizer's vocabulary of {}", config.vocab_size,
                               tok.vocab_size()),
                   "leave model.vocab_size at 0 to take the tokenizer's");
  }
  return tok;
}

// Every domain's shards, train and val, checked against the tokenizer before training starts.
struct PretrainData {
  std::deque<data::ShardReader> shards;  // stable addresses: the sampler and evaluator point into it
  std::vector<data::MixtureDomain> mixture;
  std::vector<train::ValDomain> validation;
};
void open_pretrain_data(const Recipe& r, const tokenizer::Tokenizer& tok, PretrainData& out) {
  std::error_code ec;
  std::vector<std::string> missing;
  for (const auto& d : r.data.domains)
    for (const char* split : {"train", "val"})
      if (!fs::exists(data::shard_path(r.data, d.name, split), ec)) missing.push_back(d.name + "/" + split);
  if (!missing.empty())
    throw BadInput(fmt::format("shards missing in {}: {}", r.data.shards, fmt::join(missing, ", ")),
                   fmt::format("prepare them first: plinth prepare {}", r.loaded.file.string()));
  for (const auto& d : r.data.domains) {
    out.shards.push_back(data::ShardReader::open(data::shard_path(r.data, d.name, "train"), tok.hash()));
    out.mixture.push_back({d.name, d.weight, &out.shards.back()});
    out.shards.push_back(data::ShardReader::open(data::shard_path(r.data, d.name, "val"), tok.hash()));
    out.validation.push_back({d.name, &out.shards.back()});
  }
}

// The run's closing lines (rank 0): the last validation, the throughput, the last checkpoint.
void report_pretrain(const train::TrainResult& result) {
  if (!result.last_val.empty()) {
    std::string val;
    for (const auto& [name, loss] : result.last_val)
      val += fmt::format("{}{} {:.3f}", val.empty() ? "" : ", ", name, loss);
    log::info("val loss at step {}: {}", result.last_val_step, val);
  }
  log::info("{} steps in {}, {:.0f} tokens/s; last checkpoint {}", result.end_step - result.start_step,
            format_duration(result.seconds), result.tokens_per_s, result.last_checkpoint.string());
}

void run_pretrain(const RecipeArgs& args, const PretrainArgs& pargs) {
  Recipe r;
  if (!load_recipe_args(args, r)) return;

  model::ModelConfig config;
  train::TrainSpec spec;
  {
    Diagnostics diag;
    ConfigSection root(&r.loaded.root, "", diag, Location{r.loaded.file.string()});
    ConfigSection m = root.child("model");
    model::bind(m, config);
    ConfigSection t = root.child("train");
    train::bind(t, spec);
    diag.throw_if_any();
  }
  if (args.threads > 0) spec.threads = args.threads;
  if (spec.run_dir.empty()) spec.run_dir = (fs::path("runs") / r.name).string();
  // Launched by torchrun / plinth launch: join the other ranks first, so a bad launch fails fast.
  const auto dp = train::start_data_parallel(spec, r.loaded.root, r.loaded.file.string());
  const bool lead = !dp || dp->lead();

  const auto tok = load_tokenizer(r, config);
  const bool on_cuda = spec.device == "cuda" || (spec.device == "auto" && model::cuda_available());
  check_model_fits(r, config, on_cuda);

  PretrainData data;
  open_pretrain_data(r, tok, data);
  data::DomainMixtureSampler sampler(data.mixture, config.context + 1, static_cast<uint64_t>(spec.seed),
                                     spec.temperature);

  const fs::path run_dir = spec.run_dir;
  std::optional<DirLock> lock;  // one process per run directory (data-parallel: rank 0's)
  if (lead) lock.emplace(run_dir, "pretrain");
  std::optional<fs::path> resume_from;
  if (pargs.resume)
    resume_from =
        train::checkpoint_to_resume(run_dir, fmt::format("plinth pretrain {}", r.loaded.file.string()));

  // train.precision: auto becomes fp32 or bf16 here (the checkpoints record which).
  train::settle_training_precision(spec, config,
                                   dp ? dp->device() : model::resolve_device(spec.device, "train.device"),
                                   resume_from, dp.get());

  train::TrainerOptions options;
  options.spec = spec;
  options.tokenizer_hash = tok.hash();
  options.recipe_yaml = recipe::to_yaml(r.loaded.root);
  // What the shards were made from: `plinth run` redoes a pretraining whose data changed since.
  options.extra_meta["shards_hash"] = hex64(data::shards_fingerprint(r.data));
  // Where the recipe came from, so that `plinth runs` can read it again (finetune/run_state.h).
  for (const auto& [key, value] : finetune::recipe_source(r.loaded)) options.extra_meta[key] = value;
  options.peak_flops = pargs.peak_tflops * 1e12;
  options.data_parallel = dp;
  options.evaluate = train::make_val_loss_evaluator(
      data.validation,
      train::ValLossOptions{spec.eval_tokens, spec.batch_size, spec.autocast_bf16(), dp.get()});

  train::TrainResult result;
  {
    // Initialisation order is RNG order: seed, then build, so a recipe always gives one model.
    torch::manual_seed(static_cast<uint64_t>(spec.seed));
    model::Llama net(config);
    train::Trainer trainer(net, std::make_unique<train::MixtureBatches>(std::move(sampler)),
                           std::move(options));
    if (resume_from) trainer.resume_latest();  // falls back past a damaged newest checkpoint
    result = trainer.run();
  }
  if (!lead) {  // rank 0 reports
    if (result.signal != 0) throw StoppedBySignal(result.signal, "");
    return;
  }
  report_pretrain(result);
  fmt::print("{}\n", run_dir.string());
  if (result.signal != 0)  // the checkpoint is written
    throw StoppedBySignal(result.signal,
                          fmt::format("stopped by signal {}; continue with --resume", result.signal));
}

}  // namespace

void add_pretrain_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("pretrain", "Pretrain the decoder on the recipe's mixture of domains");
  static RecipeArgs args;
  static PretrainArgs pargs;
  add_recipe_args(*cmd, args, "plinth pretrain recipes/pretrain/quickstart.yaml train.steps=200");
  cmd->add_flag("--resume", pargs.resume, "Continue from the newest checkpoint in the run directory");
  cmd->add_option(
         "--peak-tflops", pargs.peak_tflops,
         "The device's peak TFLOP/s at the training precision, to show MFU (e.g. 989 for an H100 in bf16)")
      ->check(CLI::PositiveNumber);
  cmd->footer(
      "Example:\n"
      "  plinth pretrain recipes/pretrain/quickstart.yaml train.steps=200\n"
      "  plinth pretrain recipes/pretrain/quickstart.yaml --resume    # after Ctrl-C or a crash\n"
      "Writes <train.run_dir> (default runs/<recipe name>): checkpoints/, metrics.jsonl, loss.svg, "
      "recipe.yaml.\n"
      "Ctrl-C (or SIGTERM) finishes the current step and saves a checkpoint (exit 130 / 143).");
  cmd->callback([] { run_pretrain(args, pargs); });
}

}  // namespace plinth
