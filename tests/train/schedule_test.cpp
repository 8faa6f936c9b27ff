#include <catch2/catch.hpp>

#include "recipe/recipe_loader.h"
#include "train/train_spec.h"
#include "util/error.h"

using namespace plinth;
using train::learning_rate;
using train::TrainSpec;

namespace {

TrainSpec spec_with(const std::string& schedule) {
  TrainSpec s;
  s.steps = 101;
  s.warmup_steps = 10;
  s.lr = 1e-3;
  s.min_lr = 1e-4;
  s.schedule = schedule;
  return s;
}

// Binds `train:` from YAML text; returns the problems' text ("" when valid).
std::string bind_errors(const std::string& yaml, TrainSpec& spec) {
  ConfigNode root = recipe::parse_yaml(yaml, "recipe.yaml");
  Diagnostics diag;
  ConfigSection s(root.find("train"), "train", diag, Location{"recipe.yaml"});
  train::bind(s, spec);
  std::string text;
  for (const auto& p : diag.problems()) text += p.str() + "\n";
  return text;
}

}  // namespace

TEST_CASE("warmup rises linearly to lr", "[train]") {
  TrainSpec s = spec_with("cosine");
  CHECK(learning_rate(s, 0) == Approx(1e-4));
  CHECK(learning_rate(s, 4) == Approx(5e-4));
  CHECK(learning_rate(s, 9) == Approx(1e-3));
  CHECK(learning_rate(s, 10) == Approx(1e-3));  // first step of the schedule: the peak
}

TEST_CASE("cosine decays to min_lr at the last step", "[train]") {
  TrainSpec s = spec_with("cosine");
  CHECK(learning_rate(s, 55) == Approx(5.5e-4));  // halfway: the mean of lr and min_lr
  CHECK(learning_rate(s, 100) == Approx(1e-4));
  CHECK(learning_rate(s, 30) > learning_rate(s, 31));
}

TEST_CASE("linear decays evenly - constant stays at lr", "[train]") {
  TrainSpec s = spec_with("linear");
  CHECK(learning_rate(s, 32) - learning_rate(s, 33) == Approx(learning_rate(s, 80) - learning_rate(s, 81)));
  CHECK(learning_rate(s, 55) == Approx(5.5e-4));
  CHECK(learning_rate(s, 100) == Approx(1e-4));
  s.schedule = "constant";
  CHECK(learning_rate(s, 9) == Approx(1e-3));
  CHECK(learning_rate(s, 100) == Approx(1e-3));
}

TEST_CASE("no warmup starts at the peak", "[train]") {
  TrainSpec s = spec_with("cosine");
  s.warmup_steps = 0;
  CHECK(learning_rate(s, 0) == Approx(1e-3));
  CHECK(learning_rate(s, 100) == Approx(1e-4));
}

TEST_CASE("train section binds and validates", "[train]") {
  TrainSpec spec;
  SECTION("valid values are taken") {
    CHECK(
        bind_errors("train:\n  steps: 50\n  lr: 0.01\n  min_lr: 0.001\n  warmup_steps: 5\n  precision: bf16\n"
                    "  schedule: linear\n  keep_best: false\n",
                    spec) == "");
    CHECK(spec.steps == 50);
    CHECK(spec.precision == Precision::bf16);
    CHECK(spec.schedule == "linear");
    CHECK_FALSE(spec.keep_best);
    CHECK(bind_errors("train:\n  precision: auto\n", spec) == "");
    CHECK_FALSE(spec.precision.has_value());  // auto
    CHECK(spec.precision_word() == std::string("auto"));
  }
  SECTION("every problem is reported, with the key") {
    std::string errors = bind_errors(
        "train:\n  steps: 10\n  warmup_steps: 10\n  lr: 0.001\n  min_lr: 0.01\n  beta2: 1.0\n  precision: "
        "fp16\n"
        "  lr_max: 3\n",
        spec);
    CHECK_THAT(errors, Catch::Contains("train.warmup_steps"));
    CHECK_THAT(errors, Catch::Contains("train.min_lr"));
    CHECK_THAT(errors, Catch::Contains("train.beta2"));
    CHECK_THAT(errors, Catch::Contains("train.precision"));
    CHECK_THAT(errors, Catch::Contains("train.lr_max"));
    CHECK_THAT(errors, Catch::Contains("recipe.yaml:"));
  }
  SECTION("ranges") {
    CHECK_THAT(bind_errors("train:\n  batch_size: 0\n", spec), Catch::Contains("train.batch_size"));
    CHECK_THAT(bind_errors("train:\n  lr: 0\n", spec), Catch::Contains("train.lr"));
    CHECK_THAT(bind_errors("train:\n  device: tpu\n", spec), Catch::Contains("train.device"));
  }
}
