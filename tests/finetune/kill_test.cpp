// Under fire: prepare, a pretraining run, a fine-tune and its eval are each SIGKILLed at random
// moments (a seeded generator: the same moments on every run of the test) and at moments picked
// to fall inside a file write (a temporary file of an atomic write is on disk), then started
// again, resuming, until they finish. After every kill nothing on disk may be unreadable
// (checkpoints, shards, manifests, reports), the TensorBoard events agree with metrics.jsonl, and
// at the end the shards and the weights equal those of runs that were never interrupted, bit for
// bit.
#include <torch/torch.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "cli/cli_fixture.h"
#include "data/prepare.h"
#include "data/shard.h"
#include "eval/forgetting_report.h"
#include "finetune/child_process.h"
#include "model/checkpoint_file.h"
#include "train/checkpoint_files.h"
#include "train/metrics_log.h"
#include "util/atomic_file.h"
#include "util/text.h"
#include "util/tensorboard_events.h"

using namespace plinth;
using plinth::test::CliFixture;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// A temporary file of an atomic write (util/atomic_file.h: "<name>.tmp.<pid>") below `dir`.
bool write_in_progress(const fs::path& dir) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (is_atomic_temporary(it->path().filename().string())) return true;
  return false;
}

struct Stage {
  std::string name;
  std::string args;  // plinth arguments
  fs::path watch;    // where its writes land
  bool resumable;    // restarted with --resume once it has a step checkpoint in `watch`
};

struct Tally {
  int kills = 0;
  int kills_in_write = 0;  // with a temporary file of an atomic write on disk
  int starts = 0;
};

// Runs `stage` to completion, killing it `kills` times: at a random moment within `typical`
// seconds, or (every third kill) as soon as a write is seen in progress. `check` runs after
// each kill, with the process gone.
void run_under_fire(const CliFixture& f, const Stage& stage, int kills, double typical, std::mt19937& rng,
                    Tally& tally, const std::function<void()>& check) {
  const fs::path log = f.dir() / ("kill-" + stage.name + ".log");
  // A restart has less left to do than a whole run: the moments lean early (up to 0.6 of the
  // reference's time let a loaded machine's restarts finish before their kill: 18 kills of 20).
  std::uniform_real_distribution<double> when(0.02, 0.45);
  for (int attempt = 0;; ++attempt) {
    REQUIRE(attempt <= kills);
    const bool resume = stage.resumable && train::latest_checkpoint(stage.watch).has_value();
    const pid_t pid = test::start_plinth(f.dir().path(), stage.args + (resume ? " --resume" : ""), log);
    ++tally.starts;
    int code = -1;
    bool finished = false, in_write = false;
    if (attempt == kills) {
      finished = test::wait_until(pid, Clock::now() + std::chrono::minutes(10), code);
    } else if (attempt % 3 == 2) {
      // Kill inside a write: poll for a temporary file, up to twice the stage's typical time.
      const auto deadline = Clock::now() + seconds(typical * 2);
      while (!(finished = test::wait_until(pid, Clock::now(), code)) && Clock::now() < deadline &&
             !(in_write = write_in_progress(stage.watch))) {
      }
    } else {
      finished = test::wait_until(pid, Clock::now() + seconds(when(rng) * typical), code);
    }
    if (finished) {
      INFO(stage.name << " ended by itself after " << attempt << " kills; log " << log);
      REQUIRE(code == 0);
      return;
    }
    REQUIRE(attempt < kills);
    ::kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
      ++tally.kills;
      tally.kills_in_write += in_write;
    }
    check();
  }
}

// Every checkpoint under `dir` reads whole (checksum verified).
void require_checkpoints_readable(const fs::path& dir) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->path().extension() != ".ckpt") continue;
    INFO(it->path());
    REQUIRE_NOTHROW(model::read_checkpoint(it->path()));
  }
}

