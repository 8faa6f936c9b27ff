// A step whose loss is NaN (PLINTH_INJECT_NAN_AT_STEP, the trainer's failpoint) under each
// train.on_divergence choice, and checkpoints that are damaged when a run resumes.
// Torch first: its logging header defines CHECK; catch.hpp must come after it.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

#include "model/checkpoint_file.h"
#include "train/checkpoint_files.h"
#include "train/metrics_log.h"
#include "train_fixture.h"
#include "util/error.h"

using namespace plinth;
namespace fs = std::filesystem;

namespace {

// Sets the failpoint for one trainer's life. The trainer reads the variable once per process,
// so each test names steps no other test in this program uses.
struct InjectNan {
  explicit InjectNan(const char* steps) { ::setenv("PLINTH_INJECT_NAN_AT_STEP", steps, 1); }
  ~InjectNan() { ::unsetenv("PLINTH_INJECT_NAN_AT_STEP"); }
};

}  // namespace

TEST_CASE("divergence, on_divergence stop (the default): exit-1 failure naming step and domains", "[train]") {
  InjectNan inject("3");
  test::TinyRun run;
  auto t = run.trainer();
  bool failed = false;
  try {
    t->run();
  } catch (const BadInput&) {
    FAIL("divergence is not bad input");
  } catch (const Failure& e) {
    failed = true;
    CHECK_THAT(std::string(e.what()), Catch::Contains("training diverged at step 3: loss nan") &&
                                          Catch::Contains("(batch from a") &&
                                          Catch::Contains("on_divergence"));
  }
  CHECK(failed);
  CHECK(t->step() == 2);  // steps 1 and 2 applied, 3 not
}

TEST_CASE("divergence, on_divergence skip: the step is dropped and counted - the count resumes", "[train]") {
  InjectNan inject("5");
  test::TinyRun run;
  run.spec.on_divergence = "skip";
  model::Llama m{nullptr};
  auto r = run.trainer(&m)->run();
  CHECK(r.end_step == 8);
  CHECK(r.skipped_steps == 1);
  bool counted = false;
  for (const auto& rec : train::read_metrics(fs::path(run.spec.run_dir) / "metrics.jsonl"))
    if (rec.step == 5) {
      CHECK(std::isnan(rec.loss));  // the window (log_every 1) held only the skipped step
      CHECK(rec.skipped_steps == 1);
      counted = true;
    }
  CHECK(counted);
  for (const auto& p : m->parameters()) CHECK(torch::isfinite(p).all().item<bool>());
  run.spec.steps = 10;
  auto again = run.trainer();
  again->resume(*train::latest_checkpoint(run.spec.run_dir));
  CHECK(again->run().skipped_steps == 1);
}

TEST_CASE("divergence, on_divergence skip: ten in a row stop the run", "[train]") {
  InjectNan inject("2,3,4,5,6,7,8,9,10,11,12");
  test::TinyRun run;
  run.spec.steps = 20;
  run.spec.on_divergence = "skip";
  CHECK_THROWS_WITH(run.trainer()->run(),
                    Catch::Contains("at step 11") && Catch::Contains("10 steps in a row"));
}

TEST_CASE("divergence, on_divergence rollback: the newest checkpoint, at half the learning rate", "[train]") {
  test::TinyRun run;
  run.spec.steps = 12;
  run.spec.on_divergence = "rollback";
  {
    // 6 diverges: back to step 4 (x0.5); then 7 (x0.25); then 8 (x0.125); then the run ends.
    InjectNan inject("6,7,8");
    auto r = run.trainer()->run();
    CHECK(r.end_step == 12);
    CHECK(r.rollbacks == 3);
    auto last = model::read_checkpoint(*train::latest_checkpoint(run.spec.run_dir));
    CHECK(std::stod(last.meta.at("lr_scale")) == Approx(0.125));
    const auto records = train::read_metrics(fs::path(run.spec.run_dir) / "metrics.jsonl");
    for (size_t i = 1; i < records.size(); ++i) CHECK(records[i].step > records[i - 1].step);
    CHECK(records.back().lr_scale == Approx(0.125));
  }
  {
    // A fourth divergence in one run: stop.
    InjectNan inject("6,7,8,10");
    run.spec.run_dir = (run.dir / "again").string();
    CHECK_THROWS_WITH(run.trainer()->run(), Catch::Contains("after 3 rollbacks"));
  }
  {
    // Nothing to roll back to before the first checkpoint.
    InjectNan inject("2");
    run.spec.run_dir = (run.dir / "early").string();
    CHECK_THROWS_WITH(run.trainer()->run(), Catch::Contains("no step checkpoint"));
  }
}

TEST_CASE("resume falls back past a damaged newest checkpoint and says which", "[train]") {
  test::TinyRun run;
  run.spec.steps = 8;
  run.spec.checkpoint_every = 2;
  run.trainer()->run();
  const fs::path newest = train::step_checkpoint_path(run.spec.run_dir, 8);
  const fs::path older = train::step_checkpoint_path(run.spec.run_dir, 6);
  REQUIRE(fs::exists(newest));
  // Flip one byte in the middle: the checksum no longer matches.
  {
    std::fstream f(newest, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(newest) / 2));
    f.put('\x5a');
  }
  CHECK_THROWS_AS(model::read_checkpoint(newest), model::DamagedCheckpoint);

  auto t = run.trainer();
  CHECK(t->resume_latest() == older);
  CHECK(t->step() == 6);
  CHECK_FALSE(fs::exists(newest));
  CHECK(fs::exists(fs::path(newest.string() + ".damaged")));
  CHECK(t->run().end_step == 8);  // and it trains on from there

  // Cut short (a copy interrupted): also damaged; every checkpoint damaged: a clear error.
  for (const auto& [step, file] : train::list_step_checkpoints(run.spec.run_dir))
    fs::resize_file(file, fs::file_size(file) / 3);
  CHECK_THROWS_WITH(run.trainer()->resume_latest(),
                    Catch::Contains("every checkpoint in") && Catch::Contains("is damaged"));
}

TEST_CASE("a checkpoint whose meta values are damaged is named in the error", "[train]") {
  test::TinyRun run;
  run.spec.steps = 4;
  run.trainer()->run();
  const fs::path file = *train::latest_checkpoint(run.spec.run_dir);
  for (const char* key : {"best_val_loss", "step", "lr_scale"}) {
    auto c = model::read_checkpoint(file);
    c.meta[key] = "not-a-number";
    const fs::path bad = run.dir / (std::string("bad-") + key + ".ckpt");
    model::write_checkpoint(bad, c);  // a valid file (checksum and all) with a bad value
    INFO(key);
    CHECK_THROWS_AS(run.trainer()->resume(bad), BadInput);
    CHECK_THROWS_WITH(run.trainer()->resume(bad), Catch::Contains(bad.string()) && Catch::Contains(key));
  }
}
