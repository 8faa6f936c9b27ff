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
//
// Without pretrain: the fine-tunes start from bases that exist already (a Hugging Face model
// folder, or a finished run): the stages are, per fine-tune, prepare (its data: section, in its
// tokenizer), finetune and eval.
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "child_process.h"
#include "command.h"
#include "data/prepare.h"
#include "finetune/finetune_eval.h"
#include "finetune/finetune_recipe.h"
#include "finetune/finetune_run.h"
#include "model/checkpoint_file.h"
#include "train/checkpoint_files.h"
#include "train/data_parallel.h"
#include "train/finetune_spec.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/shipped.h"

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
  if (root.read("pretrain", pretrain)) p.pretrain = recipe_path("pretrain", pretrain);
  std::vector<std::string> finetunes;
  root.read("finetune", finetunes);
  for (const auto& f : finetunes) p.finetune.push_back(recipe_path("finetune", f));
  if (pretrain.empty() && finetunes.empty())
    root.error("pretrain", "the pipeline has neither pretrain: nor finetune:",
               "name a pretraining recipe, fine-tuning recipes, or both");
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

// Stop signals while a stage runs. The stage runs in a process group of its own, so a
// terminal's Ctrl-C (sent to the foreground group) reaches only this process, which passes it
// on once: the stage sees one SIGINT per Ctrl-C, checkpoints on the first and would take a
// second as "stop now". g_received also remembers a signal that came when no stage was
// running (between the stage's exit and the handlers' removal) so it still stops the pipeline.
std::atomic<pid_t> g_child{0};
volatile std::sig_atomic_t g_received = 0;

void forward_signal(int sig) {
  g_received = sig;
  if (pid_t c = g_child.load()) ::kill(c, sig);
}

std::string self_binary() {
  const fs::path exe = executable_path();
  return exe.empty() ? "plinth" : exe.string();
}

