// plinth run PIPELINE: the whole life of the quickstart (or any pipeline) in one command:
// tokenizer, prepare, pretrain, then each fine-tune and its eval, then the comparison report.
// Each stage is the same subcommand a user would run, started as a child process of this
// binary, so a stage behaves exactly as it does alone. Finished work is skipped: tokenizer
// and prepare skip by content themselves, a pretraining or fine-tuning run with checkpoints is
// resumed (a finished one has nothing to do), and an eval is skipped when the hash of its
// inputs (tuned and base checkpoints, recipe) matches the one stored beside its report. A
// fine-tuning run made from another version of its recipe or base is set aside and redone.
// Ctrl-C / SIGTERM go to the running stage, which checkpoints; the pipeline stops with its code.
//
//   name: quickstart
//   pretrain: ../pretrain/quickstart.yaml     # paths of recipes are relative to this file
//   finetune: [../finetune/full.yaml, ../finetune/lora.yaml]
//   seeds: [1, 2, 3]                          # optional: every fine-tune once per training seed,
//                                             # into <run_dir>-seed<N>; the comparison shows
//                                             # mean +- spread over the seeds
//   report: runs/quickstart-comparison        # output paths are relative to the working directory
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <filesystem>

#include "command.h"
#include "finetune/finetune_eval.h"
#include "finetune/finetune_recipe.h"
#include "model/checkpoint_file.h"
#include "train/checkpoint_files.h"
#include "train/finetune_spec.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/shipped.h"

extern char** environ;

namespace plinth {

namespace {

namespace fs = std::filesystem;

struct RunArgs {
  std::string pipeline;
  int threads = 0;
  bool dry_run = false;
};

struct Pipeline {
  std::string name;
  fs::path pretrain;
  std::vector<fs::path> finetune;
  std::vector<int64_t> seeds;  // empty: each fine-tune once, with its recipe's own train.seed
  fs::path report;
};

Pipeline load_pipeline(const std::string& file) {
  recipe::LoadedRecipe loaded = recipe::load_recipe(file);
  Pipeline p;
  p.name = loaded.file.stem().string();
  const fs::path dir = loaded.file.parent_path();
  Diagnostics diag;
  ConfigSection root(&loaded.root, "", diag, Location{loaded.file.string()});
  root.read("name", p.name);
  root.ignore("description");
  auto recipe_path = [&](const std::string& key, const std::string& value) {
    fs::path path = fs::path(value).is_absolute() ? fs::path(value) : dir / value;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
      root.error(key, fmt::format("the recipe {} does not exist", path.string()),
                 "paths of recipes are relative to the pipeline file");
    return path.lexically_normal();
  };
  std::string pretrain;
  if (root.read("pretrain", pretrain, Need::Required)) p.pretrain = recipe_path("pretrain", pretrain);
  std::vector<std::string> finetunes;
  root.read("finetune", finetunes);
  for (const auto& f : finetunes) p.finetune.push_back(recipe_path("finetune", f));
  std::vector<std::string> seeds;
  if (root.read("seeds", seeds)) {
    if (seeds.empty())
      root.error("seeds", "the list of seeds is empty",
                 "list training seeds, e.g. seeds: [1, 2, 3], or remove seeds:");
    for (const auto& text : seeds) {
      int64_t seed = -1;
      const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), seed);
      if (err != std::errc() || end != text.data() + text.size() || seed < 0) {
        root.error("seeds", fmt::format("'{}' is not a seed (an integer >= 0)", text),
                   "write e.g. seeds: [1, 2, 3]");
        continue;
      }
      if (std::find(p.seeds.begin(), p.seeds.end(), seed) != p.seeds.end())
        root.error("seeds", fmt::format("seed {} is listed twice", seed),
                   "each seed trains one run per fine-tune: list it once");
      p.seeds.push_back(seed);
    }
  }
  std::string report;
  if (root.read("report", report)) p.report = report;
  root.finish();
  diag.throw_if_any();
  if (!p.report.empty() && p.finetune.empty())
    throw BadInput(fmt::format("{}: report: needs fine-tuned runs to compare", file),
                   "add finetune: recipes, or remove report:");
  return p;
}

std::atomic<pid_t> g_child{0};

void forward_signal(int sig) {
  if (pid_t c = g_child.load()) ::kill(c, sig);
}

