// plinth bench eval: the paired evaluation's speed (both models on every window, then per scored
// position the NLL under each, KL and top-1 agreement) against ref_llama.py doing the same work
// on the same windows, in one invocation: the same threads, allocator settings and BLAS kernel,
// turns taken, the best round of each compared, with the float32 matmul peak here.
#include <fmt/format.h>
#include <torch/torch.h>

#include <torch/csrc/autograd/profiler_legacy.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "bench_peer.h"
#include "build_info.h"
#include "command.h"
#include "eval/domain_scorer.h"
#include "eval/evaluator.h"
#include "finetune/finetune_eval.h"
#include "finetune/finetune_recipe.h"
#include "matmul_peak.h"
#include "model/hf_export.h"
#include "model/llama.h"
#include "model/torch_runtime.h"
#include "tokenizer/tokenizer.h"
#include "util/allocator.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/log.h"

namespace plinth {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct EvalBenchArgs {
  RecipeArgs recipe;
  uint64_t tokens = 16384;  // scored tokens per domain
  int rounds = 3;
  std::string python = "/usr/bin/python3";
  std::string reference;  // ref_llama.py
  bool no_reference = false;
  bool dry_run = false;
  std::string profile;
  std::string work_dir = "bench-eval";
  // A shape other than the checkpoints' (0: theirs): random models of it (random_pair).
  int dim = 0, layers = 0, heads = 0;
};

// Two models of the shape a.dim / a.layers / a.heads (ffn by the 8/3 rule) on `like`'s vocabulary
// and context, for timing a shape no checkpoint has (docs/scaling.md): seeded random weights,
// and the second is the first with every weight moved by noise of 10% of its spread, so that
// the KL and the top-1 agreement are not trivially 0 and 1.
std::pair<model::Llama, model::Llama> random_pair(const model::ModelConfig& like, const EvalBenchArgs& a,
                                                  torch::Device device, torch::ScalarType dtype) {
  model::ModelConfig c = like;
  if (a.dim > 0) c.dim = a.dim;
  if (a.layers > 0) c.layers = a.layers;
  if (a.heads > 0) c.heads = a.heads;
  c.kv_heads = 0;
  c.ffn = 0;
  if (c.dim % c.heads != 0 || c.head_dim() % 2 != 0)
    throw BadInput(fmt::format("--dim {} and --heads {} give no even head width", c.dim, c.heads),
                   "choose --heads dividing --dim into an even number (e.g. --dim 512 --heads 8)");
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  model::Llama base(c), tuned(c);
  const auto bp = base->parameters(), tp = tuned->parameters();
  for (size_t i = 0; i < bp.size(); ++i) tp[i].copy_(bp[i] + 0.1 * bp[i].std() * torch::randn_like(bp[i]));
  base->to(device, dtype);
  tuned->to(device, dtype);
  return {base, tuned};
}

struct Totals {
  double nll_base = 0, nll_tuned = 0, kl = 0;
  uint64_t agree = 0, scored = 0;
};

Totals totals(const std::vector<eval::DocumentScores>& domains) {
  Totals t;
  for (const auto& d : domains)
    for (size_t i = 0; i < d.size(); ++i) {
      t.nll_base += d.base_nll[i];
      t.nll_tuned += d.tuned_nll[i];
      t.kl += d.kl[i];
      t.agree += d.agree[i];
      t.scored += d.tokens[i];
    }
  return t;
}

std::string peer_command(const EvalBenchArgs& a, const model::ModelConfig& c, int threads, int64_t batch,
                         const std::string& tunables, const std::string& device) {
  const fs::path dir = fs::absolute(a.work_dir);
  return fmt::format(
      "{}{} {} pair --vocab {} --dim {} --layers {} --heads {} --kv-heads {} --ffn {} --seq {} --batch {} "
      "--threads {} --device {}{} --weights {} --tuned-weights {} --input {} 2>&1",
      peer_environment(tunables), shell_quote(a.python), shell_quote(a.reference), c.vocab_size, c.dim,
      c.layers, c.heads, c.resolved_kv_heads(), c.resolved_ffn(), c.context, batch, threads, device,
      c.tie_embeddings ? "" : " --no-tie", shell_quote((dir / "base/model.safetensors").string()),
      shell_quote((dir / "tuned/model.safetensors").string()), shell_quote((dir / "windows.json").string()));
}

// The windows plinth scores, which are the peer's input too, with the FLOPs they need: both
// models' forward over every position of a window (a third of the training convention's,
// model_config.h), less the head's share at the positions not scored (neither side runs the head
// there). Per scored token, so that tokens/s times it is the FLOP rate.
struct PairWork {
  std::vector<eval::WindowTokens> windows;
  uint64_t scored = 0;
  double flops_per_scored = 0;
};
PairWork pair_work(const eval::EvalRequest& req, const model::ModelConfig& c) {
  PairWork work;
  for (const auto& domain : req.domains)
    for (auto& w : eval::pair_windows(req, domain, c)) work.windows.push_back(std::move(w));
  const double forward = c.flops_per_token() / 3.0, head = 2.0 * c.vocab_size * c.dim;
  double flops = 0;
  for (const auto& w : work.windows) {
    const auto positions = static_cast<double>(w.ids.size()) - 1;
    flops += 2 * (positions * forward - (positions - static_cast<double>(w.scored)) * head);
    work.scored += static_cast<uint64_t>(w.scored);
  }
  work.flops_per_scored = work.scored > 0 ? flops / static_cast<double>(work.scored) : 0.0;
  return work;
}

// The peer's inputs in a.work_dir: both models as Hugging Face folders, and the windows (moved out
// of `work`).
void write_peer_inputs(const EvalBenchArgs& a, model::LlamaImpl& base, model::LlamaImpl& tuned,
                       PairWork& work, int64_t eos_id) {
  nlohmann::json windows = nlohmann::json::array();
  for (auto& w : work.windows) windows.push_back({{"ids", std::move(w.ids)}, {"scored", w.scored}});
  fs::create_directories(a.work_dir);
  model::export_hf(base, fs::path(a.work_dir) / "base");
  model::export_hf(tuned, fs::path(a.work_dir) / "tuned");
  write_file_atomic(fs::path(a.work_dir) / "windows.json",
                    nlohmann::json{{"eos", eos_id}, {"windows", windows}}.dump());
  log::info("{} windows, {} scored tokens, in {}", windows.size(), work.scored, a.work_dir);
}

// a.rounds turns of plinth's paired evaluation and the peer's, each printed with its share of
// `peak`, then the best of each and their ratio.
void run_rounds(const EvalBenchArgs& a, const eval::EvalRequest& req, model::LlamaImpl& base,
                model::LlamaImpl& tuned, const std::string& command, int threads, double flops, double peak) {
  auto line = [&](const std::string& who, double tokens_per_s) {
    const double gflops = tokens_per_s * flops / 1e9;
    fmt::print("{:<44} {:9.0f} scored tokens/s  {:7.1f} GFLOP/s  {:5.1f}% of peak\n", who, tokens_per_s,
               gflops, 100 * gflops / peak);
  };
  const std::string ours = fmt::format("plinth (C++, LibTorch {}):", model::torch_version());
  std::string theirs = "ref_llama.py:";
  double best_ours = 0, best_ref = 0;
  Totals mine;
  for (int round = 1; round <= a.rounds; ++round) {
    if (a.rounds > 1) fmt::print("round {} of {}\n", round, a.rounds);
    std::unique_ptr<torch::autograd::profiler::RecordProfile> profiler;
    if (!a.profile.empty() && round == 1)
      profiler = std::make_unique<torch::autograd::profiler::RecordProfile>(a.profile);
    const auto t0 = Clock::now();
    mine = totals(eval::score_pair(req, base, tuned));
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (profiler) {
      profiler.reset();  // writes the trace
      print_profile_summary(a.profile, 1, "plinth's paired evaluation");
    }
    line(ours, mine.scored / seconds);
    best_ours = std::max(best_ours, mine.scored / seconds);
    if (a.no_reference) continue;
    const nlohmann::json ref = run_peer(command, a.python, threads);
    const auto ref_scored = ref.value("scored", uint64_t{0});
    if (ref_scored != mine.scored)
      throw Failure(
          fmt::format("the peer scored {} tokens, plinth {}: not the same work", ref_scored, mine.scored));
    theirs = fmt::format("ref_llama.py (torch {}):", ref.value("torch", std::string("?")));
    if (round == 1) {
      fmt::print("the peer's BLAS kernel: {}\n", ref.value("blas", std::string("?")));
      fmt::print(
          "same work: {} scored tokens each; summed NLL base {:.4f} / {:.4f}, tuned {:.4f} / {:.4f}, "
          "KL {:.4f} / {:.4f}, top-1 agreement {} / {} (plinth / peer)\n",
          mine.scored, mine.nll_base, ref.value("nll_base", 0.0), mine.nll_tuned, ref.value("nll_tuned", 0.0),
          mine.kl, ref.value("kl", 0.0), mine.agree, ref.value("agree", uint64_t{0}));
    }
    const double ref_tps = ref_scored / std::max(1e-9, ref.value("seconds", 0.0));
    line(theirs, ref_tps);
    best_ref = std::max(best_ref, ref_tps);
  }
  if (a.rounds > 1) {
    fmt::print("best of {} rounds\n", a.rounds);
    line(ours, best_ours);
    if (!a.no_reference) line(theirs, best_ref);
  }
  if (!a.no_reference)
    fmt::print("ratio plinth / ref_llama.py: {:.2f}x\n", best_ref > 0 ? best_ours / best_ref : 0.0);
}

void run_bench_eval(EvalBenchArgs a) {
  Recipe r;
  if (!load_recipe_args(a.recipe, r)) return;
  if (!finetune::is_finetune_recipe(r))
    throw BadInput(fmt::format("{} has no finetune: section", r.loaded.file.string()),
                   "bench eval times the paired evaluation of a fine-tuning recipe's base and tuned.ckpt");
  const finetune::FinetuneRecipe f = finetune::bind_finetune_recipe(std::move(r), a.recipe.threads);
  const fs::path tuned_ckpt = finetune::existing_tuned_checkpoint(f);
  if (a.reference.empty())
    a.reference = (fs::path(plinth_source_dir()) / "tests/reference/ref_llama.py").string();
  const int threads = model::configure_threads(a.recipe.threads);
  const auto tok = load_recipe_tokenizer(f.recipe);
  // The eval: section as plinth eval reads it, but every domain scored to the same ceiling (no
  // early stop) and no words counted (decoding is not the peer's work).
  eval::EvalSpec spec = f.eval;
  spec.max_tokens = a.tokens;
  spec.target_ci = 0;
  eval::EvalRequest req = finetune::domain_eval_request(f.recipe, tok, spec);
  req.checkpoint = finetune::resolve_base_checkpoint(f.finetune.base);
  req.measure = {};
  req.progress = {};
  const std::string tunables =
      merge_glibc_tunables(std::getenv("GLIBC_TUNABLES"), keep_freed_memory_tunables());

  const bool random = a.dim > 0 || a.layers > 0 || a.heads > 0;
  auto bench = [&](model::LlamaImpl& base, model::LlamaImpl& tuned) {
    const model::ModelConfig& c = base.config();
    const std::string device = base.parameters().front().device().str();
    fmt::print(
        "base {} and tuned {}: {}, {} domains, up to {} scored tokens each, batch {}, {}, {} threads\n",
        random ? "random" : req.checkpoint.string(), random ? "random" : tuned_ckpt.string(),
        eval::describe_shape(c), req.domains.size(), a.tokens, spec.batch_size,
        precision_name(spec.precision), threads);
    fmt::print("plinth: {} threads; allocator: {}; BLAS: {}\n", threads, keep_freed_memory_mallopts(),
               blas_description());
    const std::string command = peer_command(a, c, threads, spec.batch_size, tunables, device);
    if (!a.no_reference) fmt::print("peer command: {}\n", command);
    if (a.dry_run) return;

    PairWork work = pair_work(req, c);
    if (!a.no_reference) write_peer_inputs(a, base, tuned, work, req.eos_id);
    const double peak = matmul_peak_gflops(
        torch::kFloat32, torch::Device(device),
        {{spec.batch_size * c.context, c.dim, c.resolved_ffn()}, {1024, c.dim, c.vocab_size}});
    fmt::print("float32 matmul peak here: {:.0f} GFLOP/s\n", peak);
    run_rounds(a, req, base, tuned, command, threads, work.flops_per_scored, peak);
  };
  eval::with_loaded_pair(req, tuned_ckpt, [&](model::LlamaImpl& base, model::LlamaImpl& tuned) {
    if (!random) return bench(base, tuned);
    const torch::Tensor w = base.parameters().front();
    auto [rb, rt] = random_pair(base.config(), a, w.device(), w.scalar_type());
    bench(*rb, *rt);
  });
}

}  // namespace

