// plinth bench train: training tokens/s of plinth's model against ref_llama.py (the same
// architecture in PyTorch Python) on the same config, dtype, batch, sequence length and
// threads, in one invocation; plus achieved GFLOP/s against the matmul peak measured for
// that dtype on this machine. Ratios, not absolute times, are what compare across runs.
// Equal settings: the peer gets plinth's thread count (--threads -> torch.set_num_threads,
// checked in its result) and plinth's allocator settings (GLIBC_TUNABLES = the mallopt calls
// of util/allocator.h, which plinth makes at start-up).
#include <fmt/format.h>
#include <torch/torch.h>

#include <torch/csrc/autograd/profiler_legacy.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "bench_peer.h"
#include "build_info.h"
#include "command.h"
#include "matmul_peak.h"
#include "model/device.h"
#include "model/llama.h"
#include "model/model_config.h"
#include "model/torch_runtime.h"
#include "train/trainer.h"
#include "util/allocator.h"
#include "util/blas_kernel.h"
#include "util/error.h"
#include "util/log.h"
#include "util/threads.h"

namespace plinth {

namespace {

using Clock = std::chrono::steady_clock;

struct TrainBenchArgs {
  std::string recipe;  // optional: take model: from it
  std::vector<std::string> overrides;
  model::ModelConfig config;
  int64_t batch = 8;
  int steps = 10;
  int warmup = 2;
  int threads = 0;
  std::string dtype = "fp32";
  std::string device = "cpu";
  std::string python = "/usr/bin/python3";
  std::string reference;  // ref_llama.py
  bool no_reference = false;
  bool compile = false;  // the peer runs under torch.compile
  std::string profile;   // chrome trace of plinth's timed steps; "" = none
  int rounds = 3;        // plinth and the peer take turns; the best round of each is compared
  bool dry_run = false;  // print what each side runs with, time nothing
};

double seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void sync(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

struct Measured {
  double tokens_per_s = 0;
  double step_ms = 0;
  int64_t params = 0;
};

Measured bench_plinth(const TrainBenchArgs& a, const torch::Device& device) {
  torch::manual_seed(0);
  model::Llama m(a.config);
  const int64_t T = a.config.context;
  auto x = torch::randint(0, a.config.vocab_size, {a.batch, T}, torch::kLong);  // (B, T)
  auto y = torch::roll(x, -1, 1);                                               // (B, T)
  // The Trainer's own step (Trainer::step_once): chunked head and loss, gradients reset to none,
  // its clipping, AdamW in one pass per parameter; the peer's optimizer settings.
  train::TrainerOptions options;
  options.spec.batch_size = a.batch;
  options.spec.precision = parse_precision(a.dtype);  // --dtype: fp32 or bf16 (checked)
  options.spec.device = a.device;
  options.spec.lr = 3e-4;
  options.spec.warmup_steps = 0;
  options.spec.schedule = "constant";
  options.spec.weight_decay = 0.1;
  options.spec.grad_clip = 1.0;
  options.spec.steps = a.warmup + a.steps;
  options.spec.run_dir = "bench-train";  // never written: step_once writes nothing
  train::Trainer trainer(m, std::make_unique<train::RepeatedBatch>(x, y), std::move(options));
  auto step = [&] { return trainer.step_once(); };
  for (int i = 0; i < a.warmup; ++i) step();
  sync(device);
  std::unique_ptr<torch::autograd::profiler::RecordProfile> profiler;
  if (!a.profile.empty()) profiler = std::make_unique<torch::autograd::profiler::RecordProfile>(a.profile);
  auto t0 = Clock::now();
  for (int i = 0; i < a.steps; ++i) step();  // each returns its loss: the step has synchronised
  sync(device);
  double dt = seconds(t0) / a.steps;
  profiler.reset();  // writes the trace
  Measured out;
  out.step_ms = dt * 1e3;
  out.tokens_per_s = a.batch * T / dt;
  for (const auto& p : m->parameters()) out.params += p.numel();
  return out;
}

// The peer's command line: the same shape, batch, steps, dtype and device as plinth, `threads`
// threads, `tunables` as its GLIBC_TUNABLES ("" leaves the environment's) and plinth's
// OPENBLAS_CORETYPE where plinth runs with one (its own or the kernel switch's).
std::string reference_command(const TrainBenchArgs& a, int threads, const std::string& tunables) {
  const auto& c = a.config;
  return fmt::format(
      "{}{} {} bench --vocab {} --dim {} --layers {} --heads {} --kv-heads {} --ffn {} --seq {} --batch {} "
      "--steps {} --warmup {} --threads {} --device {} --dtype {}{} 2>&1",
      peer_environment(tunables), shell_quote(a.python), shell_quote(a.reference), c.vocab_size, c.dim,
      c.layers, c.heads, c.resolved_kv_heads(), c.resolved_ffn(), c.context, a.batch, a.steps, a.warmup,
      threads, a.device, a.dtype,
      std::string(c.tie_embeddings ? "" : " --no-tie") + (a.compile ? " --compile" : ""));
}

nlohmann::json bench_reference(const TrainBenchArgs& a, int threads, const std::string& tunables) {
  return run_peer(reference_command(a, threads, tunables), a.python, threads);
}

void run_bench_train(TrainBenchArgs a) {
  if (!a.recipe.empty()) {
    auto loaded = recipe::load_recipe(a.recipe, a.overrides);
    Diagnostics diag;
    ConfigSection root(&loaded.root, "", diag, Location{a.recipe});
    ConfigSection m = root.child("model", Need::Required);
    model::bind(m, a.config);
    diag.throw_if_any();
  }
  if (a.config.vocab_size <= 0) a.config.vocab_size = 8192;
  model::check_config(a.config);  // before the matmul peak is measured, not after
  int threads = model::configure_threads(a.threads);
  torch::Device device = a.device == "cuda" ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (device.is_cuda() && !torch::cuda::is_available())
    throw BadInput("--device cuda, but this LibTorch sees no CUDA device", "use --device cpu");
  if (a.reference.empty())
    a.reference = (std::filesystem::path(plinth_source_dir()) / "tests/reference/ref_llama.py").string();

  const auto& c = a.config;
  fmt::print("config: V={} d={} L={} H={} kv={} ffn={} T={} B={} {} {} threads={}\n", c.vocab_size, c.dim,
             c.layers, c.heads, c.resolved_kv_heads(), c.resolved_ffn(), c.context, a.batch, a.dtype,
             a.device, threads);
  const std::string tunables =
      merge_glibc_tunables(std::getenv("GLIBC_TUNABLES"), keep_freed_memory_tunables());
  fmt::print("plinth: {} threads (at::set_num_threads); allocator: {}\n", threads,
             keep_freed_memory_mallopts());
  if (!a.no_reference) {
    fmt::print("peer:   {} threads (--threads: torch.set_num_threads); allocator: GLIBC_TUNABLES={}\n",
               threads, tunables.empty() ? "(none)" : tunables);
    fmt::print("peer command: {}\n", reference_command(a, threads, tunables));
  }
  if (a.dry_run) return;
  // The step's own products (tokens x dim @ dim x ffn, and the head's chunks) beside the square one.
  const int64_t rows = a.batch * c.context;
  const double peak = matmul_peak_gflops(model::weight_dtype(*parse_precision(a.dtype)), device,
                                         {{rows, c.dim, c.resolved_ffn()},
                                          {rows, c.resolved_ffn(), c.dim},
                                          {std::min<int64_t>(rows, 2048), c.dim, c.vocab_size}});
  fmt::print("plinth's BLAS: {}\n", blas_description());
  double flops = c.flops_per_token();
  fmt::print("{} matmul peak here: {:.0f} GFLOP/s\n", a.dtype, peak);
  auto print_line = [&](const std::string& who, double tokens_per_s, double step_ms) {
    const double gflops = tokens_per_s * flops / 1e9;
    fmt::print("{:<48} {:9.0f} tokens/s  {:8.1f} ms/step  {:7.1f} GFLOP/s  {:5.1f}% of peak\n", who,
               tokens_per_s, step_ms, gflops, 100 * gflops / peak);
  };
  const std::string ours_name = fmt::format("plinth (C++, LibTorch {}):", model::torch_version());
  std::string ref_name = "ref_llama.py:";

  // Shared machines are noisy: one run of each can be off by a third either way. Plinth and
  // the peer take turns, `rounds` times, and the best (least disturbed) round of each counts.
  double best_ours = 0, best_ref = 0, best_ours_ms = 0, best_ref_ms = 0;
  for (int round = 1; round <= a.rounds; ++round) {
    if (a.rounds > 1) fmt::print("round {} of {}\n", round, a.rounds);
    TrainBenchArgs this_round = a;
    if (round > 1) this_round.profile.clear();  // one trace is enough
    Measured ours = bench_plinth(this_round, device);
    if (!this_round.profile.empty()) print_profile_summary(a.profile, a.steps, "plinth's step");
    print_line(ours_name, ours.tokens_per_s, ours.step_ms);
    if (ours.tokens_per_s > best_ours) best_ours = ours.tokens_per_s, best_ours_ms = ours.step_ms;
    if (a.no_reference) continue;
    auto ref = bench_reference(a, threads, tunables);
    const double ref_tps = ref.value("tokens_per_s", 0.0);
    ref_name = fmt::format("ref_llama.py (torch {}{}):", ref.value("torch", std::string("?")),
                           a.compile ? ", compiled" : "");
    if (round == 1) fmt::print("the peer's BLAS kernel: {}\n", ref.value("blas", std::string("?")));
    print_line(ref_name, ref_tps, ref.value("step_ms", 0.0));
    if (ref_tps > best_ref) best_ref = ref_tps, best_ref_ms = ref.value("step_ms", 0.0);
  }
  if (a.rounds > 1) {
    fmt::print("best of {} rounds\n", a.rounds);
    print_line(ours_name, best_ours, best_ours_ms);
    if (!a.no_reference) print_line(ref_name, best_ref, best_ref_ms);
  }
  if (!a.no_reference)
    fmt::print("ratio plinth / ref_llama.py: {:.2f}x\n", best_ref > 0 ? best_ours / best_ref : 0.0);
}

}  // namespace

void add_bench_train_command(CLI::App& bench) {
  auto* cmd =
      bench.add_subcommand("train", "Training tokens/s and MFU against ref_llama.py, same config, same run");
  static TrainBenchArgs a;
  cmd->add_option("recipe", a.recipe, "Recipe whose model: section to use (optional)");
  cmd->add_option("overrides", a.overrides, "Recipe overrides, key.path=value");
  cmd->add_option("--vocab", a.config.vocab_size, "Vocabulary (default 8192 or the recipe's)");
  cmd->add_option("--dim", a.config.dim, "Model width");
  cmd->add_option("--layers", a.config.layers, "Layers");
  cmd->add_option("--heads", a.config.heads, "Attention heads");
  cmd->add_option("--kv-heads", a.config.kv_heads, "Key/value heads (0 = heads)");
  cmd->add_option("--ffn", a.config.ffn, "MLP width (0 = 256 * ceil(8 dim / 3 / 256))");
  cmd->add_option("--seq", a.config.context, "Sequence length");
  cmd->add_option("--batch", a.batch, "Sequences per step");
  cmd->add_option("--steps", a.steps, "Timed steps");
  cmd->add_option("--warmup", a.warmup, "Untimed steps first");
  cmd->add_option("--threads", a.threads, "Threads for both (default: all cores)");
  cmd->add_option("--dtype", a.dtype, "fp32 or bf16 (autocast, fp32 master weights)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_option("--device", a.device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--python", a.python, "Python with torch for the peer (Debian: /usr/bin/python3)");
  cmd->add_option("--reference", a.reference, "Path of ref_llama.py");
  cmd->add_flag("--no-reference", a.no_reference, "Measure plinth only");
  cmd->add_option("--rounds", a.rounds, "Turns each (plinth, then the peer); the best of each is compared")
      ->check(CLI::Range(1, 100));
  cmd->add_flag("--dry-run", a.dry_run,
                "Print what each side runs with (threads, allocator, command); time nothing");
  cmd->add_flag("--compile", a.compile, "Run the peer under torch.compile (torch 2.x)");
  cmd->add_option("--profile", a.profile,
                  "Write a chrome trace of plinth's timed steps to this file and print where the time goes");
  cmd->footer(
      "Example:\n  plinth bench train --dim 256 --layers 4 --heads 4 --seq 256 --batch 8 --dtype bf16");
  cmd->callback([] { run_bench_train(a); });
}

}  // namespace plinth
