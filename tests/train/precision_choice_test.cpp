// train.precision: auto (precision_choice.h): measured, deterministic where it must be, and
// a resumed run keeps the precision it began with.
#include "train/precision_choice.h"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

#include <catch2/catch.hpp>

#include "model/checkpoint_file.h"
#include "small_config.h"
#include "test_support.h"
#include "train_fixture.h"

namespace plinth::train {
namespace {

model::ModelConfig tiny() {
  return test::small_config(64);
}

TEST_CASE("precision auto: a stated precision is kept, auto is measured and the faster taken", "[train]") {
  TrainSpec spec;
  spec.batch_size = 4;
  for (Precision stated : {Precision::fp32, Precision::bf16}) {
    spec.precision = stated;
    const PrecisionChoice c = choose_training_precision(spec, tiny(), torch::kCPU, std::nullopt, nullptr);
    CHECK(c.precision == stated);
    CHECK(c.fp32_ms == 0);  // nothing measured
    CHECK(c.bf16_ms == 0);
  }
  spec.precision = std::nullopt;  // auto
  // Measuring leaves the global generator where it was: the run's initial weights do not depend
  // on whether auto measured first.
  torch::manual_seed(7);
  const PrecisionChoice c = choose_training_precision(spec, tiny(), torch::kCPU, std::nullopt, nullptr);
  const torch::Tensor after = torch::randn({4});
  torch::manual_seed(7);
  CHECK(torch::equal(after, torch::randn({4})));
  CHECK(c.fp32_ms > 0);
  CHECK(c.bf16_ms > 0);
  CHECK(c.precision == (c.bf16_ms < c.fp32_ms ? Precision::bf16 : Precision::fp32));
  CHECK_THAT(c.reason, Catch::Contains("ms in fp32"));

  TrainSpec settled = spec;
  settle_training_precision(settled, tiny(), torch::kCPU, std::nullopt, nullptr);
  CHECK(settled.precision.has_value());
}

TEST_CASE("precision auto: the faster measured step wins; a bf16 step that fails means fp32", "[train]") {
  TrainSpec spec;
  spec.batch_size = 4;
  spec.precision = std::nullopt;  // auto
  const StepTimer bf16_faster = [](const model::ModelConfig&, int64_t, const torch::Device&, bool bf16) {
    return bf16 ? 0.1 : 0.2;
  };
  PrecisionChoice c =
      choose_training_precision(spec, tiny(), torch::kCPU, std::nullopt, nullptr, bf16_faster);
  CHECK(c.precision == Precision::bf16);
  CHECK_THAT(c.reason, Catch::Contains("took 200 ms in fp32 and 100 ms in bf16 here"));
  // LibTorch sending bf16 matmuls to a oneDNN without bf16 kernels throws at the first step.
  const StepTimer bf16_fails = [](const model::ModelConfig&, int64_t, const torch::Device&, bool bf16) {
    if (bf16) throw std::runtime_error("could not create a primitive descriptor iterator\nbacktrace lines");
    return 0.2;
  };
  c = choose_training_precision(spec, tiny(), torch::kCPU, std::nullopt, nullptr, bf16_fails);
  CHECK(c.precision == Precision::fp32);
  CHECK(std::isinf(c.bf16_ms));
  CHECK(c.reason ==
        "a bf16 step failed here (could not create a primitive descriptor iterator); a step of 4 x 16 tokens "
        "took 200 ms in fp32");
}

TEST_CASE("precision auto: a resumed run trains in the precision its checkpoint records", "[train]") {
  test::TempDir dir;
  TrainSpec spec;
  spec.precision = std::nullopt;  // auto
  for (const char* recorded : {"bf16", "fp32"}) {
    model::CheckpointContents c;
    c.meta["precision"] = recorded;
    c.meta["step"] = "10";
    const auto file = dir / (std::string(recorded) + ".ckpt");
    model::write_checkpoint(file, c);
    const PrecisionChoice choice = choose_training_precision(spec, tiny(), torch::kCPU, file, nullptr);
    CHECK(precision_name(choice.precision) == std::string(recorded));
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
  run.spec.precision = std::nullopt;  // auto
  CHECK_THROWS_WITH(run.trainer(), Catch::Contains("settle_training_precision"));
}

}  // namespace
}  // namespace plinth::train