std::string self_binary() {
  const fs::path exe = executable_path();
  return exe.empty() ? "plinth" : exe.string();
}

// Runs `plinth <args...>` and waits; SIGINT/SIGTERM received meanwhile are passed to it.
// Returns its exit code (128 + N when a signal ended it).
int run_stage(const std::vector<std::string>& args, const RunArgs& run) {
  std::vector<std::string> full{self_binary()};
  full.insert(full.end(), args.begin(), args.end());
  if (run.threads > 0 && args.front() != "report") {
    full.push_back("--threads");
    full.push_back(std::to_string(run.threads));
  }
  std::string shown = "plinth";
  for (const auto& a : args) shown += " " + a;
  log::info("== {}", shown);
  if (run.dry_run) return 0;
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  struct sigaction sa {
  }, old_int{}, old_term{};
  sa.sa_handler = forward_signal;
  ::sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);
  pid_t pid = 0;
  if (::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0)
    throw Failure(fmt::format("cannot start {}", full[0]));
  g_child = pid;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  g_child = 0;
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

void stage(const std::vector<std::string>& args, const RunArgs& run) {
  const int code = run_stage(args, run);
  if (code == 0) return;
  std::fflush(stdout);
  std::fflush(stderr);
  // The stage printed its own error; stop with its code (2 bad input, 1 failure, 130/143 signal).
  if (code == 2)
    throw BadInput(fmt::format("pipeline stopped: plinth {} failed (exit 2)", args.front()),
                   "see the error above");
  if (code >= 128)
    throw StoppedBySignal(code - 128,
                          fmt::format("pipeline stopped: plinth {} ended by signal {}; run the pipeline "
                                      "again to continue",
                                      args.front(), code - 128));
  throw Failure(fmt::format("pipeline stopped: plinth {} failed (exit {})", args.front(), code));
}

// Why a fine-tuning run's results no longer belong to its recipe, or "" when they do: its
// newest output (tuned.ckpt, else the newest checkpoint) records the recipe it ran and the
// hash of the base it started from.
std::string finetune_stale_because(const finetune::FinetuneRecipe& f) {
  std::error_code ec;
  fs::path newest = finetune::tuned_checkpoint_path(f.run_dir);
  if (!fs::exists(newest, ec)) {
    auto latest = train::latest_checkpoint(f.run_dir);
    if (!latest) return "";
    newest = *latest;
  }
  const model::CheckpointContents c = model::read_checkpoint(newest);
  auto meta = [&](const char* key) {
    auto it = c.meta.find(key);
    return it == c.meta.end() ? std::string() : it->second;
  };
  if (meta("recipe") != recipe::to_yaml(f.recipe.loaded.root))
    return fmt::format("{} was made with another version of the recipe", newest.string());
  const std::string base_hash = meta("base_hash");
  if (!base_hash.empty() && base_hash != hex64(hash_file(train::resolve_base_checkpoint(f.finetune.base))))
    return fmt::format("its base {} changed since {} was made", f.finetune.base, newest.string());
  return "";
}

// A stale run directory is kept, renamed to <run_dir>.previous (replacing an older one), so
// that starting again neither resumes from nor mixes with results of another recipe.
void set_aside(const fs::path& run_dir) {
  fs::path previous = run_dir;
  previous += ".previous";
  fs::remove_all(previous);
  fs::rename(run_dir, previous);
  log::warn("{} moved to {}; fine-tuning again", run_dir.string(), previous.string());
}

// The eval of a fine-tuned run is redone only when what it reads changed.
uint64_t eval_inputs_hash(const finetune::FinetuneRecipe& f) {
  Hasher h;
  h.field(hash_file(finetune::tuned_checkpoint_path(f.run_dir)));
  h.field(hash_file(train::resolve_base_checkpoint(f.finetune.base)));
  h.field(recipe::to_yaml(f.recipe.loaded.root));
  return h.digest();
}

