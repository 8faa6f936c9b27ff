// Torch first: its logging header defines CHECK; catch.hpp must come after it so that CHECK
// is Catch's assertion.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/checkpoint_file.h"
#include "train/checkpoint_files.h"
#include "train/metrics_log.h"
#include "train_fixture.h"
#include "util/atomic_file.h"

using namespace plinth;
namespace fs = std::filesystem;

TEST_CASE("a run leaves metrics.jsonl, loss.svg and recipe.yaml", "[train]") {
  test::TinyRun run;
  run.spec.log_every = 2;
  auto result = run.trainer()->run();
  const fs::path dir = run.spec.run_dir;

  std::ifstream in(dir / "metrics.jsonl");
  std::string line;
  std::vector<nlohmann::json> lines;
  while (std::getline(in, line))
    lines.push_back(nlohmann::json::parse(line));  // throws if a line is not JSON
  REQUIRE(lines.size() == 5);                      // step 0 (validation only), 2, 4, 6, 8
  CHECK(lines[0]["step"] == 0);
  CHECK(lines[0].contains("val_loss"));
  CHECK_FALSE(lines[0].contains("loss"));
  for (size_t i = 1; i < lines.size(); ++i) {
    CHECK(lines[i]["step"] == 2 * i);
    for (const char* key : {"loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s"})
      CHECK(lines[i][key].is_number());
  }
  // Validation on steps 4 and 8 (eval_every 4), per domain, with the mean.
  CHECK_FALSE(lines[1].contains("val_loss"));
  for (size_t i : {2, 4}) {
    REQUIRE(lines[i].contains("val_loss"));
    CHECK(lines[i]["val_loss"]["alpha"].is_number());
    CHECK(lines[i]["val_loss"]["beta"].is_number());
    CHECK(lines[i]["val_loss_mean"].is_number());
  }
  REQUIRE(result.last_val.size() == 2);
  CHECK(result.last_val[0].first == "alpha");

  std::string svg = read_file(dir / "loss.svg");
  CHECK_THAT(svg, Catch::StartsWith("<svg"));
  CHECK_THAT(svg, Catch::Contains("val alpha"));
  CHECK_THAT(svg, Catch::Contains("<polyline"));
  CHECK(read_file(dir / "recipe.yaml") == "name: tiny\n");
}

TEST_CASE("step_once takes run()'s step: the same loss and the same weights after two steps", "[train]") {
  // plinth bench train times Trainer::step_once; it must be the step the runs take.
  test::TinyRun ran, stepped;
  ran.spec.steps = stepped.spec.steps = 2;
  ran.spec.warmup_steps = stepped.spec.warmup_steps = 1;
  double last_loss = 0;
  ran.after_step = [&](int64_t, double loss) { last_loss = loss; };
  model::Llama a{nullptr}, b{nullptr};
  ran.trainer(&a)->run();
  auto trainer = stepped.trainer(&b);
  trainer->step_once();
  const double loss = trainer->step_once();
  CHECK(trainer->step() == 2);
  CHECK(loss == last_loss);
  const auto pa = a->named_parameters(), pb = b->named_parameters();
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    INFO(pa[i].key());
    CHECK(torch::equal(pa[i].value(), pb[i].value()));
  }
}

TEST_CASE("bf16 autocast trains and lowers the loss", "[train]") {
  test::TinyRun run;
  run.spec.precision = Precision::bf16;
  run.spec.steps = 12;
  run.spec.eval_every = 0;
  model::Llama model{nullptr};
  auto result = run.trainer(&model)->run();
  auto records = train::read_metrics(fs::path(run.spec.run_dir) / "metrics.jsonl");
  REQUIRE(records.size() == 13);
  const double before = records.front().val_loss[0].second + records.front().val_loss[1].second;
  const double after = records.back().val_loss[0].second + records.back().val_loss[1].second;
  for (const auto& r : records) UNSCOPED_INFO(r.to_json());
  CHECK(after < before - 0.5);
  CHECK(records.back().loss < records[1].loss);
  // Master weights stay fp32.
  for (const auto& p : model->parameters()) CHECK(p.scalar_type() == torch::kFloat32);
}

TEST_CASE("gradient accumulation: 2 micro-batches of 2 equal one batch of 4", "[train]") {
  auto weights_after_one_step = [](int batch, int accum) {
    test::TinyRun run;
    run.spec.steps = 1;
    run.spec.warmup_steps = 0;
    run.spec.batch_size = batch;
    run.spec.grad_accum = accum;
    run.spec.eval_every = 0;
    run.spec.grad_clip = 0.5;  // clipping sees the accumulated gradient
    model::Llama model{nullptr};
    run.trainer(&model)->run();
    std::vector<torch::Tensor> out;
    for (const auto& p : model->parameters()) out.push_back(p.detach().clone());
    return out;
  };
  auto one = weights_after_one_step(4, 1), two = weights_after_one_step(2, 2);
  REQUIRE(one.size() == two.size());
  // The sums run in another order, and Adam's first step divides each gradient by its own
  // magnitude (+ eps): float rounding of a near-zero gradient moves its weight by up to a few
  // percent of one step (lr 3e-4). A wrong accumulation would move whole steps.
  for (size_t i = 0; i < one.size(); ++i) {
    INFO("parameter " << i << " max diff " << (one[i] - two[i]).abs().max().item<double>());
    CHECK(torch::allclose(one[i], two[i], 1e-5, 1e-5));
  }
}

TEST_CASE("SIGTERM finishes the step, writes a checkpoint and reports the signal", "[train]") {
  struct sigaction before {};
  sigaction(SIGTERM, nullptr, &before);
  test::TinyRun run;
  run.spec.steps = 20;
  run.after_step = [](int64_t step, double) {
    if (step == 3) std::raise(SIGTERM);
  };
  auto result = run.trainer()->run();
  CHECK(result.signal == SIGTERM);
  CHECK(result.end_step == 3);
  const fs::path ckpt = train::step_checkpoint_path(run.spec.run_dir, 3);
  REQUIRE(fs::exists(ckpt));
  CHECK(result.last_checkpoint == ckpt);
  CHECK(model::read_checkpoint(ckpt).meta.at("step") == "3");
  CHECK(*train::latest_checkpoint(run.spec.run_dir) == ckpt);
  // The trainer's handler is gone after run(): the one before it is back.
  struct sigaction now {};
  sigaction(SIGTERM, nullptr, &now);
  CHECK(now.sa_handler == before.sa_handler);
}

TEST_CASE("a finished run resumed again has nothing to do", "[train]") {
  test::TinyRun run;
  run.spec.steps = 2;
  run.spec.eval_every = 0;
  run.trainer()->run();
  auto t = run.trainer();
  t->resume(*train::latest_checkpoint(run.spec.run_dir));
  auto result = t->run();
  CHECK(result.start_step == 2);
  CHECK(result.end_step == 2);
  CHECK(result.last_checkpoint == train::step_checkpoint_path(run.spec.run_dir, 2));
}
