#include "finetune/run_state.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "data/prepare.h"
#include "eval/eval_spec.h"
#include "finetune/finetune_spec.h"
#include "model/checkpoint_file.h"
#include "model/hf_import.h"
#include "recipe/recipe_loader.h"
#include "recipe/recipe_writer.h"
#include "train/checkpoint_files.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"

namespace plinth::finetune {

namespace fs = std::filesystem;

NewestOutput newest_output(const fs::path& preferred, const fs::path& run_dir) {
  std::vector<fs::path> candidates;
  std::error_code ec;
  if (!preferred.empty() && fs::exists(preferred, ec)) candidates.push_back(preferred);
  const auto steps = train::list_step_checkpoints(run_dir);
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) candidates.push_back(it->second);
  for (const auto& file : candidates) {
    try {
      return {file, model::read_checkpoint_meta(file)};
    } catch (const model::DamagedCheckpoint&) {
    }
  }
  return {};
}

std::string training_part(ConfigNode root) {
  for (const char* key : {"eval", "gate", "suites"}) root.erase(key);
  return recipe::to_yaml(root);
}

std::string training_part(const std::string& stored_yaml) {
  try {
    return training_part(recipe::parse_yaml(stored_yaml, "checkpoint metadata"));
  } catch (const BadInput&) {
    return "";
  }
}

namespace {

// "" when the recorded value is absent (a run from an older plinth) or equal to `now`.
std::string differs(const Provenance& meta, const std::string& key, const std::string& now,
                    const std::string& what) {
  auto it = meta.find(key);
  return it == meta.end() || it->second == now ? "" : what;
}

}  // namespace

std::string finetune_stale_because(const NewestOutput& newest, const std::string& recipe_now,
                                   const Provenance& now, const std::string& base, const std::string& task) {
  const Provenance& meta = newest.meta;
  if (meta.empty()) return "";
  if (auto recipe = meta.find("recipe"); recipe == meta.end() || training_part(recipe->second) != recipe_now)
    return fmt::format("{} was made with another version of the recipe", newest.file.string());
  for (const auto& [key, what] : std::vector<std::pair<std::string, std::string>>{
           {"base_hash", fmt::format("its base {} changed", base)},
           {"task_hash", fmt::format("the task file {} changed", task)},
           {"shards_hash", "the shards changed (a corpus or the data section)"}}) {
    auto value = now.find(key);
    if (value == now.end()) continue;
    if (const std::string why = differs(meta, key, value->second, what); !why.empty())
      return fmt::format("{} since {} was made", why, newest.file.string());
  }
  return "";
}

std::string finetune_stale_because(const FinetuneRecipe& f, const Provenance& now) {
  return finetune_stale_because(newest_output(tuned_checkpoint_path(f.run_dir), f.run_dir),
                                training_part(f.recipe.loaded.root), now, f.finetune.base, f.task.path);
}

std::string pretrain_stale_because(const NewestOutput& newest, const std::string& shards_now) {
  return differs(newest.meta, "shards_hash", shards_now,
                 fmt::format("the shards changed (a corpus or the data section) since {} was made",
                             newest.file.string()));
}

std::string pretrain_stale_because(const Recipe& r, const fs::path& run_dir) {
  return pretrain_stale_because(newest_output({}, run_dir), hex64(data::shards_fingerprint(r.data)));
}

FinetuneNext finetune_next(const fs::path& run_dir) {
  std::error_code ec;
  if (fs::exists(tuned_checkpoint_path(run_dir), ec)) return FinetuneNext::done;
  if (train::latest_checkpoint(run_dir)) return FinetuneNext::resume;
  return FinetuneNext::start;
}

uint64_t eval_inputs_hash(const FinetuneRecipe& f, const Provenance& now) {
  Hasher h;
  h.field(hash_file(tuned_checkpoint_path(f.run_dir)));
  h.field(recipe::to_yaml(f.recipe.loaded.root));
  for (const char* key : {"base_hash", "task_hash", "shards_hash"}) h.field(now.at(key));
  for (const eval::SuiteSpec& suite : f.eval.suites) {
    std::error_code ec;
    h.field(fs::is_regular_file(suite.path, ec) ? hex64(hash_file(suite.path)) : std::string("absent"));
  }
  return h.digest();
}

fs::path eval_stamp_path(const fs::path& report_dir) {
  return report_dir / "report.inputs";
}

