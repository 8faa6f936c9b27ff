// The trade-off tools through the real binary: plinth merge (interpolation written as a
// checkpoint), eval.interpolate and eval.attribute in a fine-tune's report, plinth attribute on a
// report that exists, and the overlay of interpolation curves in plinth report.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli_finetune_fixture.h"

using plinth::test::CommandResult;
using plinth::test::finetune_recipe;
using plinth::test::FinetuneFixture;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* kText = "Der Hund und das Haus. The dog and the house.";

// `plinth score --json` of one checkpoint on kText: its per-token NLL.
json token_nll(const FinetuneFixture& f, const std::string& checkpoint) {
  const CommandResult r = f.plinth("score --checkpoint " + checkpoint + " --json --text '" + kText + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const size_t brace = r.output.find('{');
  REQUIRE(brace != std::string::npos);
  return json::parse(r.output.substr(brace)).at("nll");
}

void run_ok(const FinetuneFixture& f, const std::string& args) {
  const CommandResult r = f.plinth(args);
  INFO("plinth " << args << "\n" << r.output);
  REQUIRE(r.exit_code == 0);
}

json read_json(const fs::path& p) {
  return json::parse(plinth::test::read_file(p));
}

}  // namespace

TEST_CASE("plinth merge: alpha 0 scores exactly as the base, 1 as the tuned model, 0.5 in between",
          "[cli][tradeoff]") {
  FinetuneFixture f;
  f.make_base();
  f.recipe(finetune_recipe("ft-full", "  method: full\n"), "full.yaml");
  run_ok(f, "finetune full.yaml --threads 2");
  const std::string base = "runs/base/checkpoints/best.ckpt", tuned = "runs/ft-full/tuned.ckpt";
  REQUIRE(fs::exists(f.dir() / base));

  for (const char* alpha : {"0", "1", "0.5"})
    run_ok(f, std::string("merge ") + base + " " + tuned + " --alpha " + alpha + " m" + alpha + ".ckpt");
  const json base_nll = token_nll(f, base), tuned_nll = token_nll(f, tuned);
  REQUIRE(base_nll != tuned_nll);
  CHECK(token_nll(f, "m0.ckpt") == base_nll);
  CHECK(token_nll(f, "m1.ckpt") == tuned_nll);
  const json half = token_nll(f, "m0.5.ckpt");
  CHECK(half != base_nll);
  CHECK(half != tuned_nll);
  // A merged checkpoint is a model like any other: plinth eval takes it.
  run_ok(f, "eval base.yaml --checkpoint m0.5.ckpt --threads 2");

  SECTION("bad input: alpha outside [0, 1] without --extrapolate, no alpha, an adapter, another shape") {
    CommandResult r = f.plinth("merge " + base + " " + tuned + " --alpha 1.5 out.ckpt");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output,
               Catch::Contains("--alpha 1.5 is outside [0, 1]") && Catch::Contains("--extrapolate"));
    CHECK_FALSE(fs::exists(f.dir() / "out.ckpt"));
    run_ok(f, "merge " + base + " " + tuned + " --alpha 1.5 --extrapolate out.ckpt");

    r = f.plinth("merge " + base + " " + tuned + " out2.ckpt");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("--alpha is required"));

    run_ok(f, "pretrain base.yaml --threads 2 model.dim=48 train.run_dir=runs/wide");
    r = f.plinth("merge " + base + " runs/wide/checkpoints/best.ckpt --alpha 0.5 out3.ckpt");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("are models of different shapes") &&
                             Catch::Contains("runs/wide/checkpoints/best.ckpt"));
    CHECK_FALSE(fs::exists(f.dir() / "out3.ckpt"));
  }
}

