// Where a run stands, decided from what its directory holds and what its recipe says now: the
// rules `plinth run` and `plinth sweep` follow to skip, resume or redo a stage, and `plinth runs`
// shows. A run is stale when its newest output (tuned.ckpt, else the newest step checkpoint)
// records other inputs than the recipe names now: another training part of the recipe, another
// base, task file or shards (finetune_provenance, finetune_run.h). An eval is up to date when the
// stamp beside its report (report.inputs) holds the hash of what it reads now.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "finetune/finetune_recipe.h"
#include "recipe/recipe.h"
#include "util/config_node.h"

namespace plinth::finetune {

using Provenance = std::map<std::string, std::string>;  // checkpoint meta keys and values

// A run's newest output that reads: `preferred` when it exists (a fine-tune's tuned.ckpt), else
// the newest step checkpoint that reads (a damaged one is passed over; resuming sets it aside).
// `file` empty and `meta` empty when there is none.
struct NewestOutput {
  std::filesystem::path file;
  Provenance meta;
};
NewestOutput newest_output(const std::filesystem::path& preferred, const std::filesystem::path& run_dir);

// The recipe as training reads it, as YAML: without its eval:, gate: and suites: sections, which
// say only how the tuned model is scored (a change there redoes the eval, not the fine-tune).
std::string training_part(ConfigNode root);
// The same of a recipe stored as YAML text (a checkpoint's "recipe" meta); "" when it does not
// parse.
std::string training_part(const std::string& stored_yaml);

// Why a fine-tune's newest output no longer belongs to its recipe, or "" when it does (or when
// there is no output). `recipe_now`: training_part of the recipe as bound now; `now`: what it is
// made from now (finetune_provenance's base_hash, task_hash, shards_hash); `base` and `task`
// name them in the reason. A key the output does not record (an older plinth's run) is no reason.
std::string finetune_stale_because(const NewestOutput& newest, const std::string& recipe_now,
                                   const Provenance& now, const std::string& base, const std::string& task);
// The same for a bound recipe: its run directory's newest output against `now`.
std::string finetune_stale_because(const FinetuneRecipe& f, const Provenance& now);

// Why a pretraining run no longer belongs to its data, or "": its newest checkpoint records the
// shards' fingerprint (data::shards_fingerprint) it was made from, `shards_now` is today's.
std::string pretrain_stale_because(const NewestOutput& newest, const std::string& shards_now);
// The same for a bound pretraining recipe and its run directory.
std::string pretrain_stale_because(const Recipe& r, const std::filesystem::path& run_dir);

// What to do with a fine-tune's run directory once it is not stale: nothing (tuned.ckpt is
// there), resume (it has a step checkpoint), or start.
enum class FinetuneNext { done, resume, start };
FinetuneNext finetune_next(const std::filesystem::path& run_dir);

// The hash of what a fine-tune's eval reads: the tuned checkpoint, the recipe with every
// override, the provenance `now` (the base, the task file's test split, the shards' validation
// documents) and the capability suites' files (a missing one hashes as absent: the eval stage
// then says what is wrong).
uint64_t eval_inputs_hash(const FinetuneRecipe& f, const Provenance& now);
// The stamp beside a report that records eval_inputs_hash: <dir>/report.inputs.
std::filesystem::path eval_stamp_path(const std::filesystem::path& report_dir);
// Whether <report_dir>/report.json exists and its stamp holds `inputs_hash` (16 hex digits).
bool report_up_to_date(const std::filesystem::path& report_dir, const std::string& inputs_hash);
// Records `inputs_hash` as the stamp of the report just written, atomically.
void stamp_report(const std::filesystem::path& report_dir, const std::string& inputs_hash);

// Where a run's recipe came from, recorded in its checkpoints beside its provenance: recipe_file
// (the file, absolute) and recipe_overrides (a JSON array of the overrides as given), so that
// the recipe can be bound again to tell whether it changed since (StalenessProbe).
Provenance recipe_source(const recipe::LoadedRecipe& loaded);

// Whether a listed run is stale now (`plinth runs`), read cheaply: the newest output's meta
// (the checkpoint header only), its recipe bound again from the recorded recipe_source, the task
// file's and shards' fingerprints, and the base hashed only when one of its files is newer than
// the run's newest output (else the recorded base_hash stands). The same rules as plinth run's
// (finetune_stale_because, pretrain_stale_because); file hashes are kept for the whole listing,
// so a sweep's points share one hash of their base.
class StalenessProbe {
 public:
  // "" when the run is up to date, or when it cannot tell: no output yet, no recorded source
  // (an older plinth's run), a recipe or base that no longer exists or no longer binds.
  std::string stale_because(const std::filesystem::path& run_dir, bool finetune);

 private:
  std::string hash_since(const std::filesystem::path& path, const Provenance& meta, const std::string& key,
                         const std::filesystem::path& since, bool model);
  std::map<std::filesystem::path, std::string> hashes_;
};

}  // namespace plinth::finetune
