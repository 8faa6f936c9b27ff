// select: choosing tuned.ckpt on a forgetting budget. The rule on hand-made panels; then real
// tiny fine-tunes through the binary: a huge budget keeps the best task validation loss, a budget
// just below that step's forgetting keeps another step (tuned.ckpt holding exactly that step's
// weights), and a run stopped in the middle and resumed chooses as the uninterrupted one did.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/cli_fixture.h"
#include "finetune/finetune_recipe.h"
#include "finetune/selection_rule.h"
#include "model/checkpoint_file.h"
#include "recipe/recipe.h"
#include "train/checkpoint_files.h"
#include "util/atomic_file.h"
#include "util/error.h"

using namespace plinth;
using plinth::test::CliFixture;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

finetune::Panel panel(int64_t step, double task, double alpha, double beta) {
  return {step, task, {{"alpha", alpha}, {"beta", beta}}};
}

finetune::SelectSpec budget(double mean, double worst = 0) {
  finetune::SelectSpec s;
  s.every = 2;
  s.max_forgetting = mean;
  s.max_worst_forgetting = worst;
  return s;
}

// A base trained long enough that fine-tuning at a high learning rate makes it forget.
struct SelectFixture : CliFixture {
  SelectFixture() {
    recipe(CliFixture::task_data_recipe(), "data.yaml");
    recipe(
        "include: data.yaml\nname: base\nmodel: {dim: 32, layers: 1, heads: 2, context: 32}\n"
        "train: {steps: 40, warmup_steps: 2, lr: 5e-3, batch_size: 8, eval_every: 40, eval_tokens: 256, "
        "checkpoint_every: 40, precision: fp32, device: cpu}\n",
        "base.yaml");
    recipe(
        "include: data.yaml\nname: ft\n"
        "finetune: {base: runs/base, method: full, replay: {fraction: 0.25, source: generated, documents: "
        "24}, "
        "distill: {weight: 0.5, on: generated}}\n"
        "task: {format: tsv, path: task.tsv, val_fraction: 0.25, test_fraction: 0.1}\n"
        "train: {steps: 8, warmup_steps: 1, lr: 2e-2, batch_size: 4, eval_every: 8, checkpoint_every: 8, "
        "keep_last: 0, precision: fp32, device: cpu}\n"
        "eval: {max_tokens: 256}\n"
        "select: {every: 2, max_forgetting: 99%, panel_tokens: 512}\n",
        "ft.yaml");
    dir().write("task.tsv", CliFixture::task_tsv());
    for (const char* cmd :
         {"tokenizer train base.yaml", "prepare base.yaml", "pretrain base.yaml --threads 2"})
      run(cmd);
  }
  std::string run(const std::string& args) const {
    auto r = plinth(args);
    INFO("plinth " << args << "\n" << r.output);
    REQUIRE(r.exit_code == 0);
    return r.output;
  }
  json selection(const std::string& run) const {
    return json::parse(read_file(dir() / run / "selection.json"));
  }
};

// Every "model/" tensor of `a` equals (bit for bit) the one of the same name in `b`.
bool same_weights(const fs::path& a, const fs::path& b) {
  const model::CheckpointContents x = model::read_checkpoint(a), y = model::read_checkpoint(b);
  int compared = 0;
  for (const auto& [name, t] : x.tensors) {
    if (name.rfind("model/", 0) != 0) continue;
    const torch::Tensor* u = y.find(name);
    if (!u || !torch::equal(t, *u)) return false;
    ++compared;
  }
  return compared > 0;
}

// The step a budget of `pct` percent on the mean keeps, from selection.json's panels.
int64_t expected_step(const json& panels, double pct) {
  int64_t best = 0;
  double best_loss = INFINITY;
  for (const auto& p : panels)
    if (p["step"].get<int64_t>() > 0 && p["forgetting_mean_pct"].get<double>() <= pct &&
        p["task_val_loss"].get<double>() < best_loss) {
      best = p["step"].get<int64_t>();
      best_loss = p["task_val_loss"].get<double>();
    }
  return best;
}

}  // namespace