TEST_CASE(
    "eval.interpolate and eval.attribute: the ends are the report's own models, restoring every part "
    "is the base, plinth attribute and the report overlay",
    "[cli][tradeoff]") {
  FinetuneFixture f;
  f.make_base();
  f.recipe(finetune_recipe("ft-full", "  method: full\n"), "full.yaml");
  f.recipe(finetune_recipe("ft-lora", "  method: lora\n  lora: {rank: 2, targets: [q_proj, v_proj]}\n"),
           "lora.yaml");
  run_ok(f, "finetune full.yaml --threads 2");
  run_ok(f, "finetune lora.yaml --threads 2");
  run_ok(f, "eval full.yaml --threads 2 eval.interpolate=[0.5] eval.attribute=true");

  const fs::path run = f.dir() / "runs/ft-full";
  for (const char* file : {"report.json", "report.md", "interpolation.svg", "attribution.svg", "report.html"})
    CHECK(fs::exists(run / file));
  // The page draws both inline: the interpolation curve and the attribution heat map.
  const std::string html = plinth::test::read_file(run / "report.html");
  CHECK_THAT(html, Catch::Contains("aria-label=\"Interpolation between base and tuned") &&
                       Catch::Contains("aria-label=\"Where the forgetting comes from") &&
                       Catch::Contains("class=\"cell\""));
  const json report = read_json(run / "report.json");
  const json& interp = report.at("interpolation");
  REQUIRE(interp.size() == 3);  // 0 and 1 are always there
  CHECK(interp[0].at("alpha") == 0.0);
  CHECK(interp[0].at("mean_forgetting_pct") == 0.0);
  CHECK(interp[0].at("task_gain_pct") == 0.0);
  CHECK(interp[2].at("alpha") == 1.0);
  CHECK(interp[2].at("mean_forgetting_pct") == report.at("overall").at("mean_forgetting_pct"));
  CHECK(interp[2].at("task_gain_pct") == report.at("task").at("gain_pct"));
  CHECK(interp[1].at("task_gain_pct") != interp[2].at("task_gain_pct"));

  // One block, 32 wide, tied: embeddings, block 0, final norm; a full fine-tune changes each.
  const json& parts = report.at("attribution");
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].at("label") == "embeddings (and the tied output head)");
  CHECK(parts[1].at("label") == "block 0");
  CHECK(parts[2].at("label") == "final norm");
  for (const auto& p : parts) CHECK(p.at("unchanged") == false);
  const std::string md = plinth::test::read_file(run / "report.md");
  CHECK_THAT(md, Catch::Contains("## Interpolation between base and tuned") &&
                     Catch::Contains("## Where the forgetting comes from"));

  SECTION("plinth attribute adds the attribution to a LoRA run's report: untouched parts are listed") {
    run_ok(f, "eval lora.yaml --threads 2");
    CHECK_FALSE(fs::exists(f.dir() / "runs/ft-lora/attribution.svg"));
    const CommandResult r = f.plinth("attribute lora.yaml --threads 2");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("q_proj (all blocks)"));
    const json lora = read_json(f.dir() / "runs/ft-lora/report.json");
    const json& lparts = lora.at("attribution");
    // embeddings, block 0, final norm, then the seven projection kinds
    REQUIRE(lparts.size() == 10);
    CHECK(lparts[0].at("unchanged") == true);  // LoRA on q and v leaves the embeddings alone
    CHECK(lparts[1].at("unchanged") == false);
    CHECK(lparts[2].at("unchanged") == true);
    CHECK(lparts[3].at("label") == "q_proj (all blocks)");
    CHECK(lparts[3].at("unchanged") == false);
    CHECK(lparts[4].at("label") == "k_proj (all blocks)");
    CHECK(lparts[4].at("unchanged") == true);
    // Restoring block 0 (every adapted weight) gives the base back: all forgetting recovered.
    const double recovered = lparts[1].at("mean_recovered_pts").get<double>();
    CHECK(recovered == Approx(lora.at("overall").at("mean_forgetting_pct").get<double>()).margin(1e-9));
    CHECK(fs::exists(f.dir() / "runs/ft-lora/attribution.svg"));
  }

  SECTION("plinth report overlays the runs' interpolation curves") {
    run_ok(f, "eval lora.yaml --threads 2 eval.interpolate=[0.25,0.75]");
    run_ok(f, "report runs/ft-full runs/ft-lora --out cmp");
    const std::string svg = plinth::test::read_file(f.dir() / "cmp/interpolation.svg");
    CHECK_THAT(
        svg, Catch::Contains("class=\"curve\"") && Catch::Contains("ft-full") && Catch::Contains("ft-lora"));
  }

  SECTION("bad input: attribute without a report, alpha outside [0, 1] or twice, a pretraining recipe") {
    CommandResult r = f.plinth("attribute lora.yaml --threads 2");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output,
               Catch::Contains("runs/ft-lora holds no report.json") && Catch::Contains("plinth eval"));
    r = f.plinth("eval full.yaml --threads 2 eval.interpolate=[0.5,1.5]");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("eval.interpolate") && Catch::Contains("α = 1.5 is outside [0, 1]"));
    r = f.plinth("eval full.yaml --threads 2 eval.interpolate=[0.5,0.5]");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("eval.interpolate") && Catch::Contains("listed twice"));
    r = f.plinth("attribute base.yaml");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("base.yaml is not a fine-tuning recipe"));
  }
}
