// A planned sweep run (finetune/sweep_plan.h has the plan): its points fine-tuned and evaluated
// as child processes, and their comparison with the learning/forgetting frontier once they ran.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "finetune/sweep_plan.h"
#include "pipeline_stages.h"

namespace plinth {

// Fine-tunes every point, then evaluates them: each in full, or with a screen, first each on
// the screen's sample and then in full only those no other point dominates beyond doubt there
// (plan.screened_out says which were dropped). Returns each point's report directory: the run
// directory, or <run_dir>/screen for a dropped point.
std::vector<std::string> run_sweep(finetune::SweepPlan& plan, const StageOptions& run);

// Reads every point's report.json (the screen's for a dropped point) and writes
// <out>/comparison.md and comparison.svg with the frontier marked (eval/sweep_report.h).
void write_sweep_report(const finetune::SweepPlan& plan, const std::filesystem::path& out);

}  // namespace plinth
