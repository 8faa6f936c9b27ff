// The rules plinth run and plinth sweep follow to skip, resume or redo a run, and that
// plinth runs shows (finetune/run_state.h): stale by recipe, base, task file or shards; the
// newest output that reads; interrupted or finished; a report up to date or not.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <filesystem>

#include "finetune/run_state.h"
#include "model/checkpoint_file.h"
#include "recipe/recipe_loader.h"
#include "test_support.h"
#include "train/checkpoint_files.h"

namespace plinth::finetune {
namespace {

namespace fs = std::filesystem;

const char* kRecipe =
    "finetune: {base: runs/base, method: full}\n"
    "task: {path: task.jsonl}\n"
    "train: {steps: 8, lr: 0.001}\n"
    "eval: {max_tokens: 100}\n";

void write_meta_checkpoint(const fs::path& file, const Provenance& meta) {
  fs::create_directories(file.parent_path());
  model::CheckpointContents c;
  c.meta = meta;
  model::write_checkpoint(file, c);
}

// What a run made from kRecipe records, and what it is made from now (the same).
Provenance recorded() {
  return {{"recipe", kRecipe}, {"base_hash", "b0"}, {"task_hash", "t0"}, {"shards_hash", "s0"}};
}
Provenance today() {
  return {{"base_hash", "b0"}, {"task_hash", "t0"}, {"shards_hash", "s0"}};
}
std::string recipe_now(const std::string& yaml) {
  return training_part(recipe::parse_yaml(yaml, "recipe"));
}

TEST_CASE("run state: a fine-tune is stale by its recipe, base, task file or shards", "[finetune]") {
  const NewestOutput out{"runs/ft/tuned.ckpt", recorded()};
  auto why = [&](const std::string& yaml, const Provenance& now) {
    return finetune_stale_because(out, recipe_now(yaml), now, "runs/base", "task.jsonl");
  };
  CHECK(why(kRecipe, today()).empty());
  // Only how the tuned model is scored changed: the eval is redone, not the fine-tune.
  CHECK(why(std::string(kRecipe) + "gate: {max_forgetting: 5%}\n", today()).empty());
  CHECK(why("finetune: {base: runs/base, method: full}\ntask: {path: task.jsonl}\n"
            "train: {steps: 8, lr: 0.001}\neval: {max_tokens: 200}\n",
            today())
            .empty());

  const std::string recipe_changed = why(
      "finetune: {base: runs/base, method: full}\ntask: {path: task.jsonl}\ntrain: {steps: 8, lr: 0.002}\n",
      today());
  CHECK(recipe_changed == "runs/ft/tuned.ckpt was made with another version of the recipe");

  Provenance now = today();
  now["base_hash"] = "b1";
  CHECK(why(kRecipe, now) == "its base runs/base changed since runs/ft/tuned.ckpt was made");
  now = today();
  now["task_hash"] = "t1";
  CHECK(why(kRecipe, now) == "the task file task.jsonl changed since runs/ft/tuned.ckpt was made");
  now = today();
  now["shards_hash"] = "s1";
  CHECK(why(kRecipe, now) ==
        "the shards changed (a corpus or the data section) since runs/ft/tuned.ckpt was made");
  // A key the output does not record (an older plinth's run), or one not checked now, is no reason.
  Provenance older = recorded();
  older.erase("task_hash");
  now = today();
  now["task_hash"] = "t1";
  CHECK(finetune_stale_because({"x.ckpt", older}, recipe_now(kRecipe), now, "b", "t").empty());
  now.erase("task_hash");
  CHECK(why(kRecipe, now).empty());
  // No output yet: nothing to be stale; a stored recipe that does not parse is another version.
  CHECK(finetune_stale_because({}, recipe_now(kRecipe), today(), "b", "t").empty());
  Provenance garbled = recorded();
  garbled["recipe"] = "train: [unclosed";
  CHECK_THAT(finetune_stale_because({"x.ckpt", garbled}, recipe_now(kRecipe), today(), "b", "t"),
             Catch::Contains("another version of the recipe"));
}

TEST_CASE("run state: a pretraining run is stale when its shards changed", "[finetune]") {
  const NewestOutput out{"runs/base/checkpoints/step-000010.ckpt", {{"shards_hash", "s0"}}};
  CHECK(pretrain_stale_because(out, "s0").empty());
  CHECK(pretrain_stale_because(out, "s1") ==
        "the shards changed (a corpus or the data section) since runs/base/checkpoints/step-000010.ckpt was "
        "made");
  CHECK(pretrain_stale_because(NewestOutput{}, "s1").empty());
}

TEST_CASE("run state: the newest output that reads, and interrupted, finished or not started", "[finetune]") {
  test::TempDir dir;
  const fs::path run = dir / "ft";
  CHECK(newest_output(tuned_checkpoint_path(run), run).file.empty());
  CHECK(finetune_next(run) == FinetuneNext::start);

  write_meta_checkpoint(train::step_checkpoint_path(run, 4), {{"step", "4"}});
  write_meta_checkpoint(train::step_checkpoint_path(run, 8), {{"step", "8"}});
  CHECK(finetune_next(run) == FinetuneNext::resume);  // interrupted at step 8
  CHECK(newest_output(tuned_checkpoint_path(run), run).meta.at("step") == "8");

  // A checkpoint cut short by a kill is passed over for the one before it.
  dir.write("ft/checkpoints/step-000012.ckpt", "PLCKPT01 cut short");
  const NewestOutput newest = newest_output(tuned_checkpoint_path(run), run);
  CHECK(newest.file == train::step_checkpoint_path(run, 8));
  CHECK(newest.meta.at("step") == "8");

  write_meta_checkpoint(tuned_checkpoint_path(run), {{"step", "8"}, {"kind", "tuned"}});
  CHECK(finetune_next(run) == FinetuneNext::done);
  CHECK(newest_output(tuned_checkpoint_path(run), run).meta.at("kind") == "tuned");
  CHECK(newest_output({}, run).file == train::step_checkpoint_path(run, 8));  // a pretraining run's view
}

TEST_CASE("run state: a report is up to date only while its stamp holds the inputs' hash", "[finetune]") {
  test::TempDir dir;
  const fs::path run = dir.path();
  CHECK_FALSE(report_up_to_date(run, "00000000000000aa"));
  stamp_report(run, "00000000000000aa");
  CHECK_FALSE(report_up_to_date(run, "00000000000000aa"));  // the stamp without its report
  dir.write("report.json", "{}");
  CHECK(report_up_to_date(run, "00000000000000aa"));
  CHECK_FALSE(report_up_to_date(run, "00000000000000bb"));  // what the eval reads changed
  CHECK_FALSE(report_up_to_date(run, ""));                  // a dry run knows no hash
  CHECK(test::read_file(eval_stamp_path(run)) == "00000000000000aa\n");
}

}  // namespace
}  // namespace plinth::finetune
