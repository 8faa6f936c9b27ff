// A full disk: a pretraining run whose run directory is a small tmpfs (mounted in a private
// mount namespace by unshare, so nothing outside the test sees it or has to clean it up) stops
// with a clear message, leaves no temporary file and no torn checkpoint, and resumes once there
// is room again.
#include <torch/torch.h>

#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <filesystem>

#include "cli/cli_fixture.h"
#include "model/checkpoint_file.h"
#include "train/checkpoint_files.h"

using namespace plinth;
using plinth::test::CliFixture;
namespace fs = std::filesystem;

TEST_CASE("disk full: a clear stop, the last checkpoint intact, and resume once there is room",
          "[finetune][disk]") {
  CliFixture f;
  for (const char* cmd : {"tokenizer train recipe.yaml", "prepare recipe.yaml"}) {
    auto r = f.plinth(cmd);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
  }
  // ~0.7 MB per checkpoint (weights and AdamW moments), every step, all kept: a 3 MiB disk fills
  // after a few steps.
  const std::string run =
      " model.dim=32 model.layers=1 model.heads=2 model.context=32 train.steps=40"
      " train.warmup_steps=1 train.batch_size=2 train.eval_every=0 train.checkpoint_every=1"
      " train.keep_last=0 --threads 1";
  const std::string plinth = "\"" + test::plinth_binary() + "\"";  // inside sh -c '...'

  // One shell inside the namespace: fill, look, make room, resume, look again.
  const std::string script =
      "mkdir -p runs/recipe && mount -t tmpfs -o size=3m tmpfs runs/recipe || exit 99; " + plinth +
      " pretrain recipe.yaml" + run + "; echo \"full exit=$?\"; cp -a runs/recipe after-full; " +
      "mount -o remount,size=64m runs/recipe || exit 98; " + plinth + " pretrain recipe.yaml" + run +
      " --resume; echo \"resumed exit=$?\"; cp -a runs/recipe after-resume";
  // -r maps this user to root in a new user namespace (works unprivileged); as root, -m alone
  // also works where user namespaces are off.
  auto r = test::run_command("cd '" + f.dir().path().string() + "' && (unshare -rm sh -c '" + script +
                             "' || unshare -m sh -c '" + script + "') 2>&1");
  INFO(r.output);
  REQUIRE_THAT(r.output, !Catch::Contains("exit=99") && !Catch::Contains("exit=98"));
  CHECK_THAT(r.output, Catch::Contains("full exit=1") && Catch::Contains("No space left on device") &&
                           Catch::Contains("resumed exit=0") && Catch::Contains("resumed "));

  // After the failure: every checkpoint there reads whole, and no temporary file was left.
  const fs::path full = f.dir() / "after-full";
  const auto saved = train::list_step_checkpoints(full);
  REQUIRE(saved.size() >= 2);
  for (const auto& [step, file] : saved) REQUIRE_NOTHROW(model::read_checkpoint(file));
  for (const auto& e : fs::recursive_directory_iterator(full))
    CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
  // After resuming: it went on from the newest checkpoint to the end.
  const fs::path resumed = f.dir() / "after-resume";
  CHECK(fs::exists(train::step_checkpoint_path(resumed, 40)));
  CHECK_THAT(r.output, Catch::Contains(fmt::format("at step {}", saved.back().first)));
}
