// The stages plinth run and plinth sweep share: starting a stage as a child process of this
// binary, and the fine-tunes with their evals, each skipped, resumed or redone as its outputs
// say (pipeline_stages.cpp has the rules).
#pragma once

#include <filesystem>
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
// Fine-tunes and evaluates each, in order: finished fine-tunes and up-to-date reports are
// skipped, interrupted fine-tunes resume, stale ones are set aside and redone. Returns each
// run's directory, in order.
std::vector<std::string> run_finetunes(const std::vector<PlannedFinetune>& planned, const StageOptions& run);

}  // namespace plinth