TEST_CASE("select_step: the best task loss within the budget, the base only when nothing fits",
          "[finetune][select]") {
  // mean forgetting: step 2 +5%, step 4 +12.5% (alpha +25%, beta 0), step 6 +30% (alpha +40%)
  const std::vector<finetune::Panel> panels = {panel(0, 3.0, 2.0, 4.0), panel(2, 2.5, 2.2, 4.0),
                                               panel(4, 2.0, 2.5, 4.0), panel(6, 1.5, 2.8, 4.8)};
  CHECK(finetune::select_step(panels, budget(0)).step == 6);  // no budget: the best task loss
  CHECK(finetune::select_step(panels, budget(0.5)).step == 6);
  CHECK(finetune::select_step(panels, budget(0.125)).step == 4);  // the budget is inclusive
  CHECK(finetune::select_step(panels, budget(0.10)).step == 2);
  CHECK(finetune::select_step(panels, budget(0.5, 0.2)).step == 2);  // worst domain at step 4: +25%
  const finetune::Selection none = finetune::select_step(panels, budget(0.01));
  CHECK(none.step == 0);
  CHECK_FALSE(none.within_budget);
  CHECK_THAT(none.reason, Catch::Contains("none of the 3 panel steps") && Catch::Contains("base (step 0)"));
  CHECK(finetune::select_step({panels[0]}, budget(0.5)).step == 0);
  // Ties go to the earlier step (fewer steps away from the base).
  CHECK(finetune::select_step({panels[0], panel(2, 2.0, 2.0, 4.0), panel(4, 2.0, 2.0, 4.0)}, budget(0.5))
            .step == 2);

  const auto f = finetune::panel_forgetting(panels[2], panels[0]);
  CHECK(f[0].second == 25.0);
  CHECK(f[1].second == 0.0);
  CHECK(finetune::mean_forgetting(f) == 12.5);
  CHECK(finetune::worst_forgetting(f) == 25.0);

  // The panels survive their checkpoint meta bit for bit.
  std::vector<finetune::Panel> odd = panels;
  odd[1].nll[0].second = 0.1 + 0.2;
  const auto back = finetune::panels_from_json(finetune::panels_to_json(odd), "test");
  REQUIRE(back.size() == odd.size());
  CHECK(back[1].nll[0].second == odd[1].nll[0].second);
  CHECK(back[3].task_val_loss == odd[3].task_val_loss);
  CHECK_THROWS_AS(finetune::panels_from_json("{\"step\": 1}", "ckpt"), BadInput);
}

