// Torch first: its logging header defines CHECK; catch.hpp must come after it so that CHECK
// is Catch's assertion.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <csignal>

#include "model/checkpoint_file.h"
#include "train/checkpoint_files.h"
#include "train/metrics_log.h"
#include "train_fixture.h"

using namespace plinth;
namespace fs = std::filesystem;

namespace {

// Every tensor of the two checkpoints is bitwise equal (weights, AdamW moments and steps,
// generator state) and so is the run state in the metadata.
void require_same_checkpoint(const fs::path& a, const fs::path& b) {
  auto ca = model::read_checkpoint(a), cb = model::read_checkpoint(b);
  for (const char* key : {"step", "sampler_cursor", "model_config", "tokenizer_hash"})
    CHECK(ca.meta.at(key) == cb.meta.at(key));
  REQUIRE(ca.tensors.size() == cb.tensors.size());
  for (size_t i = 0; i < ca.tensors.size(); ++i) {
    INFO(ca.tensors[i].first);
    REQUIRE(ca.tensors[i].first == cb.tensors[i].first);
    CHECK(torch::equal(ca.tensors[i].second, cb.tensors[i].second));
  }
}

}  // namespace

TEST_CASE("resume is bit-exact on the CPU", "[train]") {
  // Both runs have the same schedule (steps = 8); the interrupted one stops after step 4 on a
  // signal, as a user's Ctrl-C would, and a new trainer with a new model resumes it.
  test::TinyRun straight, split;
  straight.spec.grad_accum = split.spec.grad_accum = 2;  // accumulation state must not leak either

  model::Llama straight_model{nullptr};
  auto straight_result = straight.trainer(&straight_model)->run();
  REQUIRE(straight_result.end_step == 8);

  split.after_step = [](int64_t step, double) {
    if (step == 4) std::raise(SIGINT);
  };
  auto first = split.trainer()->run();
  REQUIRE(first.signal == SIGINT);
  REQUIRE(first.end_step == 4);
  split.after_step = nullptr;

  // A crash after the checkpoint may leave later lines in metrics.jsonl; resume must drop them.
  {
    std::ofstream out(fs::path(split.spec.run_dir) / "metrics.jsonl", std::ios::app);
    out << "{\"step\": 5, \"loss\": 1.0}\n{\"step\": 6, \"lo";
  }

  model::Llama resumed_model{nullptr};
  auto second_trainer = split.trainer(&resumed_model);
  second_trainer->resume(*train::latest_checkpoint(split.spec.run_dir));
  CHECK(second_trainer->step() == 4);
  auto second = second_trainer->run();
  CHECK(second.start_step == 4);
  CHECK(second.end_step == 8);
  CHECK(second.signal == 0);

  auto a = straight_model->named_parameters(), b = resumed_model->named_parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].key());
    CHECK(torch::equal(a[i].value(), b[i].value()));
  }
  require_same_checkpoint(train::step_checkpoint_path(straight.spec.run_dir, 8),
                          train::step_checkpoint_path(split.spec.run_dir, 8));
  CHECK(second.last_loss == straight_result.last_loss);

  // The metrics history reads as one run: every step once, in order.
  auto records = train::read_metrics(fs::path(split.spec.run_dir) / "metrics.jsonl");
  std::vector<int64_t> steps;
  for (const auto& r : records) steps.push_back(r.step);
  CHECK(steps == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8});
  auto straight_records = train::read_metrics(fs::path(straight.spec.run_dir) / "metrics.jsonl");
  REQUIRE(straight_records.size() == records.size());
  for (size_t i = 1; i < records.size(); ++i) CHECK(records[i].loss == straight_records[i].loss);
}