void add_bench_eval_command(CLI::App& bench) {
  auto* cmd = bench.add_subcommand(
      "eval", "The paired evaluation's scored tokens/s against ref_llama.py on the same windows, same run");
  static EvalBenchArgs a;
  add_recipe_args(*cmd, a.recipe, "plinth bench eval recipes/finetune/full.yaml --threads 2");
  cmd->add_option("--tokens", a.tokens, "Scored tokens per domain (the eval's sample, cut there)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  cmd->add_option("--rounds", a.rounds, "Turns each (plinth, then the peer); the best of each is compared")
      ->check(CLI::Range(1, 100));
  cmd->add_option("--python", a.python, "Python with torch for the peer (Debian: /usr/bin/python3)");
  cmd->add_option("--reference", a.reference, "Path of ref_llama.py");
  cmd->add_option("--work-dir", a.work_dir, "Where the peer's inputs are written (weights, windows)");
  cmd->add_flag("--no-reference", a.no_reference, "Measure plinth only");
  cmd->add_flag("--dry-run", a.dry_run, "Print what each side runs with; time nothing");
  cmd->add_option("--profile", a.profile,
                  "Write a chrome trace of plinth's first round to this file and print where the time goes");
  cmd->add_option("--dim", a.dim, "Time random models of this width instead of the checkpoints")
      ->check(CLI::Range(8, 65536));
  cmd->add_option("--layers", a.layers, "... of this many layers")->check(CLI::Range(1, 1024));
  cmd->add_option("--heads", a.heads, "... with this many attention heads")->check(CLI::Range(1, 1024));
  cmd->callback([] { run_bench_eval(a); });
}

}  // namespace plinth