// Every shard and manifest in the shards directory reads; a domain with a manifest has both shards.
void require_shards_readable(const data::DataSpec& spec) {
  for (const auto& d : spec.domains) {
    for (const char* split : {"train", "val"}) {
      const fs::path shard = data::shard_path(spec, d.name, split);
      if (!fs::exists(shard)) continue;
      INFO(shard);
      REQUIRE_NOTHROW(data::ShardReader::open(shard));
    }
    const fs::path manifest = data::domain_dir(spec, d.name) / "manifest.json";
    if (!fs::exists(manifest)) continue;
    INFO(manifest);
    REQUIRE(data::read_manifest(spec, d.name));
    CHECK(fs::exists(data::shard_path(spec, d.name, "train")));
    CHECK(fs::exists(data::shard_path(spec, d.name, "val")));
  }
}

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void require_same_tensors(const fs::path& a, const fs::path& b) {
  const auto ca = model::read_checkpoint(a), cb = model::read_checkpoint(b);
  REQUIRE(ca.tensors.size() == cb.tensors.size());
  for (size_t i = 0; i < ca.tensors.size(); ++i) {
    INFO(a << " vs " << b << ": " << ca.tensors[i].first);
    REQUIRE(ca.tensors[i].first == cb.tensors[i].first);
    CHECK(torch::equal(ca.tensors[i].second, cb.tensors[i].second));
  }
}

// The run's TensorBoard events, as TensorBoard shows them (a kill between a resume's new event
// file and the removal of the old one leaves both), against its metrics.jsonl: no step twice,
// each step's scalars those metrics_log.h makes of its line, and no line without its event but
// the last one (the event is written second); once the run has finished, the same steps on both
// sides.
void require_events_match_metrics(const fs::path& run, bool finished) {
  if (!fs::exists(run / "tb")) return;  // killed before its first write
  std::map<int64_t, std::vector<TensorBoardScalar>> events;
  for (const auto& e : tensorboard_view(read_event_dir(run / "tb"))) {
    INFO(run << ": step " << e.step);
    REQUIRE(events.count(e.step) == 0);
    events[e.step] = e.scalars;
  }
  const auto records = train::read_metrics(run / "metrics.jsonl");
  for (size_t i = 0; i < records.size(); ++i) {
    INFO(run << ": metrics.jsonl's step " << records[i].step);
    const auto it = events.find(records[i].step);
    if (it == events.end()) {
      CHECK((i + 1 == records.size() && !finished));
      continue;
    }
    const auto want = train::tensorboard_event(records[i]).scalars;
    REQUIRE(it->second.size() == want.size());
    for (size_t j = 0; j < want.size(); ++j) {
      CHECK(it->second[j].tag == want[j].tag);
      CHECK(it->second[j].value == want[j].value);
    }
  }
  if (finished) CHECK(events.size() == records.size());
}

