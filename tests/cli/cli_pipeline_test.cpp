// The CLI as a user drives it: real binary, real files, real exit codes.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "cli_fixture.h"
#include "util/tensorboard_events.h"

using plinth::test::CliFixture;
namespace fs = std::filesystem;

TEST_CASE("help and version", "[cli]") {
  CliFixture f;
  auto top = f.plinth("--help");
  CHECK(top.exit_code == 0);
  CHECK_THAT(top.output,
             Catch::Contains("Examples:") && Catch::Contains("prepare") && Catch::Contains("inspect"));
  for (const char* cmd :
       {"tokenizer train", "prepare", "inspect", "pretrain", "finetune", "eval", "generate", "export",
        "report", "gate", "run", "sweep", "recipes", "bench prepare", "bench train", "bench matmul"}) {
    auto r = f.plinth(std::string(cmd) + " --help");
    INFO(cmd << "\n" << r.output);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("Example:\n  plinth "));
  }
  auto v = f.plinth("--version");
  CHECK(v.exit_code == 0);
  CHECK_THAT(v.output,
             Catch::Contains("plinth ") && Catch::Contains("LibTorch") && Catch::Contains("sentencepiece"));
  CHECK(f.plinth("").exit_code == 2);
  CHECK(f.plinth("no-such-command").exit_code == 2);
  CHECK(f.plinth("prepare").exit_code == 2);  // recipe missing
}

TEST_CASE("tokenizer train, prepare and inspect on a small corpus", "[cli]") {
  CliFixture f;
  auto tok = f.plinth("tokenizer train recipe.yaml");
  INFO(tok.output);
  REQUIRE(tok.exit_code == 0);
  for (const char* ext : {".model", ".vocab", ".yaml"})
    CHECK(fs::exists(f.dir() / (std::string("tok/small") + ext)));
  std::ifstream prov(f.dir() / "tok/small.yaml");
  std::string provenance((std::istreambuf_iterator<char>(prov)), {});
  CHECK_THAT(provenance, Catch::Contains("recipe_hash:") && Catch::Contains("- name: alpha") &&
                             Catch::Contains("sampled_bytes:") && Catch::Contains("vocab_size: 600"));

  SECTION("a second train with the same recipe reuses the tokenizer") {
    auto again = f.plinth("tokenizer train recipe.yaml");
    CHECK(again.exit_code == 0);
    CHECK_THAT(again.output, Catch::Contains("up to date"));
  }

  auto prep = f.plinth("prepare recipe.yaml");
  INFO(prep.output);
  REQUIRE(prep.exit_code == 0);
  for (const char* domain : {"alpha", "beta"})
    for (const char* split : {"train.bin", "val.bin", "manifest.json"})
      CHECK(fs::exists(f.dir() / "shards" / domain / split));

  auto table = f.plinth("inspect recipe.yaml");
  INFO(table.output);
  REQUIRE(table.exit_code == 0);
  CHECK_THAT(table.output, Catch::Contains("bytes/token") && Catch::Contains("val share") &&
                               Catch::Contains("alpha") && Catch::Contains("beta") &&
                               Catch::Contains("total"));

  SECTION("re-running on unchanged inputs does no work") {
    auto before = fs::last_write_time(f.dir() / "shards/alpha/train.bin");
    auto again = f.plinth("prepare recipe.yaml");
    CHECK(again.exit_code == 0);
    CHECK_THAT(again.output, Catch::Contains("2 unchanged"));
    CHECK(fs::last_write_time(f.dir() / "shards/alpha/train.bin") == before);
  }

  SECTION("changing one domain's file redoes that domain only") {
    auto beta_before = fs::last_write_time(f.dir() / "shards/beta/train.bin");
    std::ofstream(f.dir() / "corpus/alpha.txt", std::ios::app) << "\n\nA new paragraph, added later.\n";
    auto again = f.plinth("prepare recipe.yaml");
    CHECK(again.exit_code == 0);
    CHECK_THAT(again.output, Catch::Contains("1 unchanged"));
    CHECK(fs::last_write_time(f.dir() / "shards/beta/train.bin") == beta_before);
  }

  SECTION("--print-config shows the merged recipe with overrides applied") {
    auto cfg = f.plinth("prepare recipe.yaml data.val_fraction=0.3 --print-config");
    CHECK(cfg.exit_code == 0);
    CHECK_THAT(cfg.output, Catch::Contains("val_fraction: 0.3") && Catch::Contains("- name: beta"));
  }
}

