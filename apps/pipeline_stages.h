// The stages plinth run and plinth sweep share: starting a stage as a child process of this
// binary, and the fine-tunes with their evals, each skipped, resumed or redone as its outputs
// say (the rules: finetune/run_state.h; the plans: finetune/run_plan.h, sweep_plan.h).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "finetune/run_plan.h"
#include "finetune/run_state.h"
#include "train/data_parallel.h"

namespace plinth {

struct StageOptions {
  int threads = 0;       // passed to every stage but report (0: the stage's default)
  bool dry_run = false;  // print the stages without running them
};

// Runs `plinth <args...>` and waits, passing SIGINT / SIGTERM on; a stage that failed ends the
// caller with its exit code (BadInput for 2, StoppedBySignal for 128 + N, Failure otherwise).
// `env`: NAME=value assignments added to this process's environment.
void stage(const std::vector<std::string>& args, const StageOptions& run, std::vector<std::string> env = {});

// A data-parallel plinth run: rank 0 posts each training stage it starts on `board` (null:
// stop posting), the other ranks run stage k with training_stage_env(k).
void post_training_stages(train::JobBoard* board);
int posted_stages();  // how many were posted so far
std::vector<std::string> training_stage_env(int k);

// Renames a stale run directory to <run_dir>.previous (one generation kept) and warns that
// `redo` happens again.
void set_aside(const std::filesystem::path& run_dir, const std::string& redo);

using finetune::EvalVariant;
using finetune::PlannedFinetune;

// A fine-tune's run directory and what it is made from (finetune_provenance: the hashes of the
// base, the task file and the shards; empty on a dry run). train_finetune computes them once and
// its evals reuse them: hashing the base and the shards is the costly part of a skipped stage.
struct TrainedFinetune {
  std::string run_dir;
  finetune::Provenance provenance;
};
// Fine-tunes one, unless it is finished: an interrupted fine-tune resumes, a stale one (another
// recipe, base, task file or shards than its newest output records) is set aside and redone. A
// sweep point (planned.sweep_label) gets its sweep_point.json before it trains.
TrainedFinetune train_finetune(const PlannedFinetune& planned, const StageOptions& run);

// Evaluates a fine-tuned run (plinth eval), or with a variant (its overrides may set only eval.*
// keys, so that what the fine-tune was made from stays `trained.provenance`), unless its report
// is up to date: the stamp
// report.inputs beside report.json holds the hash of what the eval reads (the tuned checkpoint,
// the recipe with every override, the base, the task file, the shards). `trained`: what
// train_finetune returned for `planned`. Returns the report's directory.
std::filesystem::path eval_finetune(const PlannedFinetune& planned, const TrainedFinetune& trained,
                                    const StageOptions& run, const EvalVariant& variant = {});

// train_finetune then eval_finetune for each, in order. Returns each run's directory.
std::vector<std::string> run_finetunes(const std::vector<PlannedFinetune>& planned, const StageOptions& run);

}  // namespace plinth
