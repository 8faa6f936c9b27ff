// What the binary does when a run meets trouble: a second process on the same run directory, a
// diverging loss (PLINTH_INJECT_NAN_AT_STEP, the trainer's failpoint), a damaged checkpoint.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "cli_fixture.h"

using plinth::test::CliFixture;
namespace fs = std::filesystem;

namespace {

const std::string kTiny =
    " model.dim=32 model.layers=1 model.heads=2 model.context=32 train.warmup_steps=1"
    " train.batch_size=2 train.eval_every=0 --threads 1";

void prepare(const CliFixture& f) {
  for (const char* cmd : {"tokenizer train recipe.yaml", "prepare recipe.yaml"}) {
    auto r = f.plinth(cmd);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
  }
}

// `plinth ARGS` in the fixture's directory with the trainer's failpoint on: step 3 diverges.
plinth::test::CommandResult with_nan_at_step_3(const CliFixture& f, const std::string& args) {
  return plinth::test::run_command("cd '" + f.dir().path().string() + "' && PLINTH_INJECT_NAN_AT_STEP=3 '" +
                                   plinth::test::plinth_binary() + "' " + args);
}

}  // namespace

TEST_CASE("a second plinth on a run directory in use refuses, naming the holder", "[cli]") {
  CliFixture f;
  prepare(f);
  const std::string endless = kTiny + " train.steps=1000000 train.checkpoint_every=1000000";
  auto r = plinth::test::run_command(
      "cd '" + f.dir().path().string() + "' && ('" + plinth::test::plinth_binary() +
      "' pretrain recipe.yaml" + endless + " > first.txt 2>&1 & pid=$!; " +
      "n=0; until grep -q 'parameters' first.txt || [ $n -gt 3000 ]; do sleep 0.1; n=$((n+1)); done; '" +
      plinth::test::plinth_binary() + "' pretrain recipe.yaml" + endless +
      " --resume; echo \"second exit=$?\"; kill -TERM $pid; wait $pid; echo \"first exit=$?\")");
  INFO(r.output);
  CHECK_THAT(r.output, Catch::Contains("runs/recipe is in use by another plinth process (pid ") &&
                           Catch::Contains(", plinth pretrain)") && Catch::Contains("second exit=2") &&
                           Catch::Contains("first exit=143"));
  // The first one's lock went with it: resuming works now.
  auto resumed = f.plinth("pretrain recipe.yaml" + kTiny + " train.steps=2 --resume");
  INFO(resumed.output);
  CHECK(resumed.exit_code == 0);
}

TEST_CASE("a diverging run: exit 1 naming step and domains, or skip / rollback as the recipe says", "[cli]") {
  CliFixture f;
  prepare(f);
  const std::string run = kTiny + " train.steps=6 train.checkpoint_every=2";
  auto stop = f.plinth("pretrain recipe.yaml" + run);  // no failpoint: trains fine
  REQUIRE(stop.exit_code == 0);

  auto diverged = with_nan_at_step_3(f, "pretrain recipe.yaml" + run + " train.run_dir=runs/nan");
  INFO(diverged.output);
  CHECK(diverged.exit_code == 1);
  CHECK_THAT(diverged.output, Catch::Contains("failed: training diverged at step 3: loss nan") &&
                                  Catch::Contains("(batch from ") && Catch::Contains("on_divergence"));

  f.recipe(CliFixture::base_recipe() +
               "model: {dim: 32, layers: 1, heads: 2, context: 32}\n"
               "train: {steps: 6, warmup_steps: 1, batch_size: 2, eval_every: 0}\n",
           "tiny.yaml");
  f.recipe("pretrain: tiny.yaml\n", "pipeline.yaml");
  auto pipeline = with_nan_at_step_3(f, "run pipeline.yaml --threads 1");
  INFO(pipeline.output);
  CHECK(pipeline.exit_code == 1);
  CHECK_THAT(pipeline.output, Catch::Contains("pipeline stopped: plinth pretrain failed (exit 1)") &&
                                  !Catch::Contains("bad input"));

  auto skipped = with_nan_at_step_3(
      f, "pretrain recipe.yaml" + run + " train.run_dir=runs/skip train.on_divergence=skip");
  INFO(skipped.output);
  CHECK(skipped.exit_code == 0);
  CHECK_THAT(skipped.output, Catch::Contains("step skipped (1 so far)"));

  auto rolled = with_nan_at_step_3(
      f, "pretrain recipe.yaml" + run + " train.run_dir=runs/rollback train.on_divergence=rollback");
  INFO(rolled.output);
  CHECK(rolled.exit_code == 0);
  CHECK_THAT(rolled.output, Catch::Contains("rolled back to") && Catch::Contains("x0.5"));
}

TEST_CASE("a damaged newest checkpoint: --resume uses the one before and says so", "[cli]") {
  CliFixture f;
  prepare(f);
  const std::string run = kTiny + " train.steps=4 train.checkpoint_every=2";
  REQUIRE(f.plinth("pretrain recipe.yaml" + run).exit_code == 0);
  const fs::path newest = f.dir() / "runs/recipe/checkpoints/step-000004.ckpt";
  fs::resize_file(newest, fs::file_size(newest) - 100);  // an interrupted copy
  auto resumed =
      f.plinth("pretrain recipe.yaml" + kTiny + " train.steps=6 train.checkpoint_every=2 --resume");
  INFO(resumed.output);
  CHECK(resumed.exit_code == 0);
  CHECK_THAT(resumed.output, Catch::Contains("step-000004.ckpt is damaged") &&
                                 Catch::Contains("resuming from the one before it") &&
                                 Catch::Contains("resumed") && Catch::Contains("step-000002.ckpt at step 2"));
  CHECK(fs::exists(f.dir() / "runs/recipe/checkpoints/step-000004.ckpt.damaged"));
  CHECK(fs::exists(f.dir() / "runs/recipe/checkpoints/step-000006.ckpt"));
}
