// train.precision: auto (precision_choice.h): measured, deterministic where it must be, and
// a resumed run keeps the precision it began with.
#include "train/precision_choice.h"

#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "model/checkpoint_file.h"
#include "test_support.h"
#include "train_fixture.h"

namespace plinth::train {
namespace {

model::ModelConfig tiny() {
  model::ModelConfig c;
  c.vocab_size = 64;
  c.dim = 32;
  c.layers = 1;
  c.heads = 2;
  c.context = 32;
  return c;
}

TEST_CASE("precision auto: a stated precision is kept, auto is measured and the faster taken", "[train]") {
  TrainSpec spec;
  spec.batch_size = 4;
  for (const char* stated : {"fp32", "bf16"}) {
    spec.precision = stated;
    const PrecisionChoice c = choose_training_precision(spec, tiny(), torch::kCPU, std::nullopt, nullptr);
    CHECK(c.precision == stated);
    CHECK(c.fp32_ms == 0);  // nothing measured
    CHECK(c.bf16_ms == 0);
  }
  spec.precision = "auto";
  // Measuring leaves the global generator where it was: the run's initial weights do not depend
  // on whether auto measured first.
  torch::manual_seed(7);
  const PrecisionChoice c = choose_training_precision(spec, tiny(), torch::kCPU, std::nullopt, nullptr);
  const torch::Tensor after = torch::randn({4});
  torch::manual_seed(7);
  CHECK(torch::equal(after, torch::randn({4})));
  CHECK(c.fp32_ms > 0);
  CHECK(c.bf16_ms > 0);
  CHECK(c.precision == (c.bf16_ms < c.fp32_ms ? "bf16" : "fp32"));
  CHECK_THAT(c.reason, Catch::Contains("ms in fp32"));

  TrainSpec settled = spec;
  settle_training_precision(settled, tiny(), torch::kCPU, std::nullopt, nullptr);
  CHECK((settled.precision == "fp32" || settled.precision == "bf16"));
}

TEST_CASE("precision auto: a resumed run trains in the precision its checkpoint records", "[train]") {
  test::TempDir dir;
  TrainSpec spec;
  spec.precision = "auto";
  for (const char* recorded : {"bf16", "fp32"}) {
    model::CheckpointContents c;
    c.meta["precision"] = recorded;
    c.meta["step"] = "10";
    const auto file = dir / (std::string(recorded) + ".ckpt");
    model::write_checkpoint(file, c);
    const PrecisionChoice choice = choose_training_precision(spec, tiny(), torch::kCPU, file, nullptr);
    CHECK(choice.precision == recorded);
    CHECK(choice.fp32_ms == 0);  // not measured again
    CHECK_THAT(choice.reason, Catch::Contains("as the run began"));
  }
  // A checkpoint that does not say (or cannot be read): measured as a new run would be.
  model::CheckpointContents bare;
  bare.meta["step"] = "10";
  model::write_checkpoint(dir / "bare.ckpt", bare);
  CHECK(choose_training_precision(spec, tiny(), torch::kCPU, dir / "bare.ckpt", nullptr).fp32_ms > 0);
  CHECK(choose_training_precision(spec, tiny(), torch::kCPU, dir / "missing.ckpt", nullptr).fp32_ms > 0);
}

TEST_CASE("precision auto: the trainer refuses a precision nobody settled", "[train]") {
  test::TinyRun run;
  run.spec.precision = "auto";
  CHECK_THROWS_WITH(run.trainer(), Catch::Contains("settle_training_precision"));
}

}  // namespace
}  // namespace plinth::train
