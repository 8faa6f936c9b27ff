// plinth sweep and a pipeline's sweep: through the real binary: a two-point grid over a tiny
// LoRA fine-tune, the comparison with its frontier, a rerun that skips the finished points, and
// a base that does not exist.
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "cli_finetune_fixture.h"
#include "util/atomic_file.h"

using Catch::Matchers::Contains;
using plinth::read_file;
using plinth::test::finetune_recipe;
using plinth::test::FinetuneFixture;
using plinth::test::occurrences;
namespace fs = std::filesystem;

TEST_CASE("sweep: a two-point grid, its frontier, and a rerun that skips finished points", "[cli][sweep]") {
  FinetuneFixture f;
  f.recipe(finetune_recipe("ft-lora", "  method: lora\n  lora: {rank: 2, targets: [q_proj, v_proj]}\n"),
           "lora.yaml");

  // No base yet: said before any stage runs.
  auto no_base = f.plinth("sweep lora.yaml --grid train.lr=1e-3,1e-2 --threads 2");
  INFO(no_base.output);
  CHECK(no_base.exit_code == 2);
  CHECK_THAT(no_base.output, Contains("finetune.base: runs/base does not exist") && !Contains("== plinth"));

  f.make_base();
  auto dry = f.plinth("sweep lora.yaml --grid train.lr=1e-3,1e-2 --dry-run");
  INFO(dry.output);
  CHECK(dry.exit_code == 0);
  CHECK_THAT(dry.output, Contains("train.lr=1e-3 train.run_dir=runs/ft-lora-lr1e-3"));
  CHECK_FALSE(fs::exists(f.dir() / "runs/ft-lora-lr1e-3"));

  auto first = f.plinth("sweep lora.yaml --grid train.lr=1e-3,1e-2 --threads 2");
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  for (const char* point : {"runs/ft-lora-lr1e-3", "runs/ft-lora-lr1e-2"})
    CHECK(fs::exists(f.dir() / point / "report.json"));
  const std::string md = read_file(f.dir() / "runs/ft-lora-sweep/comparison.md");
  INFO(md);
  CHECK_THAT(
      md, Contains("| point | train.lr |") && Contains("| lr1e-3 | 1e-3 |") && Contains("| lr1e-2 | 1e-2 |"));
  CHECK(occurrences(md, "**yes**") >= 1);  // two points: at least one is on the frontier
  CHECK_THAT(md, Contains("from least forgetting to most: lr1e-"));
  const std::string svg = read_file(f.dir() / "runs/ft-lora-sweep/comparison.svg");
  CHECK(occurrences(svg, "class=\"mark\"") == occurrences(md, "**yes**"));
  const std::string html = read_file(f.dir() / "runs/ft-lora-sweep/comparison.html");
  CHECK_THAT(html,
             Contains("<a href=\"../ft-lora-lr1e-3/report.html\">lr1e-3</a>") && Contains("<td>lr1e-2</td>"));

  auto again = f.plinth("sweep lora.yaml --grid train.lr=1e-3,1e-2 --threads 2 --out cmp");
  INFO(again.output);
  REQUIRE(again.exit_code == 0);
  CHECK(occurrences(again.output, "fine-tuned already") == 2);
  CHECK(occurrences(again.output, "report up to date") == 2);
  CHECK_THAT(again.output, !Contains("== plinth finetune") && !Contains("== plinth eval"));
  CHECK(fs::exists(f.dir() / "cmp/comparison.md"));

  // plinth runs: the points are the sweep's, by the mark the sweep wrote in their directories.
  auto listed = f.plinth("runs --json");
  INFO(listed.output);
  REQUIRE(listed.exit_code == 0);
  std::map<std::string, nlohmann::json> runs;
  for (const auto& r : nlohmann::json::parse(listed.output)) runs[r["dir"].get<std::string>()] = r;
  CHECK(runs["base"]["kind"] == "pretrain");
  for (const char* label : {"lr1e-3", "lr1e-2"}) {
    const nlohmann::json& r = runs[std::string("ft-lora-") + label];
    INFO(label);
    CHECK(r["kind"] == "sweep point");
    CHECK(r["sweep_label"] == label);
    CHECK(r["state"] == "evaluated");
    CHECK(r["stale_because"].is_null());
  }

  // The same grid as a pipeline's sweep: (no pretrain: the base exists): the same run
  // directories, so nothing is trained again, and the same comparison.
  f.recipe("name: swept\nfinetune: [lora.yaml]\nsweep:\n  grid:\n    train.lr: [1e-3, 1e-2]\n", "pipe.yaml");
  auto pipeline = f.plinth("run pipe.yaml --threads 2");
  INFO(pipeline.output);
  REQUIRE(pipeline.exit_code == 0);
  CHECK(occurrences(pipeline.output, "fine-tuned already") == 2);
  CHECK_THAT(pipeline.output, Contains("runs/ft-lora-sweep/comparison.md"));

  // seeds: with sweep: is refused, naming the line.
  f.recipe("finetune: [lora.yaml]\nseeds: [1, 2]\nsweep:\n  grid:\n    train.lr: [1e-3, 1e-2]\n",
           "both.yaml");
  auto both = f.plinth("run both.yaml --dry-run");
  INFO(both.output);
  CHECK(both.exit_code == 2);
  CHECK_THAT(both.output, Contains("both.yaml:") && Contains("sweep: seeds: and sweep: together"));
}

TEST_CASE("sweep: a screen spares the full eval of a point dominated beyond doubt", "[cli][sweep]") {
  FinetuneFixture f;
  f.recipe(finetune_recipe("ft", "  method: full\n"), "ft.yaml");
  f.make_base();
  // lr 3e-3 learns the task a little; lr 3 wrecks the model: it unlearns the task and forgets
  // far more, beyond doubt even on the screen's half sample with Bonferroni-widened intervals.
  const char* cmd = "sweep ft.yaml --grid train.lr=3e-3,3 --screen 0.5 --threads 2";
  auto first = f.plinth(cmd);
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  CHECK_THAT(first.output,
             Contains("lr3: dominated beyond doubt by lr3e-3 on the screen (50% of the sample") &&
                 Contains("the screen spared the full eval of 1 of 2 points"));
  for (const char* point : {"runs/ft-lr3e-3", "runs/ft-lr3"})
    CHECK(fs::exists(f.dir() / point / "screen/report.json"));
  CHECK(fs::exists(f.dir() / "runs/ft-lr3e-3/report.json"));
  CHECK_FALSE(fs::exists(f.dir() / "runs/ft-lr3/report.json"));
  // The screen's sample is half the eval's, its intervals at 1 - 0.05 / 4.
  const std::string screen = read_file(f.dir() / "runs/ft-lr3/screen/report.json");
  CHECK_THAT(screen, Contains("\"confidence\": 0.9875"));
  const std::string md = read_file(f.dir() / "runs/ft-sweep/comparison.md");
  INFO(md);
  CHECK_THAT(md, Contains("| lr3 | 3 |") && Contains("| lr3e-3 (screen: no full eval) |"));
  CHECK_THAT(md, Contains("first evaluated on 50% of its eval sample, with intervals at 98.75%") &&
                     Contains("1 of 2 points"));
  CHECK_THAT(md, Contains("from least forgetting to most: lr3e-3."));

  // A rerun evaluates nothing: both screens and the full eval are up to date.
  auto again = f.plinth(cmd);
  INFO(again.output);
  REQUIRE(again.exit_code == 0);
  CHECK(occurrences(again.output, "report up to date") == 3);
  CHECK_THAT(again.output, !Contains("== plinth eval"));
}
