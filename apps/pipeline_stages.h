// The stages plinth run and plinth sweep share: starting a stage as a child process of this
// binary, and the fine-tunes with their evals, each skipped, resumed or redone as its outputs
// say (pipeline_stages.cpp has the rules).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "recipe/recipe.h"
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

// Why a pretraining run no longer belongs to its data (its shards changed), or "".
std::string pretrain_stale_because(const Recipe& r, const std::filesystem::path& run_dir);
// Renames a stale run directory to <run_dir>.previous (one generation kept) and warns that
// `redo` happens again.
void set_aside(const std::filesystem::path& run_dir, const std::string& redo);

// A fine-tuning recipe and the overrides of one of its runs (a seed's, a sweep point's; each
// sets train.run_dir so runs do not share a directory).
struct PlannedFinetune {
  std::string file;
  std::vector<std::string> overrides;
};
// A fine-tune's run directory and what it is made from (finetune_provenance: the hashes of the
// base, the task file and the shards; empty on a dry run). train_finetune computes them once and
// its evals reuse them: hashing the base and the shards is the costly part of a skipped stage.
struct TrainedFinetune {
  std::string run_dir;
  std::map<std::string, std::string> provenance;
};
// Fine-tunes one, unless it is finished: an interrupted fine-tune resumes, a stale one (another
// recipe, base, task file or shards than its newest output records) is set aside and redone.
TrainedFinetune train_finetune(const PlannedFinetune& planned, const StageOptions& run);

// An eval other than the run's own report: more overrides (e.g. a smaller sample), written to
// <run_dir>/<subdir> (plinth eval --out) instead of the run directory. The overrides may set only
// eval.* keys, so that what the fine-tune was made from stays `trained.provenance`.
struct EvalVariant {
  std::vector<std::string> overrides;
  std::string subdir;
};
// Evaluates a fine-tuned run (plinth eval) unless its report is up to date: the stamp
// report.inputs beside report.json holds the hash of what the eval reads (the tuned checkpoint,
// the recipe with every override, the base, the task file, the shards). `trained`: what
// train_finetune returned for `planned`. Returns the report's directory.
std::filesystem::path eval_finetune(const PlannedFinetune& planned, const TrainedFinetune& trained,
                                    const StageOptions& run, const EvalVariant& variant = {});

// train_finetune then eval_finetune for each, in order. Returns each run's directory.
std::vector<std::string> run_finetunes(const std::vector<PlannedFinetune>& planned, const StageOptions& run);

}  // namespace plinth