void run_pipeline(const RunArgs& args) {
  const Pipeline p = load_pipeline(args.pipeline);
  const auto start = std::chrono::steady_clock::now();
  const std::string pre = p.pretrain.string();
  log::info("pipeline {}: pretrain {}, {} fine-tune(s)", p.name, pre, p.finetune.size());

  stage({"tokenizer", "train", pre}, args);
  stage({"prepare", pre}, args);
  Recipe pre_recipe = load_and_bind(pre, {});
  const fs::path pre_run = eval::recipe_run_dir(pre_recipe.loaded.root, pre_recipe.name);
  if (train::latest_checkpoint(pre_run))
    stage({"pretrain", pre, "--resume"}, args);
  else
    stage({"pretrain", pre}, args);

  // Each fine-tune once, or once per seed: train.seed and the run directory overridden.
  struct FinetuneRun {
    std::string file;
    std::vector<std::string> overrides;
  };
  std::vector<FinetuneRun> planned;
  for (const auto& ft : p.finetune) {
    if (p.seeds.empty()) {
      planned.push_back({ft.string(), {}});
      continue;
    }
    const finetune::FinetuneRecipe plain = finetune::bind_finetune_recipe(load_and_bind(ft.string(), {}), 0);
    for (int64_t seed : p.seeds)
      planned.push_back({ft.string(),
                         {fmt::format("train.seed={}", seed),
                          fmt::format("train.run_dir={}-seed{}", plain.run_dir.string(), seed)}});
  }

  std::vector<std::string> runs;
  for (const auto& [file, overrides] : planned) {
    finetune::FinetuneRecipe f = finetune::bind_finetune_recipe(load_and_bind(file, overrides), 0);
    runs.push_back(f.run_dir.string());
    auto with_overrides = [&overrides = overrides](std::vector<std::string> args) {
      args.insert(args.begin() + 2, overrides.begin(), overrides.end());
      return args;
    };
    std::error_code ec;
    if (!args.dry_run) {
      if (const std::string why = finetune_stale_because(f); !why.empty()) {
        log::warn("{}: {}", file, why);
        set_aside(f.run_dir);
      }
    }
    if (fs::exists(finetune::tuned_checkpoint_path(f.run_dir), ec))
      log::info("{}: fine-tuned already ({})", file, finetune::tuned_checkpoint_path(f.run_dir).string());
    else if (train::latest_checkpoint(f.run_dir))
      stage(with_overrides({"finetune", file, "--resume"}), args);
    else
      stage(with_overrides({"finetune", file}), args);

    const fs::path stamp = f.run_dir / "report.inputs";
    const std::string want = args.dry_run ? "" : hex64(eval_inputs_hash(f));
    std::string have;
    if (fs::exists(stamp, ec) && fs::exists(f.run_dir / "report.json", ec)) have = read_file(stamp);
    if (!want.empty() && have == want + "\n") {
      log::info("{}: report up to date ({})", file, (f.run_dir / "report.json").string());
      continue;
    }
    stage(with_overrides({"eval", file}), args);
    if (!args.dry_run) write_file_atomic(stamp, want + "\n");
  }
  if (!p.report.empty()) {
    std::vector<std::string> report{"report"};
    report.insert(report.end(), runs.begin(), runs.end());
    report.push_back("--out");
    report.push_back(p.report.string());
    stage(report, args);
  }
  log::info("pipeline {} done in {}{}", p.name,
            format_duration(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()),
            p.report.empty() ? "" : fmt::format("; comparison in {}", p.report.string()));
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("run", "Run a pipeline: tokenizer, prepare, pretrain, fine-tunes, evals, report");
  static RunArgs args;
  cmd->add_option("pipeline", args.pipeline, "Pipeline file (YAML)")->required();
  cmd->add_option("--threads", args.threads,
                  "Threads for every stage (default: $PLINTH_THREADS or all cores)")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--dry-run", args.dry_run, "Print the stages without running them");
  cmd->footer(
      "Example:\n"
      "  plinth run recipes/pipelines/quickstart.yaml\n"
      "Stages: tokenizer train, prepare, pretrain (resumed when it has checkpoints), then for each\n"
      "fine-tuning recipe: finetune (skipped when tuned.ckpt exists, resumed when it has checkpoints,\n"
      "redone when its recipe or base changed since: the old run dir is kept as <run_dir>.previous)\n"
      "and eval (skipped when its inputs are unchanged), then plinth report of all fine-tuned runs.\n"
      "With seeds: [1, 2, 3] in the pipeline every fine-tune runs once per seed (train.seed, run dir\n"
      "<run_dir>-seed<N>) and the comparison adds mean +- spread over the seeds per recipe.\n"
      "Run it again after an interruption: finished stages are skipped, interrupted ones resume.");
  cmd->callback([] { run_pipeline(args); });
}

}  // namespace plinth
