// Data-parallel training through the real binary on CPU ranks over Gloo (loopback): two ranks
// with a global batch of 16 against one process with a batch of 16, step for step, for
// pretraining and for fine-tunes (LoRA with replay and distillation on it; frozen layers with EWC,
// generated replay and distillation on the task; select:'s panels,
// sharded by domain, and its choice); a rank killed mid-run, the survivor's exit and message, and
// the resume of both.
#include <torch/torch.h>

#include <signal.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/cli_fixture.h"
#include "finetune/child_process.h"
#include "model/checkpoint_file.h"
#include "train/checkpoint_files.h"
#include "util/atomic_file.h"

using namespace plinth;
using plinth::test::CliFixture;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// fp32 on the CPU; the sums over ranks differ from one process's only in rounding order.
constexpr double kLossTolerance = 1e-5;
constexpr double kWeightTolerance = 1e-4;

struct DataParallelFixture : CliFixture {
  DataParallelFixture() {
    recipe(CliFixture::task_data_recipe(), "data.yaml");
    recipe(
        "include: data.yaml\nname: base\nmodel: {dim: 32, layers: 2, heads: 2, context: 32}\n"
        "train: {steps: 20, warmup_steps: 2, lr: 3e-3, batch_size: 16, log_every: 1, eval_every: 10, "
        "eval_tokens: 2048, checkpoint_every: 10, precision: fp32, device: cpu}\n",
        "base.yaml");
    dir().write("task.tsv", CliFixture::task_tsv());
    for (const char* cmd : {"tokenizer train base.yaml", "prepare base.yaml"}) {
      auto r = plinth(cmd);
      INFO(cmd << "\n" << r.output);
      REQUIRE(r.exit_code == 0);
    }
  }
  void run(const std::string& args) const {
    auto r = plinth(args);
    INFO("plinth " << args << "\n" << r.output);
    REQUIRE(r.exit_code == 0);
  }
};

// step -> training loss (log_every: 1), or "<step> <domain>" -> validation loss, from a run's
// metrics.jsonl.
std::map<std::string, double> metric(const fs::path& run_dir, bool validation) {
  std::ifstream in(run_dir / "metrics.jsonl");
  std::map<std::string, double> out;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    const std::string step = std::to_string(j["step"].get<int64_t>());
    if (!validation && j.contains("loss")) out[step] = j["loss"].get<double>();
    if (validation && j.contains("val_loss"))
      for (const auto& [domain, loss] : j["val_loss"].items()) out[step + " " + domain] = loss.get<double>();
  }
  return out;
}

// The largest |difference| between the two checkpoints' model weights.
double max_weight_difference(const fs::path& a, const fs::path& b) {
  const model::CheckpointContents x = model::read_checkpoint(a), y = model::read_checkpoint(b);
  double worst = 0;
  int compared = 0;
  for (const auto& [name, t] : x.tensors) {
    if (name.rfind("model/", 0) != 0) continue;
    const torch::Tensor* u = y.find(name);
    REQUIRE(u);
    worst = std::max(worst, (t - *u).abs().max().item<double>());
    ++compared;
  }
  REQUIRE(compared > 0);
  return worst;
}

// Training losses step for step, and the validation losses (sharded across the ranks) at every
// evaluation: `evaluations` of them, each of every domain.
void check_same_steps(const fs::path& one, const fs::path& two, int64_t steps, size_t evaluations) {
  for (bool validation : {false, true}) {
    const auto a = metric(one, validation), b = metric(two, validation);
    if (validation)
      CHECK(a.size() >= evaluations);
    else
      REQUIRE(a.size() == static_cast<size_t>(steps));
    REQUIRE(b.size() == a.size());
    double worst = 0;
    for (const auto& [at, loss] : a) {
      INFO((validation ? "validation at step " : "step ")
           << at << ": one process " << loss << ", two ranks " << b.at(at));
      CHECK(std::abs(loss - b.at(at)) <= kLossTolerance);
      worst = std::max(worst, std::abs(loss - b.at(at)));
    }
    std::printf("data-parallel vs one process, %s: largest %s loss difference %.3g (%zu values)\n",
                two.filename().c_str(), validation ? "validation" : "per-step training", worst, a.size());
  }
}

}  // namespace