double seconds_of(const CliFixture& f, const std::string& args) {
  const auto t0 = Clock::now();
  auto r = f.plinth(args);
  INFO(args << "\n" << r.output);
  REQUIRE(r.exit_code == 0);
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

TEST_CASE("kill -9 at random moments: nothing unreadable, and the result equals an uninterrupted run",
          "[finetune][kill]") {
  CliFixture f;
  // A model big enough that a checkpoint write (weights and AdamW moments, ~7 MB, fsynced)
  // takes long enough to be caught in the middle; steps stay fast on one thread.
  const std::string base = CliFixture::task_data_recipe();
  f.recipe(base, "data.yaml");
  f.recipe(
      "include: data.yaml\nname: base\nmodel: {dim: 128, layers: 2, heads: 4, context: 32}\n"
      "train: {steps: 24, warmup_steps: 2, batch_size: 2, eval_every: 8, eval_tokens: 512, "
      "checkpoint_every: 1, keep_last: 2, threads: 1}\n",
      "base.yaml");
  f.dir().write("task.tsv", CliFixture::task_tsv());
  f.recipe(
      "include: data.yaml\nname: ft\nfinetune:\n  base: runs/base\n  method: full\n"
      "task:\n  format: tsv\n  path: task.tsv\n  val_fraction: 0.2\n  test_fraction: 0.2\n"
      "train: {steps: 16, warmup_steps: 1, batch_size: 4, eval_every: 4, checkpoint_every: 1, keep_last: 2, "
      "threads: 1}\n"
      "eval: {max_tokens: 256, task_examples: 4, task_samples: 2}\n",
      "ft.yaml");

  REQUIRE(f.plinth("tokenizer train base.yaml").exit_code == 0);
  // References, never interrupted: shards, base, fine-tune.
  const double prepare_s = seconds_of(f, "prepare base.yaml data.shards=shards-ref");

  std::mt19937 rng(20261129);
  Tally tally;
  data::DataSpec spec;
  {
    // The shards' layout, for the checks (names only).
    for (const char* name : {"alpha", "beta"}) {
      data::DomainSpec d;
      d.name = name;
      spec.domains.push_back(d);
    }
    spec.shards = (f.dir() / "shards").string();
  }

  run_under_fire(f, {"prepare", "prepare base.yaml", f.dir() / "shards", false}, 5, prepare_s, rng, tally,
                 [&] { require_shards_readable(spec); });
  for (const char* name : {"alpha", "beta"})
    for (const char* split : {"train", "val"}) {
      INFO(name << " " << split);
      CHECK(file_bytes(f.dir() / "shards" / name / (std::string(split) + ".bin")) ==
            file_bytes(f.dir() / "shards-ref" / name / (std::string(split) + ".bin")));
    }

  const double pretrain_s = seconds_of(f, "pretrain base.yaml train.run_dir=runs/base-ref");
  run_under_fire(f, {"pretrain", "pretrain base.yaml", f.dir() / "runs/base", true}, 12, pretrain_s, rng,
                 tally, [&] {
                   require_checkpoints_readable(f.dir() / "runs/base");
                   require_events_match_metrics(f.dir() / "runs/base", false);
                 });
  require_events_match_metrics(f.dir() / "runs/base", true);
  require_same_tensors(f.dir() / "runs/base/checkpoints/step-000024.ckpt",
                       f.dir() / "runs/base-ref/checkpoints/step-000024.ckpt");

  const double finetune_s = seconds_of(f, "finetune ft.yaml train.run_dir=runs/ft-ref");
  run_under_fire(f, {"finetune", "finetune ft.yaml", f.dir() / "runs/ft", true}, 10, finetune_s, rng, tally,
                 [&] {
                   require_checkpoints_readable(f.dir() / "runs/ft");
                   require_events_match_metrics(f.dir() / "runs/ft", false);
                 });
  require_events_match_metrics(f.dir() / "runs/ft", true);
  require_same_tensors(f.dir() / "runs/ft/tuned.ckpt", f.dir() / "runs/ft-ref/tuned.ckpt");

  const double eval_s = seconds_of(f, "eval ft.yaml train.run_dir=runs/ft-ref");
  run_under_fire(f, {"eval", "eval ft.yaml", f.dir() / "runs/ft", false}, 3, eval_s, rng, tally, [&] {
    const fs::path report = f.dir() / "runs/ft/report.json", page = f.dir() / "runs/ft/report.html";
    if (fs::exists(report)) REQUIRE_NOTHROW(eval::load_report(report));
    // The page is written atomically too: a kill leaves the whole of it or none.
    if (fs::exists(page)) REQUIRE(ends_with(read_file(page), "</html>\n"));
  });
  REQUIRE_NOTHROW(eval::load_report(f.dir() / "runs/ft/report.json"));
  REQUIRE(fs::exists(f.dir() / "runs/ft/report.html"));

  INFO("starts " << tally.starts << ", kills " << tally.kills << ", in a write " << tally.kills_in_write);
  CHECK(tally.kills >= 20);
  CHECK(tally.kills_in_write >= 4);
  WARN("kill test: " << tally.kills << " SIGKILLs survived (" << tally.kills_in_write
                     << " during a file write) over " << tally.starts << " starts");
}
