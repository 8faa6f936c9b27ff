// plinth runs's listing (finetune/run_listing.h) on run directories written here: kind (a sweep
// point by its mark), state (finished, evaluated, interrupted, stale, damaged), best validation
// loss and the report's figures; and the staleness probe's cheap reading of a recipe and a base.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "finetune/run_listing.h"
#include "finetune/run_state.h"
#include "finetune/sweep_plan.h"
#include "model/checkpoint_file.h"
#include "recipe/recipe_loader.h"
#include "recipe/recipe_writer.h"
#include "test_support.h"
#include "train/checkpoint_files.h"
#include "util/error.h"
#include "util/hash.h"

namespace plinth::finetune {
namespace {

namespace fs = std::filesystem;

void write_meta_checkpoint(const fs::path& file, const Provenance& meta) {
  fs::create_directories(file.parent_path());
  model::CheckpointContents c;
  c.meta = meta;
  model::write_checkpoint(file, c);
}

std::map<std::string, nlohmann::json> by_dir(const std::vector<RunRow>& rows) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& r : nlohmann::json::parse(runs_json(rows))) out[r["dir"].get<std::string>()] = r;
  return out;
}

const char* kReport =
    R"({"method": "lora", "task": {"gain_pct": 12.5, "gain_ci": [10, 15]},
        "overall": {"mean_forgetting_pct": 3.25, "mean_forgetting_ci": [1, 5.5]}})";

TEST_CASE("run listing: kinds, states, losses and report figures, a damaged run among the others",
          "[finetune]") {
  test::TempDir dir;
  dir.write("runs/base/recipe.yaml", "name: base\ntrain: {steps: 10}\n");
  dir.write("runs/base/metrics.jsonl",
            "{\"step\": 5, \"val_loss_mean\": 2.5}\n{\"step\": 10, \"val_loss_mean\": 2}\n");
  write_meta_checkpoint(train::step_checkpoint_path(dir / "runs/base", 10), {{"step", "10"}});

  dir.write("runs/ft/recipe.yaml", "finetune: {base: runs/base, method: full}\ntrain: {steps: 4}\n");
  write_meta_checkpoint(train::step_checkpoint_path(dir / "runs/ft", 2), {{"step", "2"}});

  const fs::path point = dir / "runs/sweep/ft-lr1";
  dir.write("runs/sweep/ft-lr1/recipe.yaml",
            "finetune: {base: runs/base, method: full}\ntrain: {steps: 4}\n");
  write_sweep_point(point, {"ft.yaml", "lr1"});
  write_meta_checkpoint(train::step_checkpoint_path(point, 4), {{"step", "4"}});
  write_meta_checkpoint(tuned_checkpoint_path(point), {{"step", "4"}});
  dir.write("runs/sweep/ft-lr1/report.json", kReport);
  write_sweep_point(dir / "runs/sweep/ft-lr2", {"ft.yaml", "lr2"});  // planned, not started

  dir.write("runs/bad/recipe.yaml", "train: {steps: 4}\n");
  dir.write("runs/bad/metrics.jsonl", "{\"step\": 1, \"val_lo\n{\"step\": 2}\n");
  dir.write("runs/cut/metrics.jsonl", "{\"step\": 1, \"val_loss_mean\": 3}\n{\"step\": 2, \"val_lo");

  const std::vector<RunRow> rows = list_runs(dir / "runs");
  REQUIRE(rows.size() == 6);
  CHECK(rows[0].dir == "bad");  // name order
  auto runs = by_dir(rows);
  CHECK(runs["base"]["kind"] == "pretrain");
  CHECK(runs["base"]["state"] == "finished");
  CHECK(runs["base"]["best_val_loss"] == 2.0);
  CHECK(runs["base"]["steps"] == 10);
  CHECK(runs["ft"]["kind"] == "fine-tune");
  CHECK(runs["ft"]["method"] == "full");
  CHECK(runs["ft"]["state"] == "interrupted at step 2");
  CHECK(runs["ft"]["best_val_loss"].is_null());
  const nlohmann::json& p = runs["sweep/ft-lr1"];
  CHECK(p["kind"] == "sweep point");
  CHECK(p["sweep_label"] == "lr1");
  CHECK(p["state"] == "evaluated");
  CHECK(p["method"] == "lora");  // the report's name for it
  CHECK(p["task_gain_pct"]["value"] == 12.5);
  CHECK(p["mean_forgetting_pct"]["ci"] == nlohmann::json::array({1, 5.5}));
  CHECK(runs["sweep/ft-lr2"]["kind"] == "sweep point");
  CHECK(runs["sweep/ft-lr2"]["state"] == "not started");
  CHECK_THAT(runs["bad"]["state"].get<std::string>(),
             Catch::StartsWith("damaged: ") && Catch::Contains("metrics.jsonl:1 is not JSON"));
  CHECK(runs["cut"]["best_val_loss"] == 3.0);  // a last line cut by a kill is no damage
  for (const auto& [name, r] : runs) CHECK(r["stale_because"].is_null());

  // Trained again after its eval: the report is older than the model it describes.
  fs::last_write_time(tuned_checkpoint_path(point),
                      fs::last_write_time(point / "report.json") + std::chrono::seconds(2));
  CHECK(by_dir(list_runs(dir / "runs"))["sweep/ft-lr1"]["state"] == "finished, report older than tuned.ckpt");

  const std::string table = runs_table(rows, dir / "runs");
  CHECK_THAT(table, Catch::Contains("sweep/ft-lr1") && Catch::Contains("+12.5% [+10.0, +15.0]") &&
                        Catch::Contains("4/4") && Catch::Contains("2.0000"));
  CHECK(runs_table({}, "runs") == "no runs under runs\n");
}