TEST_CASE("pretraining on two ranks equals one process, step for step", "[finetune][data-parallel]") {
  DataParallelFixture f;
  f.run("pretrain base.yaml train.run_dir=runs/one --threads 1");
  auto two = f.plinth("launch -n 2 pretrain base.yaml train.run_dir=runs/two --threads 1");
  INFO(two.output);
  REQUIRE(two.exit_code == 0);
  CHECK_THAT(two.output, Catch::Contains("data-parallel: world 2, gloo") &&
                             Catch::Contains("8 rows per rank per micro-batch"));
  // Rank 1 prints warnings and errors only: the run is reported once.
  const std::string& out = two.output;
  CHECK(out.find("val loss at step 20") != std::string::npos);
  CHECK(out.find("val loss at step 20") == out.rfind("val loss at step 20"));

  check_same_steps(f.dir() / "runs/one", f.dir() / "runs/two", 20, 3 * 2);  // steps 0, 10, 20; two domains
  const double worst = max_weight_difference(train::step_checkpoint_path(f.dir() / "runs/one", 20),
                                             train::step_checkpoint_path(f.dir() / "runs/two", 20));
  std::printf("data-parallel pretraining: largest weight difference after 20 steps %.3g\n", worst);
  CHECK(worst <= kWeightTolerance);
}

// A fine-tune of `method_lines` (the finetune: section's lines after base:) by one process and by
// two ranks, 20 steps: the same step losses, validation losses and tuned weights. `sections`:
// more top-level sections of the recipe.
void check_finetune(const DataParallelFixture& f, const std::string& label, const std::string& method_lines,
                    const std::string& sections = "") {
  f.recipe("include: data.yaml\nname: ft\nfinetune:\n  base: runs/base\n" + method_lines +
               "task:\n  format: tsv\n  path: task.tsv\n  val_fraction: 0.2\n  test_fraction: 0.2\n"
               "train:\n  steps: 20\n  warmup_steps: 2\n  lr: 3e-3\n  batch_size: 16\n  log_every: 1\n"
               "  eval_every: 10\n  checkpoint_every: 10\n  precision: fp32\n  device: cpu\n" +
               sections,
           "ft.yaml");
  f.run("finetune ft.yaml train.run_dir=runs/ft-one --threads 1");
  auto two = f.plinth("launch -n 2 finetune ft.yaml train.run_dir=runs/ft-two --threads 1");
  INFO(two.output);
  REQUIRE(two.exit_code == 0);
  CHECK_THAT(two.output, Catch::Contains("data-parallel: world 2, gloo"));
  check_same_steps(f.dir() / "runs/ft-one", f.dir() / "runs/ft-two", 20, 3);  // the task's, steps 0, 10, 20
  // Distillation's KL (finetune.distill), summed over the ranks' positions, step for step.
  const auto kl = [&f](const char* run) {
    std::map<int64_t, double> out;
    std::ifstream in(f.dir() / run / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line);
      if (j.contains("distill_kl")) out[j["step"].get<int64_t>()] = j["distill_kl"].get<double>();
    }
    return out;
  };
  const auto kl_one = kl("runs/ft-one"), kl_two = kl("runs/ft-two");
  REQUIRE(kl_one.size() == kl_two.size());
  for (const auto& [step, value] : kl_one) CHECK(std::abs(value - kl_two.at(step)) <= kLossTolerance);
  const double worst =
      max_weight_difference(f.dir() / "runs/ft-one/tuned.ckpt", f.dir() / "runs/ft-two/tuned.ckpt");
  std::printf("data-parallel %s: largest weight difference after 20 steps %.3g\n", label.c_str(), worst);
  CHECK(worst <= kWeightTolerance);
}

TEST_CASE("a LoRA fine-tune with replay, distilled on it, on two ranks equals one process",
          "[finetune][data-parallel]") {
  DataParallelFixture f;
  f.run("pretrain base.yaml --threads 2");
  check_finetune(f, "LoRA fine-tune with replay",
                 "  method: lora\n  lora: {rank: 2, targets: [q_proj, v_proj]}\n  replay: {fraction: 0.25}\n"
                 "  distill: {weight: 0.5, on: replay}\n");
  CHECK(fs::exists(f.dir() / "runs/ft-two/adapter.ckpt"));
}

TEST_CASE(
    "a full fine-tune with frozen layers, EWC, generated replay and distillation on two ranks equals one "
    "process",
    "[finetune][data-parallel]") {
  DataParallelFixture f;
  f.run("pretrain base.yaml --threads 2");
  // Only what trains is reduced; the penalty joins after the sum; rank 0 writes the Fisher file
  // and samples the generated documents, which every rank then reads.
  check_finetune(f, "full fine-tune, frozen embeddings and first layer, EWC, generated replay",
                 "  method: full\n  freeze: {embeddings: true, first_layers: 1}\n"
                 "  ewc: {lambda: 10, fisher_sequences: 6}\n  distill: {weight: 1, on: task}\n"
                 "  replay: {fraction: 0.25, source: generated, documents: 32}\n");
  CHECK(fs::exists(f.dir() / "runs/ft-two/fisher.ckpt"));
  CHECK(read_file(f.dir() / "runs/ft-two/replay/generated.bin") ==
        read_file(f.dir() / "runs/ft-one/replay/generated.bin"));
}

