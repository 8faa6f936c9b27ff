// What plinth run and plinth sweep plan before anything runs (finetune/run_plan.h,
// sweep_plan.h): a pipeline file read and checked, its seeds and a sweep's grid planned into
// runs and their directories, and every problem reported with its file and key.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <filesystem>

#include "finetune/finetune_recipe.h"
#include "finetune/run_plan.h"
#include "finetune/sweep_plan.h"
#include "recipe/recipe.h"
#include "test_support.h"

namespace plinth::finetune {
namespace {

namespace fs = std::filesystem;

fs::path recipes() {
  return test::source_dir() / "recipes";
}

TEST_CASE("run plan: a pipeline file read, its recipes relative to it", "[finetune]") {
  const Pipeline p = load_pipeline((recipes() / "pipelines/sweep-lora.yaml").string());
  CHECK(p.name == "sweep-lora");
  CHECK(p.pretrain == (recipes() / "pretrain/quickstart.yaml").lexically_normal());
  REQUIRE(p.finetune.size() == 1);
  CHECK(p.finetune[0] == (recipes() / "finetune/lora.yaml").lexically_normal());
  REQUIRE(p.sweep.size() == 2);
  CHECK(p.sweep[0].key == "finetune.lora.rank");
  CHECK(p.sweep[1].values == std::vector<std::string>{"1e-3", "4e-3"});
  CHECK(p.report == "runs/sweep-lora-comparison");
  CHECK(plan_finetunes(p).empty());  // a sweep's runs are plan_sweep's
}

TEST_CASE("run plan: a pipeline's seeds planned into one run per fine-tune and seed", "[finetune]") {
  test::TempDir dir;
  const std::string full = (recipes() / "finetune/full.yaml").string();
  const fs::path file = dir.write("p.yaml", "finetune: [" + full + "]\nseeds: [3, 1]\n");
  const Pipeline p = load_pipeline(file.string());
  CHECK(p.name == "p");
  const fs::path run_dir = bind_finetune_recipe(load_and_bind(full, {}), 0).run_dir;
  const std::vector<PlannedFinetune> planned = plan_finetunes(p);
  REQUIRE(planned.size() == 2);
  CHECK(planned[0].file == full);
  CHECK(planned[0].overrides ==
        std::vector<std::string>{"train.seed=3", "train.run_dir=" + run_dir.string() + "-seed3"});
  CHECK(planned[1].overrides[1] == "train.run_dir=" + run_dir.string() + "-seed1");
  CHECK(planned[1].sweep_label.empty());

  const Pipeline once = load_pipeline(dir.write("q.yaml", "finetune: [" + full + "]\n").string());
  REQUIRE(plan_finetunes(once).size() == 1);
  CHECK(plan_finetunes(once)[0].overrides.empty());
}

TEST_CASE("run plan: a bad pipeline file names the file and the key", "[finetune]") {
  test::TempDir dir;
  const std::string full = (recipes() / "finetune/full.yaml").string();
  const fs::path typo = dir.write("typo.yaml", "finetune: [" + full + "]\nseed: [1, 2]\n");
  std::string message = test::bad_input_message([&] { load_pipeline(typo.string()); });
  CHECK_THAT(message, Catch::Contains(typo.string()) && Catch::Contains("seed") &&
                          Catch::Contains("seeds"));  // the did-you-mean hint

  const fs::path twice = dir.write("twice.yaml", "finetune: [" + full + "]\nseeds: [1, 1, x]\n");
  message = test::bad_input_message([&] { load_pipeline(twice.string()); });
  CHECK_THAT(message, Catch::Contains("seed 1 is listed twice") && Catch::Contains("'x' is not a seed"));

  const fs::path missing = dir.write("missing.yaml", "finetune: [nowhere.yaml]\n");
  message = test::bad_input_message([&] { load_pipeline(missing.string()); });
  CHECK_THAT(message, Catch::Contains("finetune") && Catch::Contains("nowhere.yaml does not exist"));

  const fs::path both = dir.write(
      "both.yaml", "finetune: [" + full + "]\nseeds: [1]\nsweep: {grid: {train.lr: [1e-3, 2e-3]}}\n");
  CHECK_THAT(test::bad_input_message([&] { load_pipeline(both.string()); }),
             Catch::Contains("seeds: and sweep: together"));
}

TEST_CASE("run plan: a sweep grid planned into points, their directories and overrides", "[finetune]") {
  const Pipeline p = load_pipeline((recipes() / "pipelines/sweep-lora.yaml").string());
  const SweepPlan plan = plan_sweep(p.finetune[0].string(), p.sweep);
  const fs::path run_dir = bind_finetune_recipe(load_and_bind(p.finetune[0].string(), {}), 0).run_dir;
  CHECK(plan.run_dir == run_dir);
  REQUIRE(plan.points.size() == 4);  // 2 ranks x 2 learning rates, the first axis slowest
  REQUIRE(plan.dirs.size() == 4);
  REQUIRE(plan.runs.size() == 4);
  CHECK(plan.points[0].label == "rank4-lr1e-3");
  CHECK(plan.points[3].label == "rank16-lr4e-3");
  for (size_t i = 0; i < plan.points.size(); ++i) {
    INFO(plan.points[i].label);
    fs::path dir = run_dir;
    dir += "-" + plan.points[i].label;
    CHECK(plan.dirs[i] == dir);
    CHECK(plan.runs[i].file == p.finetune[0].string());
    CHECK(plan.runs[i].sweep_label == plan.points[i].label);
    REQUIRE(plan.runs[i].overrides.size() == 3);
    CHECK(plan.runs[i].overrides.back() == "train.run_dir=" + dir.string());
    // Each point's recipe binds with its overrides, into its own directory.
    CHECK(bind_finetune_recipe(load_and_bind(plan.runs[i].file, plan.runs[i].overrides), 0).run_dir == dir);
  }
  CHECK(plan.runs[1].overrides[0] == "finetune.lora.rank=4");
  CHECK(plan.runs[1].overrides[1] == "train.lr=4e-3");
  CHECK(plan.screens.empty());
  fs::path out = run_dir;
  out += "-sweep";
  CHECK(default_sweep_out(plan) == out);
  CHECK(sweep_report_dirs(plan) == plan.dirs);

  // Screened: each point's eval sample scaled down, into <point>/screen.
  const SweepPlan screened = plan_sweep(p.finetune[0].string(), p.sweep, 0.25);
  REQUIRE(screened.screens.size() == 4);
  CHECK(screened.screens[0].subdir == "screen");
  CHECK(screened.screen_confidence > 0.95);
}

TEST_CASE("run plan: a grid key that is no recipe key is reported at the grid", "[finetune]") {
  recipe::SweepGrid grid{recipe::parse_grid_flag("train.lrr=1e-3,2e-3")};
  const std::string message =
      test::bad_input_message([&] { plan_sweep((recipes() / "finetune/lora.yaml").string(), grid); });
  CHECK_THAT(message,
             Catch::Contains("train.lrr") && Catch::Contains("a grid key must be a key of the recipe"));
}

TEST_CASE("run plan: a sweep point's mark read back, a damaged one bad input", "[finetune]") {
  test::TempDir dir;
  const fs::path point = dir / "runs/ft-lora-rank4";
  CHECK_FALSE(read_sweep_point(point));
  write_sweep_point(point, {"recipes/finetune/lora.yaml", "rank4"});
  const auto mark = read_sweep_point(point);
  REQUIRE(mark);
  CHECK(mark->recipe == "recipes/finetune/lora.yaml");
  CHECK(mark->label == "rank4");
  dir.write("runs/ft-lora-rank4/sweep_point.json", "{\"recipe\": 1}");
  CHECK_THAT(test::bad_input_message([&] { read_sweep_point(point); }), Catch::Contains("sweep_point.json"));
}

}  // namespace
}  // namespace plinth::finetune
