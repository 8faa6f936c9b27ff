#include "train/checkpoint_files.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "util/error.h"

namespace plinth::train {

namespace fs = std::filesystem;

fs::path checkpoint_dir(const fs::path& run_dir) {
  return run_dir / "checkpoints";
}

fs::path step_checkpoint_path(const fs::path& run_dir, int64_t step) {
  return checkpoint_dir(run_dir) / fmt::format("step-{:06}.ckpt", step);
}

fs::path best_checkpoint_path(const fs::path& run_dir) {
  return checkpoint_dir(run_dir) / "best.ckpt";
}

std::vector<std::pair<int64_t, fs::path>> list_step_checkpoints(const fs::path& run_dir) {
  std::vector<std::pair<int64_t, fs::path>> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(checkpoint_dir(run_dir), ec)) {
    const std::string name = entry.path().filename().string();
    // step-<digits>.ckpt exactly; temporary files of an interrupted write do not count.
    if (name.size() <= 10 || name.compare(0, 5, "step-") != 0 ||
        name.compare(name.size() - 5, 5, ".ckpt") != 0)
      continue;
    const std::string digits = name.substr(5, name.size() - 10);
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    out.emplace_back(std::strtoll(digits.c_str(), nullptr, 10), entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<fs::path> latest_checkpoint(const fs::path& run_dir) {
  auto all = list_step_checkpoints(run_dir);
  if (all.empty()) return std::nullopt;
  return all.back().second;
}

void refuse_existing_run(const fs::path& run_dir) {
  if (auto existing = latest_checkpoint(run_dir))
    throw BadInput(
        fmt::format("{} already holds a run (checkpoint {})", run_dir.string(), existing->string()),
        fmt::format("continue it with --resume, or choose a new train.run_dir (or delete {})",
                    run_dir.string()));
}

void prune_checkpoints(const fs::path& run_dir, int keep_last, int64_t protected_step) {
  if (keep_last <= 0) return;
  auto all = list_step_checkpoints(run_dir);
  const size_t keep = static_cast<size_t>(keep_last);
  for (size_t i = 0; i + keep < all.size(); ++i) {
    if (all[i].first == protected_step) continue;
    std::error_code ec;
    fs::remove(all[i].second, ec);
    if (ec)
      throw Failure(fmt::format("cannot delete old checkpoint {}: {}", all[i].second.string(), ec.message()));
  }
}

void link_best_checkpoint(const fs::path& run_dir, const fs::path& step_file) {
  const fs::path best = best_checkpoint_path(run_dir);
  fs::path temp = best;
  temp += fmt::format(".tmp.{}", ::getpid());
  std::error_code ec;
  fs::remove(temp, ec);
  fs::create_hard_link(step_file, temp, ec);
  if (ec) {
    ec.clear();
    fs::copy_file(step_file, temp, fs::copy_options::overwrite_existing, ec);
    if (ec)
      throw Failure(fmt::format("cannot copy {} to {}: {}", step_file.string(), temp.string(), ec.message()));
  }
  fs::rename(temp, best, ec);
  if (ec)
    throw Failure(fmt::format("cannot rename {} to {}: {}", temp.string(), best.string(), ec.message()));
}

}  // namespace plinth::train