TEST_CASE("select: on two ranks scores the same panels and keeps the same step as one process",
          "[finetune][data-parallel]") {
  DataParallelFixture f;
  f.run("pretrain base.yaml --threads 2");
  // Rank r scores the domains d with d mod 2 == r: each rank one of the two, summed.
  check_finetune(f, "full fine-tune with select:", "  method: full\n",
                 "select: {every: 5, max_forgetting: 99%, panel_tokens: 512}\n");
  const auto selection = [&](const char* run) {
    return nlohmann::json::parse(read_file(f.dir() / run / "selection.json"));
  };
  const auto one = selection("runs/ft-one"), two = selection("runs/ft-two");
  INFO("one process: " << one.dump(1) << "\ntwo ranks: " << two.dump(1));
  CHECK(two["selected_step"] == one["selected_step"]);
  const auto& a = one["panels"];
  const auto& b = two["panels"];
  REQUIRE(a.size() == 5);  // steps 0, 5, 10, 15, 20
  REQUIRE(b.size() == a.size());
  double worst = 0;  // percentage points
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(b[i]["step"] == a[i]["step"]);
    CHECK(std::abs(b[i]["task_val_loss"].get<double>() - a[i]["task_val_loss"].get<double>()) <=
          kLossTolerance);
    REQUIRE(b[i]["forgetting_pct"].size() == 2);
    for (const auto& [domain, pct] : a[i]["forgetting_pct"].items()) {  // percent: a relative 1e-5 is 1e-3
      const double d = std::abs(b[i]["forgetting_pct"][domain].get<double>() - pct.get<double>());
      CHECK(d <= 1e-3);
      worst = std::max(worst, d);
    }
  }
  std::printf("data-parallel select: largest panel forgetting difference %.3g points\n", worst);
  // The step kept is the one both selected: tuned.ckpt equals the two-rank run's selected step.
  CHECK(max_weight_difference(f.dir() / "runs/ft-two/tuned.ckpt", f.dir() / "runs/ft-two/selected.ckpt") ==
        0);
}

// Every tensor of two checkpoints (weights, AdamW state, generator state) bit for bit.
bool same_bits(const fs::path& a, const fs::path& b) {
  const model::CheckpointContents x = model::read_checkpoint(a), y = model::read_checkpoint(b);
  if (x.tensors.size() != y.tensors.size()) return false;
  for (const auto& [name, t] : x.tensors) {
    const torch::Tensor* u = y.find(name);
    if (!u || !torch::equal(t, *u)) return false;
  }
  return true;
}

