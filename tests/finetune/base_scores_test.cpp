// The base's kept scores (finetune/base_scores.h): read back exactly as kept, and never for
// another base, other inputs or other settings; a damaged entry is scored again.
#include "finetune/base_scores.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <limits>

#include "test_support.h"

namespace plinth::finetune {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& file, const std::string& text) {
  std::ofstream(file, std::ios::binary) << text;
}

eval::TaskScore task_score() {
  eval::TaskScore s;
  s.examples = 2;
  s.completion_tokens = 5;
  s.nll = 7.25;
  s.loss = 7.25 / 5;
  s.exact_match = 0.5;
  s.example_nll = {3.0000000000000004, 4.249999999999999};  // round-trips to the last bit
  s.example_tokens = {2, 3};
  s.generated = {{5, 6}, {}};
  s.correct = {true, false};
  return s;
}

TEST_CASE("base scores: kept and read back for the same base, inputs and settings only", "[finetune]") {
  test::TempDir dir;
  write(dir / "base.ckpt", "the base's bytes");
  write(dir / "other.ckpt", "another base's bytes");
  eval::EvalSpec spec;
  const fs::path run = dir / "runs/ft-a";
  const std::vector<eval::TaskItem> items = {{{1, 2, 3}, {4, 5}}, {{1, 7}, {8, 9, 5}}};

  const BaseScores kept(run, dir / "base.ckpt", spec, "cpu");
  CHECK_FALSE(kept.task(items, 5, 4));
  kept.keep_task(items, 5, 4, task_score());
  // Beside the runs, so a sibling fine-tune of the same base finds it.
  CHECK(fs::is_directory(dir / "runs/.base-scores"));
  const BaseScores sibling(dir / "runs/ft-b", dir / "base.ckpt", spec, "cpu");
  const auto back = sibling.task(items, 5, 4);
  REQUIRE(back);
  CHECK(back->examples == 2);
  CHECK(back->example_nll == task_score().example_nll);
  CHECK(back->example_tokens == task_score().example_tokens);
  CHECK(back->generated == task_score().generated);
  CHECK(back->correct == task_score().correct);
  CHECK(back->loss == task_score().loss);

  // Anything the scores depend on, changed: not found.
  CHECK_FALSE(BaseScores(run, dir / "other.ckpt", spec, "cpu").task(items, 5, 4));
  CHECK_FALSE(kept.task(items, 6, 4));  // end id
  CHECK_FALSE(kept.task(items, 5, 3));  // answer budget
  auto edited = items;
  edited[1].completion.back() = 6;
  CHECK_FALSE(kept.task(edited, 5, 4));
  eval::EvalSpec bf16 = spec;
  bf16.precision = Precision::bf16;
  CHECK_FALSE(BaseScores(run, dir / "base.ckpt", bf16, "cpu").task(items, 5, 4));
  eval::EvalSpec batch = spec;
  batch.batch_size = spec.batch_size + 1;
  CHECK_FALSE(BaseScores(run, dir / "base.ckpt", batch, "cpu").task(items, 5, 4));
  CHECK_FALSE(BaseScores(run, dir / "base.ckpt", spec, "cuda:0").task(items, 5, 4));
  write(dir / "base.ckpt", "the base's bytes, trained further");
  CHECK_FALSE(BaseScores(run, dir / "base.ckpt", spec, "cpu").task(items, 5, 4));
  write(dir / "base.ckpt", "the base's bytes");

  // A damaged entry: not read (a warning), and kept anew.
  for (const auto& e : fs::directory_iterator(dir / "runs/.base-scores")) write(e.path(), "{\"examples\": 2");
  CHECK_FALSE(kept.task(items, 5, 4));
  kept.keep_task(items, 5, 4, task_score());
  CHECK(kept.task(items, 5, 4));

  // A NaN score is not kept.
  eval::TaskScore nan = task_score();
  nan.example_nll[0] = std::numeric_limits<double>::quiet_NaN();
  kept.keep_task(items, 5, 9, nan);
  CHECK_FALSE(kept.task(items, 5, 9));
}

TEST_CASE("base scores: a suite's base columns, by its requests and context", "[finetune]") {
  test::TempDir dir;
  write(dir / "base.ckpt", "bytes");
  const BaseScores kept(dir / "runs/ft", dir / "base.ckpt", eval::EvalSpec{}, "cpu");
  eval::SuiteRequests s;
  s.choices = {{{{0, 1}, {2}}, {{0, 1}, {3, 4}}}};
  s.unconditional = {{{{0}, {2}}, {{0}, {3, 4}}}};
  s.result.base_ll = {{-1.5, -2.25}};
  s.result.base_ll_unconditional = {{-3.0, -4.0}};
  CHECK_FALSE(kept.suite(s, 16));
  kept.keep_suite(s, 16);

  eval::SuiteRequests again = s;
  again.result.base_ll.clear();
  again.result.base_ll_unconditional.clear();
  REQUIRE(kept.suite(again, 16));
  CHECK(again.result.base_ll == s.result.base_ll);
  CHECK(again.result.base_ll_unconditional == s.result.base_ll_unconditional);
  CHECK_FALSE(kept.suite(again, 8));  // another context cuts the requests otherwise
  again.choices[0][1].continuation = {3, 5};
  CHECK_FALSE(kept.suite(again, 16));
}

}  // namespace
}  // namespace plinth::finetune