TEST_CASE("run listing: a path that is no directory is bad input", "[finetune]") {
  test::TempDir dir;
  const fs::path file = dir.write("recipe.yaml", "train: {}\n");
  for (const fs::path& p : {file, dir / "nowhere"}) {
    INFO(p);
    CHECK_THROWS_AS(list_runs(p), BadInput);
    CHECK_THROWS_WITH(list_runs(p), Catch::Contains(p.string() + " is not a directory"));
  }
}

TEST_CASE("run listing: stale by a recipe read again from its file, or by a base newer and other",
          "[finetune]") {
  test::TempDir dir;
  const std::string recipe_file = (test::source_dir() / "recipes/finetune/full.yaml").string();
  const fs::path base = dir.write("base.ckpt", "the base's weights");
  const std::vector<std::string> overrides{"finetune.base=" + base.string(), "train.seed=7"};
  const recipe::LoadedRecipe loaded = recipe::load_recipe(recipe_file, overrides);
  Provenance meta = recipe_source(loaded);
  CHECK(meta.at("recipe_file") == fs::absolute(recipe_file).lexically_normal().string());
  meta["recipe"] = recipe::to_yaml(loaded.root);
  meta["base_hash"] = hex64(hash_file(base));
  const fs::path run = dir / "runs/ft";
  const fs::path tuned = tuned_checkpoint_path(run);
  auto write_tuned = [&] {
    write_meta_checkpoint(tuned, meta);
    fs::last_write_time(tuned, fs::last_write_time(base) + std::chrono::seconds(10));
  };
  write_tuned();
  CHECK(StalenessProbe().stale_because(run, true).empty());
  REQUIRE_NOTHROW(bind_finetune_recipe(load_and_bind(recipe_file, overrides), 0));

  // The recipe as the run ran it is not what the file with the same overrides gives now.
  meta["recipe"] = recipe::to_yaml(recipe::load_recipe(recipe_file, {overrides[0]}).root);
  write_tuned();
  CHECK(StalenessProbe().stale_because(run, true) ==
        tuned.string() + " was made with another version of the recipe");
  meta["recipe"] = recipe::to_yaml(loaded.root);
  write_tuned();

  // The base written again after the run: hashed; the same bytes are no change, others are.
  dir.write("base.ckpt", "the base's weights");
  fs::last_write_time(base, fs::last_write_time(tuned) + std::chrono::seconds(10));
  CHECK(StalenessProbe().stale_because(run, true).empty());
  dir.write("base.ckpt", "another base's weights");
  fs::last_write_time(base, fs::last_write_time(tuned) + std::chrono::seconds(10));
  CHECK(StalenessProbe().stale_because(run, true) ==
        "its base " + base.string() + " changed since " + tuned.string() + " was made");
  // An older base is taken as the one recorded, unhashed: the cheap check the listing relies on.
  fs::last_write_time(base, fs::last_write_time(tuned) - std::chrono::seconds(10));
  CHECK(StalenessProbe().stale_because(run, true).empty());
  const auto rows = list_runs(dir / "runs");
  REQUIRE(rows.size() == 0);  // tuned.ckpt alone is no run directory: it needs recipe.yaml
  dir.write("runs/ft/recipe.yaml", meta["recipe"]);
  fs::last_write_time(base, fs::last_write_time(tuned) + std::chrono::seconds(10));
  const auto stale = list_runs(dir / "runs");
  REQUIRE(stale.size() == 1);
  CHECK(stale[0].state == "stale because " + stale[0].stale_because);
  CHECK_THAT(stale[0].stale_because, Catch::StartsWith("its base "));

  // A run that recorded no source (an older plinth's) is not called stale.
  meta.erase("recipe_file");
  write_tuned();
  CHECK(StalenessProbe().stale_because(run, true).empty());
}

}  // namespace
}  // namespace plinth::finetune