TEST_CASE(
    "a rank killed or hung mid-run: the other stops within the timeout naming it, and both resume bit-exact",
    "[finetune][data-parallel]") {
  DataParallelFixture f;
  const std::string recipe =
      "pretrain base.yaml train.steps=300 train.eval_every=0 train.checkpoint_every=10 ";
  const int port = 20000 + static_cast<int>(::getpid() % 20000);
  struct Fault {
    int victim;
    bool hang;  // SIGSTOP (alive, silent) instead of SIGKILL
  };
  for (const Fault fault : {Fault{1, false}, Fault{0, false}, Fault{1, true}}) {
    const std::string name = std::string(fault.hang ? "hang-" : "kill-") + std::to_string(fault.victim);
    const std::string run_dir = "runs/" + name;
    const int timeout = fault.hang ? 5 : 60;  // a death is noticed at once; a hang after the timeout
    const std::string env = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
                            std::to_string(port + fault.victim + 2 * fault.hang) +
                            " PLINTH_DIST_TIMEOUT=" + std::to_string(timeout);
    pid_t ranks[2];
    fs::path logs[2];
    for (int r = 0; r < 2; ++r) {
      logs[r] = f.dir() / (name + "-rank" + std::to_string(r) + ".log");
      ranks[r] = test::start_plinth(f.dir().path(), recipe + "train.run_dir=" + run_dir + " --threads 1",
                                    logs[r], env + " RANK=" + std::to_string(r));
    }
    // Past the first checkpoint, then the victim dies at once (no checkpoint, no goodbye) or freezes.
    const auto deadline = Clock::now() + std::chrono::minutes(3);
    while (!train::latest_checkpoint(f.dir() / run_dir) && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    REQUIRE(train::latest_checkpoint(f.dir() / run_dir));
    const int victim = fault.victim, survivor = 1 - fault.victim;
    ::kill(ranks[victim], fault.hang ? SIGSTOP : SIGKILL);
    const auto struck = Clock::now();
    int code = -1;
    const bool stopped = test::wait_until(ranks[survivor], Clock::now() + std::chrono::seconds(90), code);
    const double seconds = std::chrono::duration<double>(Clock::now() - struck).count();
    ::kill(ranks[victim], SIGKILL);
    test::wait_until(ranks[victim], Clock::now() + std::chrono::seconds(10), code = -1);
    std::ifstream in(logs[survivor]);
    const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO(name << ": rank " << survivor << "'s log:\n" << log);
    if (!stopped) ::kill(ranks[survivor], SIGKILL);
    REQUIRE(stopped);
    std::printf("data-parallel: rank %d stopped %.1f s after rank %d was %s (timeout %d s)\n", survivor,
                seconds, victim, fault.hang ? "frozen" : "killed", timeout);
    CHECK_THAT(log, Catch::Contains(victim == 1 ? "rank 1 did not answer" : "rank 0 is gone") &&
                        Catch::Contains("restart every rank with --resume"));
    CHECK(seconds < timeout / 2.0 + 20);

    // Both again, from the last checkpoint: the run finishes.
    auto resumed = f.plinth("launch -n 2 " + recipe + "train.run_dir=" + run_dir + " --threads 1 --resume");
    INFO(resumed.output);
    REQUIRE(resumed.exit_code == 0);
    CHECK_THAT(resumed.output, Catch::Contains("resumed"));
    CHECK(train::latest_checkpoint(f.dir() / run_dir) == train::step_checkpoint_path(f.dir() / run_dir, 300));
  }
  // Resumed after a fault, on the same world size, it ends where a run never interrupted ends.
  f.run("launch -n 2 " + recipe + "train.run_dir=runs/whole --threads 1");
  for (const char* name : {"kill-1", "kill-0", "hang-1"}) {
    INFO(name << " against an uninterrupted run, step 300");
    CHECK(same_bits(train::step_checkpoint_path(f.dir() / "runs" / name, 300),
                    train::step_checkpoint_path(f.dir() / "runs/whole", 300)));
  }
}

TEST_CASE("plinth run on two ranks: rank 0 runs the pipeline, every rank trains its training stages",
          "[finetune][data-parallel]") {
  DataParallelFixture f;
  f.recipe(
      "include: data.yaml\nname: ft\nfinetune:\n  base: runs/base\n  method: lora\n"
      "  lora: {rank: 2, targets: [q_proj, v_proj]}\n"
      "task:\n  format: tsv\n  path: task.tsv\n  val_fraction: 0.2\n  test_fraction: 0.2\n"
      "train:\n  steps: 4\n  warmup_steps: 1\n  batch_size: 4\n  eval_every: 2\n  checkpoint_every: 2\n"
      "  precision: fp32\n  device: cpu\n"
      "eval:\n  max_tokens: 256\n  task_examples: 4\n  task_samples: 2\n",
      "ft.yaml");
  f.recipe("name: dp\npretrain: base.yaml\nfinetune:\n  - ft.yaml\n", "pipeline.yaml");
  auto count = [](const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  auto run = f.plinth("launch -n 2 run pipeline.yaml --threads 1");
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  CHECK(count(run.output, "data-parallel: world 2, gloo") == 2);  // the pretraining and the fine-tune
  CHECK(count(run.output, "== plinth eval ft.yaml") == 1);        // rank 0 alone
  CHECK(fs::exists(f.dir() / "runs/ft/report.json"));
  CHECK(fs::exists(f.dir() / "runs/ft/report.html"));
  CHECK(fs::exists(f.dir() / "runs/ft/loss.svg"));  // rank 0's curves, which the page shows
  CHECK(train::latest_checkpoint(f.dir() / "runs/base") ==
        train::step_checkpoint_path(f.dir() / "runs/base", 20));

  // Again: everything is done; the ranks follow rank 0 to the end.
  auto again = f.plinth("launch -n 2 run pipeline.yaml --threads 1");
  INFO(again.output);
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.output, Catch::Contains("fine-tuned already") && Catch::Contains("report up to date"));
}