TEST_CASE("select: bad every, budgets and keys name the key", "[finetune][select]") {
  test::TempDir dir;
  dir.write("task.tsv", CliFixture::task_tsv());
  auto problem = [&](const std::string& select) {
    const fs::path file =
        dir.write("ft.yaml",
                  "data:\n  shards: shards\n  domains:\n    - name: gpl\n      sources:\n"
                  "        - {path: /usr/share/common-licenses/GPL-3, documents: blank_line}\n"
                  "finetune: {base: runs/base}\ntask: {format: tsv, path: " +
                      (dir / "task.tsv").string() + "}\nselect: " + select + "\n");
    try {
      finetune::bind_finetune_recipe(load_and_bind(file.string(), {}), 0);
    } catch (const BadInput& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(problem("{every: 5, max_forgetting: 5%}") == "");
  CHECK(problem("{every: 5, max_forgetting: 0.05, max_worst_forgetting: 10%, panel_tokens: 100}") == "");
  CHECK_THAT(problem("{every: 0}"), Catch::Contains("select.every") && Catch::Contains("out of range"));
  CHECK_THAT(problem("{every: 2.5}"), Catch::Contains("select.every") && Catch::Contains("integer"));
  CHECK_THAT(problem("{max_forgetting: 5%}"), Catch::Contains("select.every"));
  CHECK_THAT(problem("{every: 5, max_forgetting: lots}"),
             Catch::Contains("select.max_forgetting") && Catch::Contains("not a fraction"));
  CHECK_THAT(problem("{every: 5, max_forgetting: 150%}"), Catch::Contains("select.max_forgetting"));
  CHECK_THAT(problem("{every: 5, max_forgeting: 5%}"),
             Catch::Contains("select.max_forgeting") && Catch::Contains("did you mean 'max_forgetting'"));
}

// The fine-tune replays documents its base generated and distils to the base on them
// (finetune.replay.source: generated, finetune.distill): select: and the bit-exact resume hold with both.
TEST_CASE("select: a fine-tune keeps the best step within its forgetting budget, also when resumed",
          "[finetune][select]") {
  SelectFixture f;

  // A huge budget: the step with the best task validation loss.
  const std::string out = f.run("finetune ft.yaml --threads 2");
  const json wide = f.selection("runs/ft");
  INFO(wide.dump(2));
  const json& panels = wide["panels"];
  REQUIRE(panels.size() == 5);  // steps 0, 2, 4, 6, 8
  CHECK(panels[0]["forgetting_mean_pct"].get<double>() == 0.0);
  CHECK(wide["last"]["step"] == 8);
  const int64_t best = wide["selected_step"].get<int64_t>();
  CHECK(best == expected_step(panels, 99.0));
  REQUIRE(best > 0);
  CHECK_THAT(out, Catch::Contains("select: step " + std::to_string(best)) &&
                      Catch::Contains("the last step, 8, would have given") &&
                      Catch::Contains("the panels took"));
  const fs::path run = f.dir() / "runs/ft";
  CHECK(same_weights(run / "tuned.ckpt", train::step_checkpoint_path(run, best)));
  const auto meta = model::read_checkpoint_meta(run / "tuned.ckpt");
  CHECK(meta.at("selected_step") == std::to_string(best));
  CHECK_THAT(meta.at("selected_reason"), Catch::Contains("best task validation loss"));
  CHECK(wide["cost"]["panel_share_of_training"].get<double>() > 0);
  CHECK(wide["rule"]["panel_precision"] == "fp32");

  // metrics.jsonl holds a panel line per panel step, with the task's validation loss.
  std::vector<int64_t> panel_steps;
  std::ifstream metrics(run / "metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) {
    const json j = json::parse(line);
    if (!j.contains("forgetting")) continue;
    panel_steps.push_back(j["step"].get<int64_t>());
    CHECK(j.contains("forgetting_mean"));
    CHECK(j.contains("panel_s"));
    CHECK(j["forgetting"].size() == 2);
    CHECK(j.contains("val_loss"));
    // Distillation to the base (finetune.distill): its KL is logged beside the loss.
    if (j["step"].get<int64_t>() > 0) CHECK(j["distill_kl"].get<double>() >= 0.0);
    if (j["step"].get<int64_t>() > 0) CHECK(j.contains("replay_share"));
  }
  CHECK(panel_steps == std::vector<int64_t>{0, 2, 4, 6, 8});
  CHECK_THAT(read_file(run / "loss.svg"), Catch::Contains("forgetting on the selection panel"));

  // A budget just below that step's forgetting: another step (or the base, said loudly).
  const double forgot = panels[best / 2]["forgetting_mean_pct"].get<double>();
  if (forgot > 0) {
    const double pct = forgot * 0.999;
    const int64_t want = expected_step(panels, pct);
    const std::string tight = f.run(fmt::format(
        "finetune ft.yaml --threads 2 train.run_dir=runs/tight select.max_forgetting={:.17g}", pct / 100));
    const json sel = f.selection("runs/tight");
    CHECK(sel["selected_step"].get<int64_t>() == want);
    CHECK(want != best);
    const fs::path t = f.dir() / "runs/tight";
    if (want > 0) {
      CHECK(same_weights(t / "tuned.ckpt", train::step_checkpoint_path(t, want)));
    } else {
      CHECK_THAT(tight, Catch::Contains("NO STEP FITS THE BUDGET"));
      CHECK(same_weights(t / "tuned.ckpt", f.dir() / "runs/base/checkpoints/best.ckpt"));
    }
    // Every panel is the same as the uninterrupted wide run's: only the decision differs.
    CHECK(sel["panels"] == panels);
  } else {
    WARN("the fine-tune did not forget (mean " << forgot << "%): the tight budget is not exercised");
  }

  // Stopped after step 5 (a divergence injected at step 6's first attempt ends the run with the
  // step-4 checkpoint), then resumed: the same panels, the same choice, the same weights.
  const auto stopped =
      test::run_command("cd '" + f.dir().path().string() + "' && PLINTH_INJECT_NAN_AT_STEP=6 '" +
                        test::plinth_binary() + "' finetune ft.yaml --threads 2 train.run_dir=runs/resumed");
  INFO(stopped.output);
  REQUIRE(stopped.exit_code == 1);
  CHECK_THAT(stopped.output, Catch::Contains("training diverged"));
  f.run("finetune ft.yaml --threads 2 train.run_dir=runs/resumed --resume");
  const json resumed = f.selection("runs/resumed");
  CHECK(resumed["selected_step"] == wide["selected_step"]);
  CHECK(resumed["panels"] == panels);
  CHECK(same_weights(f.dir() / "runs/resumed/tuned.ckpt", run / "tuned.ckpt"));
  // Both sampled the same documents from the base (the same seed), and the resume reused its own.
  CHECK(read_file(f.dir() / "runs/resumed/replay/generated.bin") == read_file(run / "replay/generated.bin"));
}
