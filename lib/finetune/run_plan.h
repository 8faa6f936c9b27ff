// What `plinth run` and `plinth sweep` plan before anything runs: the pipeline file read and
// checked (every problem at once, each naming the file and the key), and the fine-tunes it asks
// for, each a recipe with the overrides of one of its runs (a seed's, a sweep point's).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "recipe/sweep_grid.h"

namespace plinth::finetune {

// A fine-tuning recipe and the overrides of one of its runs (a seed's, a sweep point's; each
// sets train.run_dir so runs do not share a directory).
struct PlannedFinetune {
  std::string file;
  std::vector<std::string> overrides;
  std::string sweep_label;  // a sweep point's label (sweep_plan.h), "" for any other run
};

// An eval other than the run's own report: more overrides (e.g. a smaller sample), written to
// <run_dir>/<subdir> (plinth eval --out) instead of the run directory. The overrides may set only
// eval.* keys, so that what the fine-tune was made from stays the same.
struct EvalVariant {
  std::vector<std::string> overrides;
  std::string subdir;
};

// A pipeline file (`plinth run`, recipes/pipelines/):
//   name: quickstart
//   pretrain: ../pretrain/quickstart.yaml     # paths of recipes are relative to this file
//   finetune: [../finetune/full.yaml, ../finetune/lora.yaml]
//   seeds: [1, 2, 3]                          # optional: every fine-tune once per seed
//   report: runs/quickstart-comparison        # relative to the working directory
//   sweep: {grid: {train.lr: [2e-4, 5e-4]}, screen: 25%}   # optional, not with seeds
struct Pipeline {
  std::string name;  // name:, else the file's stem
  std::filesystem::path pretrain;
  std::vector<std::filesystem::path> finetune;
  std::vector<int64_t> seeds;  // empty: each fine-tune once, with its recipe's own train.seed
  recipe::SweepGrid sweep;     // empty: no sweep; else every fine-tune at every grid point
  double screen = 0;           // sweep: {screen: F}: sweep_plan.h
  std::filesystem::path report;
};

// Reads and checks a pipeline file. BadInput naming the file and the key: an unknown key, a
// recipe that does not exist, neither pretrain: nor finetune:, a seed that is no integer >= 0 or
// is listed twice, seeds: with sweep:, sweep: or report: without fine-tunes, a bad grid.
Pipeline load_pipeline(const std::string& file);

// The fine-tunes of a pipeline without a sweep (a sweep's are plan_sweep's): each fine-tune once,
// or once per seed (train.seed=N, train.run_dir=<its run_dir>-seed<N>).
std::vector<PlannedFinetune> plan_finetunes(const Pipeline& p);

}  // namespace plinth::finetune