TEST_CASE("pretrain, eval, generate and export a tiny model end to end", "[cli]") {
  CliFixture f;
  REQUIRE(f.plinth("tokenizer train recipe.yaml").exit_code == 0);
  REQUIRE(f.plinth("prepare recipe.yaml").exit_code == 0);
  const std::string tiny =
      " model.dim=32 model.layers=1 model.heads=2 model.context=32 train.steps=4 train.warmup_steps=1"
      " train.batch_size=2 train.eval_every=2 train.eval_tokens=256 train.checkpoint_every=2 --threads 2";
  auto pre = f.plinth("pretrain recipe.yaml" + tiny);
  INFO(pre.output);
  REQUIRE(pre.exit_code == 0);
  for (const char* file :
       {"metrics.jsonl", "loss.svg", "checkpoints/step-000004.ckpt", "checkpoints/best.ckpt"})
    CHECK(fs::exists(f.dir() / "runs/recipe" / file));
  // TensorBoard's events: one event of scalars per metrics.jsonl line, at its step.
  std::vector<int64_t> event_steps;
  for (const auto& e : plinth::read_event_dir(f.dir() / "runs/recipe/tb"))
    if (!e.scalars.empty()) event_steps.push_back(e.step);
  const std::string lines = plinth::test::read_file(f.dir() / "runs/recipe/metrics.jsonl");
  CHECK(event_steps.size() == plinth::test::occurrences(lines, "{\"step\":"));
  CHECK(event_steps.back() == 4);
  auto quiet = f.plinth("pretrain recipe.yaml" + tiny +
                        " train.steps=2 train.tensorboard=false train.run_dir=runs/no-tb");
  INFO(quiet.output);
  CHECK(quiet.exit_code == 0);
  CHECK(fs::exists(f.dir() / "runs/no-tb/metrics.jsonl"));
  CHECK_FALSE(fs::exists(f.dir() / "runs/no-tb/tb"));

  auto again = f.plinth("pretrain recipe.yaml" + tiny);
  CHECK(again.exit_code == 2);  // a used run directory needs --resume
  CHECK_THAT(again.output, Catch::Contains("--resume"));

  auto ev = f.plinth("eval recipe.yaml" + tiny.substr(0, tiny.find(" train.")) + " eval.max_tokens=512");
  INFO(ev.output);
  REQUIRE(ev.exit_code == 0);
  CHECK_THAT(ev.output, Catch::Contains("| alpha |") && Catch::Contains("bits/byte"));
  CHECK(fs::exists(f.dir() / "runs/recipe/eval.json"));

  auto gen = f.plinth(
      "generate --checkpoint runs/recipe/checkpoints/best.ckpt --prompt 'The licence' "
      "--max-new-tokens 5 --seed 3");
  INFO(gen.output);
  CHECK(gen.exit_code == 0);

  auto ex = f.plinth("export runs/recipe/checkpoints/best.ckpt --format safetensors out");
  INFO(ex.output);
  CHECK(ex.exit_code == 0);
  for (const char* file : {"model.safetensors", "config.json", "tokenizer.model"})
    CHECK(fs::exists(f.dir() / "out" / file));
  CHECK(f.plinth("export runs/recipe/checkpoints/best.ckpt --format gguf out2").exit_code == 2);
  CHECK(f.plinth("eval recipe.yaml --checkpoint runs/recipe/nothing.ckpt").exit_code == 2);
}

TEST_CASE("SIGTERM during pretraining: a checkpoint, exit 143, and --resume continues", "[cli]") {
  CliFixture f;
  REQUIRE(f.plinth("tokenizer train recipe.yaml").exit_code == 0);
  REQUIRE(f.plinth("prepare recipe.yaml").exit_code == 0);
  const std::string endless =
      " model.dim=32 model.layers=1 model.heads=2 model.context=32 train.steps=1000000 train.warmup_steps=1"
      " train.batch_size=2 train.eval_every=0 train.checkpoint_every=1000000 --threads 1";
  // The trainer's header line is printed once its signal handlers are in place.
  auto stopped = plinth::test::run_command(
      "cd '" + f.dir().path().string() + "' && ('" + plinth::test::plinth_binary() +
      "' pretrain recipe.yaml" + endless +
      " > out.txt 2>&1 & pid=$!; until grep -q 'parameters' out.txt; do sleep 0.1; done; sleep 0.5; " +
      "kill -TERM $pid; wait $pid; echo \"exit=$?\"); cat out.txt");
  INFO(stopped.output);
  CHECK_THAT(stopped.output, Catch::Contains("exit=143") && Catch::Contains("stopped by signal 15"));
  bool saved = false;
  for (const auto& e : fs::directory_iterator(f.dir() / "runs/recipe/checkpoints"))
    saved = saved || e.path().filename().string().rfind("step-", 0) == 0;
  CHECK(saved);
  auto resumed = f.plinth("pretrain recipe.yaml" + endless + " train.steps=2 --resume");
  INFO(resumed.output);
  // Resuming a run that is past its (now lower) step count has nothing left to do.
  CHECK(resumed.exit_code == 0);
}
