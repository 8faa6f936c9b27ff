// plinth bench prepare RECIPE: `plinth prepare` throughput against sentencepiece's own
// spm_encode on the same text, measured in one run, as a ratio (machines here are shared
// and noisy; absolute times are not comparable between runs, ratios in one run are).
#include <fmt/format.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "command.h"
#include "data/corpus_reader.h"
#include "data/prepare.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/log.h"
#include "util/text.h"
#include "util/threads.h"

namespace plinth {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct BenchArgs {
  RecipeArgs recipe;
  std::string spm_encode = "spm_encode";
  std::string work_dir;
  int repeat = 1;
};

double time_prepare(data::DataSpec spec, const tokenizer::Tokenizer& tok, const fs::path& dir, int threads) {
  spec.shards = (dir / fmt::format("shards-{}t", threads)).string();
  spec.threads = threads;
  int saved = log::verbosity();
  log::verbosity() = 0;
  auto t0 = Clock::now();
  data::prepare_shards(spec, tok, {/*force=*/true, {}});
  double s = seconds_since(t0);
  log::verbosity() = saved;
  return s;
}

void run_bench_prepare(const BenchArgs& args) {
  Recipe r;
  if (!load_recipe_args(args.recipe, r)) return;
  std::error_code ec;
  if (!fs::exists(r.tokenizer.model_file(), ec))
    throw BadInput(fmt::format("the tokenizer {} does not exist", r.tokenizer.model_file()),
                   fmt::format("train it first: plinth tokenizer train {}", r.loaded.file.string()));
  auto tok = tokenizer::Tokenizer::load(r.tokenizer.model_file());
  fs::path dir = args.work_dir.empty()
                     ? fs::temp_directory_path() / fmt::format("plinth-bench-{}", ::getpid())
                     : fs::path(args.work_dir);
  fs::create_directories(dir);

  // The peer's input: the very documents prepare reads, as one text file.
  fs::path text = dir / "corpus.txt";
  uint64_t bytes = 0;
  {
    std::ofstream out(text, std::ios::binary);
    for (const auto& domain : r.data.domains)
      data::read_domain(domain, [&](data::Document&& d) {
        out << d.text << '\n';
        bytes += d.text.size() + 1;
      });
  }
  int threads = resolve_threads(r.data.threads);
  std::string cmd = fmt::format("{} --model={} --output_format=id < {} > /dev/null", args.spm_encode,
                                r.tokenizer.model_file(), text.string());
  log::info("benchmark on {} of text from {} domains; plinth threads: {}", format_bytes(bytes),
            r.data.domains.size(), threads);

  double best_spm = 1e30, best_plinth = 1e30, best_plinth_1 = 1e30;
  for (int i = 0; i < args.repeat; ++i) {
    auto t0 = Clock::now();
    int status = std::system(cmd.c_str());
    double spm = seconds_since(t0);
    if (status != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      throw Failure(fmt::format(
          "`{}` failed (exit status {}); is the Debian package sentencepiece installed?", cmd, status));
    best_spm = std::min(best_spm, spm);
    best_plinth = std::min(best_plinth, time_prepare(r.data, tok, dir, threads));
    if (threads > 1) best_plinth_1 = std::min(best_plinth_1, time_prepare(r.data, tok, dir, 1));
  }
  auto mbs = [&](double s) { return bytes / s / 1e6; };
  fmt::print("text: {} ({} domains), tokenizer {}\n", format_bytes(bytes), r.data.domains.size(),
             r.tokenizer.model_file());
  fmt::print("spm_encode (1 thread, pre-extracted text -> ids): {:7.2f} s  {:6.2f} MB/s\n", best_spm,
             mbs(best_spm));
  fmt::print("plinth prepare ({} threads, corpora -> shards):    {:7.2f} s  {:6.2f} MB/s  ratio {:.2f}x\n",
             threads, best_plinth, mbs(best_plinth), best_spm / best_plinth);
  if (threads > 1)
    fmt::print("plinth prepare (1 thread, corpora -> shards):     {:7.2f} s  {:6.2f} MB/s  ratio {:.2f}x\n",
               best_plinth_1, mbs(best_plinth_1), best_spm / best_plinth_1);
  if (args.work_dir.empty()) fs::remove_all(dir, ec);
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Benchmarks against the peers, measured in the same run");
  bench->require_subcommand(1);
  auto* prep = bench->add_subcommand(
      "prepare", "plinth prepare throughput against spm_encode on the same text (ratio > 1: plinth faster)");
  static BenchArgs args;
  add_recipe_args(*prep, args.recipe, "plinth bench prepare recipes/data/debian.yaml --repeat 3");
  prep->add_option("--spm-encode", args.spm_encode, "The spm_encode program to compare with");
  prep->add_option("--work-dir", args.work_dir,
                   "Keep the extracted text and shards here (default: a temp dir)");
  prep->add_option("--repeat", args.repeat, "Runs of each; the best time counts")->check(CLI::Range(1, 20));
  prep->callback([] { run_bench_prepare(args); });
  add_bench_train_command(*bench);
}

}  // namespace plinth