// Runs `plinth <args...>` with `extra_env` added to this process's environment and waits;
// SIGINT/SIGTERM received meanwhile are passed to it. Returns its exit code (128 + N when a
// signal ended it).
int run_stage(const std::vector<std::string>& args, const RunArgs& run,
              const std::vector<std::string>& extra_env) {
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
  const std::vector<char*> argv = c_strings(full);
  // The stage learns its parent's pid: it asks the kernel for SIGTERM when this process dies
  // (plinth.cpp), so a pipeline killed with -9 does not leave its stage training on alone.
  std::vector<std::string> assignments = extra_env;
  assignments.push_back(fmt::format("{}={}", kPipelineParentEnv, ::getpid()));
  std::vector<std::string> env_strings = environment_with(assignments);
  const std::vector<char*> envp = c_strings(env_strings);

  int status = 0, spawned = 0;
  {
    StopSignalForwarding forwarding(forward_signal);
    posix_spawnattr_t attr;
    forwarding.init_spawn_attributes(attr, 0);  // a group of its own (see g_child)
    pid_t pid = 0;
    spawned = ::posix_spawn(&pid, argv[0], nullptr, &attr, argv.data(), envp.data());
    ::posix_spawnattr_destroy(&attr);
    if (spawned == 0) g_child = pid;
    forwarding.unblock();
    if (spawned == 0)
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    g_child = 0;
  }
  if (spawned != 0) throw Failure(fmt::format("cannot start {}: {}", full[0], std::strerror(spawned)));
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

// plinth run launched data-parallel (docs/data-parallel.md): rank 0 runs the pipeline and posts
// each training stage it starts on the job's board as stage_<k>; the other ranks' plinth run
// start the same stages alongside (follow_pipeline) and nothing else. A training stage joins the
// store this process hosts, under keys of its own (PLINTH_DIST_STAGE).
train::JobBoard* g_board = nullptr;
int g_posted = 0;

bool trains(const std::vector<std::string>& args) {
  return args.front() == "pretrain" || args.front() == "finetune";
}

std::vector<std::string> training_stage_env(int k) {
  return {"PLINTH_DIST_STORE=client", fmt::format("PLINTH_DIST_STAGE=stage_{}", k)};
}

// Runs a stage; a stage that failed ends the pipeline with its exit code.
void stage(const std::vector<std::string>& args, const RunArgs& run, std::vector<std::string> env = {}) {
  if (g_board && trains(args) && !run.dry_run) {
    env = training_stage_env(g_posted);
    std::string posted;
    for (const auto& a : args) posted += (posted.empty() ? "" : "\n") + a;
    g_board->post(fmt::format("stage_{}", g_posted++), posted);
  }
  const int code = run_stage(args, run, env);
  if (code == 0 && g_received)
    throw StoppedBySignal(g_received, fmt::format("pipeline stopped by signal {} after plinth {} finished; "
                                                  "run the pipeline again to continue",
                                                  static_cast<int>(g_received), args.front()));
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

// The meta of a run's newest output: `preferred` when it exists, else the newest step checkpoint
// that reads (a damaged one is skipped here; resuming sets it aside). Empty when there is none.
std::map<std::string, std::string> newest_meta(const fs::path& preferred, const fs::path& run_dir,
                                               fs::path& newest) {
  std::vector<fs::path> candidates;
  std::error_code ec;
  if (!preferred.empty() && fs::exists(preferred, ec)) candidates.push_back(preferred);
  const auto steps = train::list_step_checkpoints(run_dir);
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) candidates.push_back(it->second);
  for (const auto& file : candidates) {
    try {
      newest = file;
      return model::read_checkpoint_meta(file);
    } catch (const model::DamagedCheckpoint&) {
    }
  }
  return {};
}

// "" when the recorded value is absent (a run from an older plinth) or equal to `now`.
std::string differs(const std::map<std::string, std::string>& meta, const char* key, const std::string& now,
                    const std::string& what) {
  auto it = meta.find(key);
  return it == meta.end() || it->second == now ? "" : what;
}

// Why a pretraining run no longer belongs to its data, or "" when it does: its newest
// checkpoint records what the shards were made from.
std::string pretrain_stale_because(const Recipe& r, const fs::path& run_dir) {
  fs::path newest;
  const auto meta = newest_meta({}, run_dir, newest);
  return differs(
      meta, "shards_hash", hex64(data::shards_fingerprint(r.data)),
      fmt::format("the shards changed (a corpus or the data section) since {} was made", newest.string()));
}

// What a fine-tune of `f` is made from now (finetune_provenance: the base, the task file, the
// shards), computed once per fine-tune: the staleness check and the eval's inputs both read it.
using Provenance = std::map<std::string, std::string>;

// Why a fine-tuning run's results no longer belong to its recipe, or "" when they do: its
// newest output (tuned.ckpt, else the newest checkpoint) records the recipe it ran and what it
// was made from, compared with `now`.
std::string finetune_stale_because(const finetune::FinetuneRecipe& f, const Provenance& now) {
  fs::path newest;
  const auto meta = newest_meta(finetune::tuned_checkpoint_path(f.run_dir), f.run_dir, newest);
  if (meta.empty()) return "";
  if (auto recipe = meta.find("recipe");
      recipe == meta.end() || recipe->second != recipe::to_yaml(f.recipe.loaded.root))
    return fmt::format("{} was made with another version of the recipe", newest.string());
  for (const auto& [key, what] : std::vector<std::pair<const char*, std::string>>{
           {"base_hash", fmt::format("its base {} changed", f.finetune.base)},
           {"task_hash", fmt::format("the task file {} changed", f.task.path)},
           {"shards_hash", "the shards changed (a corpus or the data section)"}})
    if (const std::string why = differs(meta, key, now.at(key), what); !why.empty())
      return fmt::format("{} since {} was made", why, newest.string());
  return "";
}

// A stale run directory is kept, renamed to <run_dir>.previous, so that starting again neither
// resumes from nor mixes with results made from other inputs. One generation is kept: an older
// .previous is deleted, and the warning says so.
void set_aside(const fs::path& run_dir, const std::string& redo) {
  fs::path previous = run_dir;
  previous += ".previous";
  std::error_code ec;
  if (fs::exists(previous, ec)) {
    fs::remove_all(previous);
    log::warn("deleted {} (set aside by an earlier run) to make room", previous.string());
  }
  fs::rename(run_dir, previous);
  log::warn("{} moved to {}; {} again", run_dir.string(), previous.string(), redo);
}

// The eval of a fine-tuned run is redone only when what it reads changed: the tuned checkpoint,
// the recipe, and the provenance (the base, the task file's test split, the shards' validation
// documents).
uint64_t eval_inputs_hash(const finetune::FinetuneRecipe& f, const Provenance& now) {
  Hasher h;
  h.field(hash_file(finetune::tuned_checkpoint_path(f.run_dir)));
  h.field(recipe::to_yaml(f.recipe.loaded.root));
  for (const char* key : {"base_hash", "task_hash", "shards_hash"}) h.field(now.at(key));
  return h.digest();
}

void run_pipeline(const RunArgs& args) {
  const Pipeline p = load_pipeline(args.pipeline);
  const auto start = std::chrono::steady_clock::now();
  const std::string pre = p.pretrain.string();
  if (p.pretrain.empty())
    log::info("pipeline {}: {} fine-tune(s) of existing bases", p.name, p.finetune.size());
  else
    log::info("pipeline {}: pretrain {}, {} fine-tune(s)", p.name, pre, p.finetune.size());

  if (!p.pretrain.empty()) {
    stage({"tokenizer", "train", pre}, args);
    stage({"prepare", pre}, args);
    Recipe pre_recipe = load_and_bind(pre, {});
    const fs::path pre_run = eval::recipe_run_dir(pre_recipe.loaded.root, pre_recipe.name);
    if (!args.dry_run)
      if (const std::string why = pretrain_stale_because(pre_recipe, pre_run); !why.empty()) {
        log::warn("{}: {}", pre, why);
        set_aside(pre_run, "pretraining");
      }
    if (train::latest_checkpoint(pre_run))
      stage({"pretrain", pre, "--resume"}, args);
    else
      stage({"pretrain", pre}, args);
  } else {
    // No pretraining stage made the shards: each fine-tune's data: section is prepared (in its own
    // tokenizer; prepare skips domains that are up to date).
    std::set<fs::path> prepared;
    for (const auto& ft : p.finetune)
      if (prepared.insert(ft).second) stage({"prepare", ft.string()}, args);
  }

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
    Provenance now;
    if (!args.dry_run) {
      now = finetune::finetune_provenance(f, train::resolve_base_checkpoint(f.finetune.base));
      if (const std::string why = finetune_stale_because(f, now); !why.empty()) {
        log::warn("{}: {}", file, why);
        set_aside(f.run_dir, "fine-tuning");
      }
    }
    if (fs::exists(finetune::tuned_checkpoint_path(f.run_dir), ec))
      log::info("{}: fine-tuned already ({})", file, finetune::tuned_checkpoint_path(f.run_dir).string());
    else if (train::latest_checkpoint(f.run_dir))
      stage(with_overrides({"finetune", file, "--resume"}), args);
    else
      stage(with_overrides({"finetune", file}), args);

    const fs::path stamp = f.run_dir / "report.inputs";
    const std::string want = args.dry_run ? "" : hex64(eval_inputs_hash(f, now));
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

// A rank other than 0 of a data-parallel plinth run: the training stages rank 0 posts, until it
// posts the pipeline's end ("end:<exit code>").
void follow_pipeline(const train::DistEnv& env, const RunArgs& run) {
  log::verbosity() = 0;  // rank 0 reports the pipeline
  train::JobBoard board(env);
  for (int k = 0;; ++k) {
    const std::string posted = board.wait_for(fmt::format("stage_{}", k));
    if (posted.rfind("end:", 0) == 0) {
      board.post(fmt::format("ack_{}", env.rank), "");
      const int code = std::atoi(posted.c_str() + 4);
      if (code != 0)
        throw Failure(
            fmt::format("data-parallel rank {}: rank 0's pipeline stopped (exit {})", env.rank, code));
      return;
    }
    std::vector<std::string> args;
    for (size_t at = 0; at <= posted.size();) {
      const size_t end = std::min(posted.find('\n', at), posted.size());
      args.push_back(posted.substr(at, end - at));
      at = end + 1;
    }
    stage(args, run, training_stage_env(k));
  }
}

// Rank 0 of a data-parallel plinth run: the pipeline, then its end posted for the other ranks.
void lead_pipeline(const train::DistEnv& env, const RunArgs& run) {
  train::JobBoard board(env);
  g_board = &board;
  auto end = [&](int code) {
    g_board = nullptr;
    board.post(fmt::format("stage_{}", g_posted), fmt::format("end:{}", code));
  };
  try {
    run_pipeline(run);
  } catch (const StoppedBySignal& e) {
    end(e.exit_code());
    throw;
  } catch (const BadInput&) {
    end(2);
    throw;
  } catch (...) {
    end(1);
    throw;
  }
  end(0);
  // The store lives in this process: the other ranks read the end before it goes (those still
  // there: a few seconds at most).
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (int r = 1; r < env.world_size; ++r)
    while (!board.has(fmt::format("ack_{}", r)) && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

}  // namespace

void stop_with_pipeline_parent() {
  const char* value = std::getenv(kPipelineParentEnv);
  if (!value) return;
  const pid_t parent = static_cast<pid_t>(std::atol(value));
  ::unsetenv(kPipelineParentEnv);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  // The parent may have died before the request was in place: then nobody will send it.
  if (::getppid() != parent) ::raise(SIGTERM);
}

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
      "Run it again after an interruption: finished stages are skipped, interrupted ones resume.\n"
      "Without pretrain: the fine-tunes start from existing bases (e.g. a Hugging Face model folder):\n"
      "  plinth run recipes/pipelines/hf-model.yaml      # prepare, finetune, eval");
  cmd->callback([] {
    const train::DistEnv env = train::read_dist_env();
    if (!env.distributed() || args.dry_run)
      run_pipeline(args);
    else if (env.rank == 0)
      lead_pipeline(env, args);
    else
      follow_pipeline(env, args);
  });
}

}  // namespace plinth
