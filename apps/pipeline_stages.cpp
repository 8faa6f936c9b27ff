// The stages of plinth run and plinth sweep: each a child process of this binary (the same
// subcommand a user would run), with stop signals passed on, and the bookkeeping that lets a
// rerun skip finished work: a fine-tune with tuned.ckpt is done, one with checkpoints resumes,
// one made from another version of its recipe, base, task file or shards is set aside
// (<run_dir>.previous) and redone; an eval is redone only when the hash of what it reads
// (report.inputs beside report.json) changed. Under a data-parallel plinth run, rank 0 posts
// each training stage on the job's board for the other ranks (docs/data-parallel.md).
#include "pipeline_stages.h"

#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <map>
#include <stdexcept>

#include "child_process.h"
#include "command.h"
#include "data/prepare.h"
#include "finetune/finetune_eval.h"
#include "finetune/finetune_recipe.h"
#include "finetune/finetune_run.h"
#include "model/checkpoint_file.h"
#include "recipe/recipe_writer.h"
#include "train/checkpoint_files.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/shipped.h"

namespace plinth {

namespace {

namespace fs = std::filesystem;

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
int run_stage(const std::vector<std::string>& args, const StageOptions& run,
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

}  // namespace

std::vector<std::string> training_stage_env(int k) {
  return {"PLINTH_DIST_STORE=client", fmt::format("PLINTH_DIST_STAGE=stage_{}", k)};
}

// Runs a stage; a stage that failed ends the pipeline with its exit code.
void stage(const std::vector<std::string>& args, const StageOptions& run, std::vector<std::string> env) {
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

void post_training_stages(train::JobBoard* board) {
  g_board = board;
}

int posted_stages() {
  return g_posted;
}

namespace {

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

}  // namespace

// Why a pretraining run no longer belongs to its data, or "" when it does: its newest
// checkpoint records what the shards were made from.
std::string pretrain_stale_because(const Recipe& r, const fs::path& run_dir) {
  fs::path newest;
  const auto meta = newest_meta({}, run_dir, newest);
  return differs(
      meta, "shards_hash", hex64(data::shards_fingerprint(r.data)),
      fmt::format("the shards changed (a corpus or the data section) since {} was made", newest.string()));
}

namespace {

// What a fine-tune of `f` is made from now (finetune_provenance: the base, the task file, the
// shards), computed once per fine-tune: the staleness check and the eval's inputs both read it.
using Provenance = std::map<std::string, std::string>;

// The recipe as training reads it, as YAML: its eval:, gate: and suites: sections say only how
// the tuned model is scored, so a change there redoes the eval (eval_inputs_hash), not the
// fine-tune.
std::string training_part(ConfigNode root) {
  for (const char* key : {"eval", "gate", "suites"}) root.erase(key);
  return recipe::to_yaml(root);
}

// The same of a recipe stored in a checkpoint's metadata; "" when it does not parse.
std::string training_part(const std::string& stored_yaml) {
  try {
    return training_part(recipe::parse_yaml(stored_yaml, "checkpoint metadata"));
  } catch (const BadInput&) {
    return "";
  }
}

// Why a fine-tuning run's results no longer belong to its recipe, or "" when they do: its
// newest output (tuned.ckpt, else the newest checkpoint) records the recipe it ran and what it
// was made from, compared with `now`.
std::string finetune_stale_because(const finetune::FinetuneRecipe& f, const Provenance& now) {
  fs::path newest;
  const auto meta = newest_meta(finetune::tuned_checkpoint_path(f.run_dir), f.run_dir, newest);
  if (meta.empty()) return "";
  if (auto recipe = meta.find("recipe");
      recipe == meta.end() || training_part(recipe->second) != training_part(f.recipe.loaded.root))
    return fmt::format("{} was made with another version of the recipe", newest.string());
  for (const auto& [key, what] : std::vector<std::pair<const char*, std::string>>{
           {"base_hash", fmt::format("its base {} changed", f.finetune.base)},
           {"task_hash", fmt::format("the task file {} changed", f.task.path)},
           {"shards_hash", "the shards changed (a corpus or the data section)"}})
    if (const std::string why = differs(meta, key, now.at(key), what); !why.empty())
      return fmt::format("{} since {} was made", why, newest.string());
  return "";
}

}  // namespace

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

namespace {

// The eval of a fine-tuned run is redone only when what it reads changed: the tuned checkpoint,
// the recipe, the provenance (the base, the task file's test split, the shards' validation
// documents) and the capability suites' files (a missing one hashes as absent: the eval stage
// then says what is wrong).
uint64_t eval_inputs_hash(const finetune::FinetuneRecipe& f, const Provenance& now) {
  Hasher h;
  h.field(hash_file(finetune::tuned_checkpoint_path(f.run_dir)));
  h.field(recipe::to_yaml(f.recipe.loaded.root));
  for (const char* key : {"base_hash", "task_hash", "shards_hash"}) h.field(now.at(key));
  for (const eval::SuiteSpec& suite : f.eval.suites) {
    std::error_code ec;
    h.field(fs::is_regular_file(suite.path, ec) ? hex64(hash_file(suite.path)) : std::string("absent"));
  }
  return h.digest();
}

// A planned fine-tune bound with its overrides and `extra` ones.
finetune::FinetuneRecipe bind_planned(const PlannedFinetune& planned, const std::vector<std::string>& extra) {
  std::vector<std::string> overrides = planned.overrides;
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return finetune::bind_finetune_recipe(load_and_bind(planned.file, overrides), 0);
}

// `plinth <verb> <file> <overrides...> <rest...>`.
std::vector<std::string> stage_args(const char* verb, const PlannedFinetune& planned,
                                    const std::vector<std::string>& extra, std::vector<std::string> rest) {
  std::vector<std::string> a{verb, planned.file};
  a.insert(a.end(), planned.overrides.begin(), planned.overrides.end());
  a.insert(a.end(), extra.begin(), extra.end());
  a.insert(a.end(), rest.begin(), rest.end());
  return a;
}

}  // namespace

TrainedFinetune train_finetune(const PlannedFinetune& planned, const StageOptions& args) {
  const finetune::FinetuneRecipe f = bind_planned(planned, {});
  const fs::path& run_dir = f.run_dir;
  TrainedFinetune trained{run_dir.string(), {}};
  if (!args.dry_run) {
    trained.provenance = finetune::finetune_provenance(f, finetune::resolve_base_checkpoint(f.finetune.base));
    if (const std::string why = finetune_stale_because(f, trained.provenance); !why.empty()) {
      log::warn("{}: {}", planned.file, why);
      set_aside(run_dir, "fine-tuning");
    }
  }
  std::error_code ec;
  if (fs::exists(finetune::tuned_checkpoint_path(run_dir), ec))
    log::info("{}: fine-tuned already ({})", planned.file, finetune::tuned_checkpoint_path(run_dir).string());
  else if (train::latest_checkpoint(run_dir))
    stage(stage_args("finetune", planned, {}, {"--resume"}), args);
  else
    stage(stage_args("finetune", planned, {}, {}), args);
  return trained;
}

fs::path eval_finetune(const PlannedFinetune& planned, const TrainedFinetune& trained,
                       const StageOptions& args, const EvalVariant& variant) {
  for (const auto& o : variant.overrides)
    if (o.rfind("eval.", 0) != 0)
      throw std::logic_error("eval_finetune: an eval variant may override eval.* keys only, not " + o);
  const finetune::FinetuneRecipe f = bind_planned(planned, variant.overrides);
  const fs::path out = variant.subdir.empty() ? f.run_dir : f.run_dir / variant.subdir;
  const fs::path stamp = out / "report.inputs";
  const std::string want = args.dry_run ? "" : hex64(eval_inputs_hash(f, trained.provenance));
  std::string have;
  std::error_code ec;
  if (fs::exists(stamp, ec) && fs::exists(out / "report.json", ec)) have = read_file(stamp);
  if (!want.empty() && have == want + "\n") {
    log::info("{}: report up to date ({})", planned.file, (out / "report.json").string());
    return out;
  }
  std::vector<std::string> rest;
  if (!variant.subdir.empty()) rest = {"--out", out.string()};
  stage(stage_args("eval", planned, variant.overrides, rest), args);
  if (!args.dry_run) write_file_atomic(stamp, want + "\n");
  return out;
}

std::vector<std::string> run_finetunes(const std::vector<PlannedFinetune>& planned,
                                       const StageOptions& args) {
  std::vector<std::string> runs;
  for (const auto& p : planned) {
    const TrainedFinetune trained = train_finetune(p, args);
    eval_finetune(p, trained, args);
    runs.push_back(trained.run_dir);
  }
  return runs;
}

}  // namespace plinth
