// plinth run PIPELINE: the whole life of the quickstart (or any pipeline) in one command:
// tokenizer, prepare, cloze suites, pretrain, then each fine-tune and its eval, then the
// comparison report.
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
//   sweep: {grid: {train.lr: [2e-4, 5e-4]}}   # optional, not with seeds: every fine-tune at every
//                                             # grid point, as plinth sweep; each fine-tune's
//                                             # frontier in <run_dir>-sweep/comparison.md;
//                                             # screen: 25% as plinth sweep --screen
//
// Without pretrain: the fine-tunes start from bases that exist already (a Hugging Face model
// folder, or a finished run): the stages are, per fine-tune, prepare (its data: section, in its
// tokenizer), finetune and eval.
#include <fmt/format.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

#include "command.h"
#include "eval/evaluator.h"
#include "finetune/finetune_recipe.h"
#include "finetune/finetune_spec.h"
#include "finetune/run_plan.h"
#include "pipeline_stages.h"
#include "sweep_run.h"
#include "train/checkpoint_files.h"
#include "train/data_parallel.h"
#include "util/error.h"
#include "util/log.h"
#include "util/progress.h"

namespace plinth {

namespace {

namespace fs = std::filesystem;

struct RunArgs : StageOptions {
  std::string pipeline;
};

// Whether a recipe asks for cloze suites (its top-level suites: section, plinth suite make).
bool has_suites_section(const std::string& recipe_file) {
  return recipe::load_recipe(recipe_file).root.find("suites") != nullptr;
}

void run_pipeline(const RunArgs& args) {
  const finetune::Pipeline p = finetune::load_pipeline(args.pipeline);
  // A sweep's grid is checked against each fine-tuning recipe before any stage runs.
  std::vector<finetune::SweepPlan> sweeps;
  if (!p.sweep.empty())
    for (const auto& ft : p.finetune) sweeps.push_back(finetune::plan_sweep(ft.string(), p.sweep, p.screen));
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
    // Capability suites from the domains' validation documents, when the recipe asks for them
    // (its suites: section): the fine-tunes' eval.suites score them.
    if (has_suites_section(pre)) stage({"suite", "make", pre}, args);
    const fs::path pre_run = eval::recipe_run_dir(pre_recipe.loaded.root, pre_recipe.name);
    if (!args.dry_run)
      if (const std::string why = finetune::pretrain_stale_because(pre_recipe, pre_run); !why.empty()) {
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
    for (const auto& ft : p.finetune) {
      if (!prepared.insert(ft).second) continue;
      stage({"prepare", ft.string()}, args);
      if (has_suites_section(ft.string())) stage({"suite", "make", ft.string()}, args);
    }
  }

  // Each fine-tune once, once per seed (train.seed and the run directory overridden), or once
  // per grid point of the sweep (finetune/sweep_plan.h).
  std::vector<std::string> runs = run_finetunes(finetune::plan_finetunes(p), args);
  for (finetune::SweepPlan& plan : sweeps) {
    const std::vector<std::string> points = run_sweep(plan, args);
    runs.insert(runs.end(), points.begin(), points.end());
  }
  if (!args.dry_run)
    for (const finetune::SweepPlan& plan : sweeps)
      write_sweep_report(plan, finetune::default_sweep_out(plan));
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
  post_training_stages(&board);
  auto end = [&](int code) {
    post_training_stages(nullptr);
    board.post(fmt::format("stage_{}", posted_stages()), fmt::format("end:{}", code));
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
      "Stages: tokenizer train, prepare, suite make (when the pretraining recipe has a suites:\n"
      "section), pretrain (resumed when it has checkpoints), then for each\n"
      "fine-tuning recipe: finetune (skipped when tuned.ckpt exists, resumed when it has checkpoints,\n"
      "redone when its recipe or base changed since: the old run dir is kept as <run_dir>.previous)\n"
      "and eval (skipped when its inputs are unchanged), then plinth report of all fine-tuned runs.\n"
      "With seeds: [1, 2, 3] in the pipeline every fine-tune runs once per seed (train.seed, run dir\n"
      "<run_dir>-seed<N>) and the comparison adds mean +- spread over the seeds per recipe.\n"
      "With sweep: {grid: {train.lr: [2e-4, 5e-4]}} every fine-tune runs at every grid point, as\n"
      "plinth sweep does, and <run_dir>-sweep/comparison.md marks the learning/forgetting frontier;\n"
      "sweep: {screen: 25%} screens the points first, as plinth sweep --screen.\n"
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
