// The stages of plinth run and plinth sweep: each a child process of this binary (the same
// subcommand a user would run), with stop signals passed on, and the bookkeeping that lets a
// rerun skip finished work: a fine-tune with tuned.ckpt is done, one with checkpoints resumes,
// one made from another version of its recipe, base, task file or shards is set aside
// (<run_dir>.previous) and redone; an eval is redone only when the hash of what it reads
// (report.inputs beside report.json) changed. The rules are the library's (finetune/run_state.h);
// this file runs the processes and moves the directories. Under a data-parallel plinth run, rank 0 posts
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
#include <stdexcept>

#include "child_process.h"
#include "command.h"
#include "finetune/finetune_recipe.h"
#include "finetune/finetune_run.h"
#include "finetune/sweep_plan.h"
#include "train/checkpoint_files.h"
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
    if (const std::string why = finetune::finetune_stale_because(f, trained.provenance); !why.empty()) {
      log::warn("{}: {}", planned.file, why);
      set_aside(run_dir, "fine-tuning");
    }
  }
  const finetune::FinetuneNext next = finetune::finetune_next(run_dir);
  if (next != finetune::FinetuneNext::done && !planned.sweep_label.empty() && !args.dry_run)
    finetune::write_sweep_point(run_dir, {planned.file, planned.sweep_label});
  if (next == finetune::FinetuneNext::done)
    log::info("{}: fine-tuned already ({})", planned.file, finetune::tuned_checkpoint_path(run_dir).string());
  else if (next == finetune::FinetuneNext::resume)
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
  const std::string want = args.dry_run ? "" : hex64(finetune::eval_inputs_hash(f, trained.provenance));
  if (finetune::report_up_to_date(out, want)) {
    log::info("{}: report up to date ({})", planned.file, (out / "report.json").string());
    return out;
  }
  std::vector<std::string> rest;
  if (!variant.subdir.empty()) rest = {"--out", out.string()};
  stage(stage_args("eval", planned, variant.overrides, rest), args);
  if (!args.dry_run) finetune::stamp_report(out, want);
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
