// MetricsLog's TensorBoard events: every line of metrics.jsonl at its step under grouped tags,
// and a resumed or rolled-back log that never holds a step twice.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "test_support.h"
#include "train/metrics_log.h"
#include "util/tensorboard_events.h"

namespace fs = std::filesystem;
using namespace plinth;
using train::MetricsLog;
using train::MetricsRecord;

namespace {

MetricsRecord line(int64_t step) {
  MetricsRecord r;
  r.step = step;
  r.loss = 4.0 / static_cast<double>(step + 1);
  r.lr = 3e-4 * static_cast<double>(step);
  r.grad_norm = 0.61;
  r.tokens_per_s = 5120.3;
  r.elapsed_s = 1.5 * static_cast<double>(step);
  if (step % 2 == 0) r.val_loss = {{"code", 4.5}, {"legal", std::nan("")}, {"prose", 3.5}};
  return r;
}

// step -> tag -> value, over the scalar events of a tb/ folder.
std::map<int64_t, std::map<std::string, float>> scalars(const fs::path& tb) {
  std::map<int64_t, std::map<std::string, float>> out;
  for (const auto& e : read_event_dir(tb))
    for (const auto& s : e.scalars) {
      INFO(s.tag << " at step " << e.step);
      CHECK(out[e.step].count(s.tag) == 0);  // never a step twice
      out[e.step][s.tag] = s.value;
    }
  return out;
}

std::vector<int64_t> steps_of(const std::map<int64_t, std::map<std::string, float>>& m) {
  std::vector<int64_t> out;
  for (const auto& [step, tags] : m) out.push_back(step);
  return out;
}

}  // namespace

TEST_CASE("Every metrics line is a TensorBoard event under grouped tags", "[train][tensorboard]") {
  MetricsRecord r = line(4);
  r.penalty = 0.25;
  r.replay_share = 0.2;
  r.forgetting = {{"code", 1.5}, {"prose", -0.5}};
  r.panel_s = 2.0;
  r.wall_time = 1765000000.5;
  const TensorBoardEvent e = train::tensorboard_event(r);
  CHECK(e.step == 4);
  CHECK(e.wall_time == 1765000000.5);
  std::map<std::string, float> tags;
  for (const auto& s : e.scalars) tags[s.tag] = s.value;
  CHECK(tags == std::map<std::string, float>{{"train/loss", 0.8f},
                                             {"train/lr", static_cast<float>(r.lr)},
                                             {"train/grad_norm", 0.61f},
                                             {"train/tokens_per_s", 5120.3f},
                                             {"train/elapsed_s", 6.0f},
                                             {"train/penalty", 0.25f},
                                             {"train/replay_share", 0.2f},
                                             {"val/code", 4.5f},
                                             {"val/prose", 3.5f},
                                             {"val/mean", 4.0f},  // the finite ones', as val_loss_mean
                                             {"forgetting/code", 1.5f},
                                             {"forgetting/prose", -0.5f},
                                             {"forgetting/mean", 0.5f},
                                             {"forgetting/panel_s", 2.0f}});
}

TEST_CASE("MetricsLog writes tb/ beside metrics.jsonl; a resume and a rollback keep each step once",
          "[train][tensorboard]") {
  test::TempDir dir;
  const fs::path jsonl = dir / "metrics.jsonl", tb = dir / "tb";
  {
    MetricsLog log(jsonl, -1, tb);
    for (int64_t step = 0; step <= 6; ++step) log.append(line(step));
  }
  const auto records = train::read_metrics(jsonl);
  REQUIRE(records.size() == 7);
  CHECK(std::isfinite(records[3].wall_time));
  auto events = scalars(tb);
  CHECK(steps_of(events) == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6});
  CHECK(events[3]["train/loss"] == static_cast<float>(records[3].loss));
  CHECK(events[4]["val/code"] == 4.5f);
  CHECK(events[4].count("val/legal") == 0);  // null in metrics.jsonl: no point
  CHECK(events[3].count("val/mean") == 0);

  SECTION("resumed from step 4's checkpoint: steps 5 and 6 are logged again, once") {
    {
      MetricsLog log(jsonl, 4, tb);
      CHECK(steps_of(scalars(tb)) == std::vector<int64_t>{0, 1, 2, 3, 4});
      MetricsRecord again = line(5);
      again.loss = 9.0;
      log.append(again);
      log.append(line(6));
    }
    events = scalars(tb);
    CHECK(steps_of(events) == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6});
    CHECK(events[5]["train/loss"] == 9.0f);
    // The kept steps keep the times they were logged at.
    const auto kept = read_event_dir(tb);
    bool found = false;
    for (const auto& e : kept)
      if (e.step == 2 && !e.scalars.empty()) {
        found = true;
        CHECK(e.wall_time == records[2].wall_time);
      }
    CHECK(found);
  }
  SECTION("a rollback to step 2 drops the later events") {
    MetricsLog log(jsonl, 6, tb);
    log.rewind(2);
    CHECK(steps_of(scalars(tb)) == std::vector<int64_t>{0, 1, 2});
    log.append(line(3));
    CHECK(steps_of(scalars(tb)) == std::vector<int64_t>{0, 1, 2, 3});
  }
  SECTION("a kill mid-write: the torn record is gone once the run resumes") {
    fs::path file = fs::directory_iterator(tb)->path();
    fs::resize_file(file, fs::file_size(file) - 7);
    CHECK(steps_of(scalars(tb)) == std::vector<int64_t>{0, 1, 2, 3, 4, 5});
    MetricsLog log(jsonl, 6, tb);
    CHECK(steps_of(scalars(tb)) == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6});
    for (const auto& f : fs::directory_iterator(tb)) CHECK_FALSE(read_tfrecords(f.path()).torn);
  }
}

TEST_CASE("Without a tensorboard folder MetricsLog writes none", "[train][tensorboard]") {
  test::TempDir dir;
  MetricsLog log(dir / "metrics.jsonl", -1);
  log.append(line(0));
  CHECK(fs::exists(dir / "metrics.jsonl"));
  CHECK_FALSE(fs::exists(dir / "tb"));
}
