// The files a run keeps in <run_dir>/checkpoints/: step-000123.ckpt after step 123 (zero
// padded, so they sort by name), the newest keep_last of them, and best.ckpt, a hard link to
// the step checkpoint with the lowest mean validation loss (a copy where links fail). The
// step file best.ckpt points to is never deleted, so best.ckpt always has a named origin.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <utility>
#include <vector>

namespace plinth::train {

std::filesystem::path checkpoint_dir(const std::filesystem::path& run_dir);
std::filesystem::path step_checkpoint_path(const std::filesystem::path& run_dir, int64_t step);
std::filesystem::path best_checkpoint_path(const std::filesystem::path& run_dir);

// (step, path) of every step-N.ckpt, ascending by step.
std::vector<std::pair<int64_t, std::filesystem::path>> list_step_checkpoints(
    const std::filesystem::path& run_dir);
// The step checkpoint with the highest step; nullopt when there is none.
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& run_dir);

// BadInput when `run_dir` already holds a step checkpoint: a new run would overwrite it (the
// hint: --resume, or another run directory). Trainers call it first, before costly set-up.
void refuse_existing_run(const std::filesystem::path& run_dir);

// Deletes step checkpoints older than the newest keep_last (0 = keep all), except
// `protected_step` (the best; -1 = none).
void prune_checkpoints(const std::filesystem::path& run_dir, int keep_last, int64_t protected_step);

// Points best.ckpt at `step_file` (replacing it atomically).
void link_best_checkpoint(const std::filesystem::path& run_dir, const std::filesystem::path& step_file);

}  // namespace plinth::train
