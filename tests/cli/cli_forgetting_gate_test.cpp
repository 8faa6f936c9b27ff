// The forgetting gate on real fine-tunes of CI's tiny pipeline (tests/data/forgetting): a
// fine-tune that learned nothing fails CI's gate while the normal one passes; the verdict does
// not depend on which documents were sampled; and a fine-tune that forgets clearly more is caught
// against the normal one as baseline; a pipeline's seeds. Slow (about a minute): real pretraining
// and fine-tunes, one base for every check.
#include <catch2/catch.hpp>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "cli_fixture.h"
#include "util/atomic_file.h"

using plinth::test::CliFixture;
namespace fs = std::filesystem;
using Catch::Contains;

namespace {

const fs::path kFixture = plinth::test::source_dir() / "tests" / "data" / "forgetting";

plinth::test::CommandResult run(const CliFixture& f, const std::string& args, int expected) {
  auto r = f.plinth(args);
  INFO("plinth " << args << "\n" << r.output);
  REQUIRE(r.exit_code == expected);
  return r;
}

// A fine-tune of CI's full recipe into its own run directory, with extra overrides, and its report.
void finetune_and_eval(const CliFixture& f, const std::string& run_dir, const std::string& overrides) {
  const std::string recipe = (kFixture / "full.yaml").string();
  run(f, "finetune " + recipe + " train.run_dir=" + run_dir + " " + overrides + " --threads 2", 0);
  run(f, "eval " + recipe + " train.run_dir=" + run_dir + " " + overrides + " --threads 2", 0);
}

nlohmann::json report(const CliFixture& f, const std::string& run_dir) {
  return nlohmann::json::parse(plinth::read_file(f.dir() / run_dir / "report.json"));
}

}  // namespace

TEST_CASE("CI's forgetting gate: learning nothing fails, sampling does not decide, more forgetting is caught",
          "[cli][gate][slow]") {
  CliFixture f;
  // Tokenizer, shards, the tiny base and the normal full and LoRA fine-tunes with their reports.
  run(f, "run " + (kFixture / "pipeline.yaml").string() + " --threads 2", 0);
  const std::string normal = "runs/ci-forgetting/full";
  // The recipe's gate (max forgetting 50%, min task gain 5%), as scripts/ci-forgetting runs it.
  run(f, "gate " + normal, 0);

  {  // A zero learning rate forgets nothing and learns nothing: the task gain fails the gate.
    // A recipe's lr must be > 0; 1e-30 moves no fp32 weight (it is below every weight's rounding
    // step), which is what a zero rate would do.
    const std::string zero = " train.run_dir=runs/zero train.lr=1e-30 train.min_lr=0 --threads 2";
    run(f, "finetune " + (kFixture / "full.yaml").string() + zero, 0);
    auto ev = run(f, "eval " + (kFixture / "full.yaml").string() + zero, 0);
    CHECK_THAT(ev.output, Contains("equal the base's on every scored token"));
    auto g = run(f, "gate runs/zero", 1);
    CHECK_THAT(g.output, Contains("ok           literature: forgetting 0.0% [0.0, 0.0]"));
    CHECK_THAT(g.output, Contains("task gain 0.0% [0.0, 0.0] < 5.0% minimum"));
  }

  {  // Two sampling seeds: other documents, the same verdicts.
    const nlohmann::json seed0 = report(f, normal);
    finetune_and_eval(f, "runs/seed1", "eval.seed=1");
    const nlohmann::json seed1 = report(f, "runs/seed1");
    CHECK(seed1["sample"]["seed"] == 1);
    CHECK(seed0["domains"][0]["per_document"]["index"] != seed1["domains"][0]["per_document"]["index"]);
    // Both intervals of each domain's forgetting overlap: the same quantity, measured twice.
    for (size_t d = 0; d < seed0["domains"].size(); ++d) {
      const auto& a = seed0["domains"][d]["forgetting_ci"];
      const auto& b = seed1["domains"][d]["forgetting_ci"];
      INFO(seed0["domains"][d]["name"] << ": " << a << " vs " << b);
      CHECK(a[0].get<double>() <= b[1].get<double>());
      CHECK(b[0].get<double>() <= a[1].get<double>());
    }
    for (const char* budget : {"5%", "10%", "30%", "50%"}) {
      auto a = f.plinth(std::string("gate ") + normal + " --max-mean-forgetting " + budget);
      auto b = f.plinth(std::string("gate runs/seed1 --max-mean-forgetting ") + budget);
      INFO(budget << "\n" << a.output << "\n" << b.output);
      CHECK(a.exit_code == b.exit_code);
      CHECK(a.exit_code != 2);
    }
    // A baseline drawn with another seed scored other documents: bad input, not a verdict.
    auto mixed = run(f, "gate runs/seed1 --baseline " + normal + " --tolerance 2%", 2);
    CHECK_THAT(mixed.output, Contains("scored other documents") && Contains("eval.seed"));
  }

  {  // Four times the steps at a higher rate forgets more: caught against the normal run.
    finetune_and_eval(f, "runs/longer", "train.steps=240 train.lr=0.003 train.min_lr=0.001");
    auto g = run(f, "gate runs/longer --baseline " + normal + " --tolerance 2%", 1);
    CHECK_THAT(g.output, Contains("BREACH       mean forgetting"));
    CHECK_THAT(g.output, Contains("points tolerance"));
    // The normal run against itself: no regression.
    run(f, "gate " + normal + " --baseline " + normal + " --tolerance 2%", 0);
  }

  // A pipeline's seeds: each fine-tune once per seed (the base above is reused), the comparison
  // with mean and spread.
  auto pipeline = [&](const std::string& seeds) {
    f.dir().write("seeds.yaml", "name: seeds\npretrain: " + (kFixture / "pretrain.yaml").string() +
                                    "\nfinetune: [" + (kFixture / "lora.yaml").string() + "]\n" + seeds +
                                    "report: runs/seeds-comparison\n");
  };
  pipeline("seeds: []\n");
  auto empty = run(f, "run seeds.yaml --dry-run", 2);
  CHECK_THAT(empty.output, Contains("seeds.yaml") && Contains("seeds: the list of seeds is empty"));
  pipeline("seeds: [1, 2, 1]\n");
  CHECK_THAT(run(f, "run seeds.yaml --dry-run", 2).output, Contains("seed 1 is listed twice"));
  pipeline("seeds: [1, x]\n");
  CHECK_THAT(run(f, "run seeds.yaml --dry-run", 2).output, Contains("'x' is not a seed"));

  pipeline("seeds: [1, 2]\n");
  auto r = run(f, "run seeds.yaml --threads 2", 0);
  CHECK_THAT(r.output, Contains("train.seed=1 train.run_dir=runs/ci-forgetting/lora-seed1"));
  for (const char* dir : {"runs/ci-forgetting/lora-seed1", "runs/ci-forgetting/lora-seed2"})
    CHECK(fs::exists(f.dir() / dir / "report.json"));
  const std::string md = plinth::read_file(f.dir() / "runs/seeds-comparison/comparison.md");
  CHECK_THAT(md, Contains("## Over training seeds") && Contains("| ci-lora | lora | 2 | +"));
  // The two seeds trained differently.
  CHECK(report(f, "runs/ci-forgetting/lora-seed1")["overall"]["mean_forgetting_pct"] !=
        report(f, "runs/ci-forgetting/lora-seed2")["overall"]["mean_forgetting_pct"]);
  // A second run finds everything done.
  CHECK_THAT(run(f, "run seeds.yaml --threads 2", 0).output, Contains("report up to date"));
}