bool report_up_to_date(const fs::path& report_dir, const std::string& inputs_hash) {
  std::error_code ec;
  if (inputs_hash.empty() || !fs::exists(eval_stamp_path(report_dir), ec) ||
      !fs::exists(report_dir / "report.json", ec))
    return false;
  return read_file(eval_stamp_path(report_dir)) == inputs_hash + "\n";
}

void stamp_report(const fs::path& report_dir, const std::string& inputs_hash) {
  write_file_atomic(eval_stamp_path(report_dir), inputs_hash + "\n");
}

Provenance recipe_source(const recipe::LoadedRecipe& loaded) {
  return {{"recipe_file", fs::absolute(loaded.file).lexically_normal().string()},
          {"recipe_overrides", nlohmann::json(loaded.overrides).dump()}};
}

namespace {

// The recipe a run recorded (recipe_source), bound again as it reads now; nullopt when the run
// recorded none or the recipe no longer exists or binds.
std::optional<Recipe> recipe_now(const Provenance& meta) {
  auto file = meta.find("recipe_file"), overrides = meta.find("recipe_overrides");
  if (file == meta.end() || overrides == meta.end()) return std::nullopt;
  std::error_code ec;
  if (!fs::is_regular_file(file->second, ec)) return std::nullopt;
  try {
    return load_and_bind(file->second,
                         nlohmann::json::parse(overrides->second).get<std::vector<std::string>>());
  } catch (const BadInput&) {
    return std::nullopt;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

// The newest modification time of a file, or of the files directly in a folder (a Hugging Face
// model's).
fs::file_time_type newest_write(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return fs::last_write_time(path);
  fs::file_time_type newest = fs::file_time_type::min();
  for (const auto& entry : fs::directory_iterator(path))
    if (entry.is_regular_file(ec)) newest = std::max(newest, entry.last_write_time());
  return newest;
}

// The shards' fingerprint now, or "" when a domain has no shards here (not prepared, or listed
// from another working directory: data paths are relative to it), which says nothing of a change.
std::string shards_now(const data::DataSpec& data) {
  for (const data::DomainSpec& d : data.domains)
    if (!data::read_manifest(data, d.name)) return "";
  return hex64(data::shards_fingerprint(data));
}

}  // namespace

// The hash of `path` now, computed only when it was written after `since` (the run's newest
// output): an older file is the one the run recorded under `key`.
std::string StalenessProbe::hash_since(const fs::path& path, const Provenance& meta, const std::string& key,
                                       const fs::path& since, bool model) {
  auto recorded = meta.find(key);
  if (recorded != meta.end() && newest_write(path) <= fs::last_write_time(since)) return recorded->second;
  auto [it, fresh] = hashes_.try_emplace(path);
  if (fresh) it->second = hex64(model ? model::model_source_hash(path) : hash_file(path));
  return it->second;
}

std::string StalenessProbe::stale_because(const fs::path& run_dir, bool finetune) {
  const NewestOutput newest = newest_output(finetune ? tuned_checkpoint_path(run_dir) : fs::path(), run_dir);
  std::optional<Recipe> recipe = newest.meta.empty() ? std::nullopt : recipe_now(newest.meta);
  if (!recipe) return "";
  if (!finetune) {
    const std::string shards = shards_now(recipe->data);
    return shards.empty() ? "" : pretrain_stale_because(newest, shards);
  }
  FinetuneRecipe f;
  try {
    f = bind_finetune_recipe(std::move(*recipe), 0);
  } catch (const BadInput&) {
    return "";
  }
  Provenance now;
  if (const std::string shards = shards_now(f.recipe.data); !shards.empty()) now["shards_hash"] = shards;
  std::error_code ec;
  if (fs::is_regular_file(f.task.path, ec))
    now["task_hash"] = hash_since(f.task.path, newest.meta, "task_hash", newest.file, false);
  try {
    const fs::path base = resolve_base_checkpoint(f.finetune.base);
    now["base_hash"] = hash_since(base, newest.meta, "base_hash", newest.file, true);
  } catch (const BadInput&) {
    // No base now: plinth run would say so; here there is nothing to compare.
  }
  return finetune_stale_because(newest, training_part(f.recipe.loaded.root), now, f.finetune.base,
                                f.task.path);
}

}  // namespace plinth::finetune
