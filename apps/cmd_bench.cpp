// plinth bench prepare RECIPE: `plinth prepare` throughput against sentencepiece's own
// spm_encode on the same text, at equal threads, measured in one run, as ratios (machines here
// are shared and noisy; absolute times are not comparable between runs, ratios in one run are).
//
// Equal work: spm_encode has no threads, so at N threads the peer is N spm_encode processes
// at once, each on one of N slices of the text cut at line ends (spm_encode encodes line by
// line). Both sides are timed at 1 thread (per-thread speed) and at N (all the cores given).
// The peers get plinth's allocator settings (GLIBC_TUNABLES = plinth's mallopt calls).
#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "command.h"
#include "data/corpus_reader.h"
#include "data/prepare.h"
#include "tokenizer/tokenizer.h"
#include "util/allocator.h"
#include "util/error.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/text.h"
#include "util/threads.h"

extern char** environ;

namespace plinth {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct BenchArgs {
  RecipeArgs recipe;
  std::string spm_encode = "spm_encode";
  std::string work_dir;
  int repeat = 1;
  bool dry_run = false;
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

// Cuts `text` (`bytes` long) at line ends into `parts` files of about equal size, in order:
// their concatenation is `text` byte for byte, so the peer encodes every line exactly once.
std::vector<fs::path> split_at_line_ends(const fs::path& text, uint64_t bytes, int parts,
                                         const fs::path& dir) {
  std::ifstream in(text, std::ios::binary);
  if (!in) throw Failure(fmt::format("cannot read {}", text.string()));
  std::vector<fs::path> slices;
  std::string line;
  uint64_t copied = 0;
  for (int k = 0; k < parts; ++k) {
    slices.push_back(dir / fmt::format("corpus.slice-{}-of-{}.txt", k + 1, parts));
    std::ofstream out(slices.back(), std::ios::binary | std::ios::trunc);
    const uint64_t end = bytes * (k + 1) / parts;  // the last slice takes the rest
    while ((k + 1 == parts || copied < end) && std::getline(in, line)) {
      out << line;
      copied += line.size();
      if (!in.eof()) {  // a last line without '\n' stays without
        out << '\n';
        ++copied;
      }
    }
    if (!out) throw Failure(fmt::format("cannot write {}", slices.back().string()));
  }
  return slices;
}

// This process's environment with GLIBC_TUNABLES replaced by `tunables` ("NAME=value" each).
std::vector<std::string> environment_with_tunables(const std::string& tunables) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "GLIBC_TUNABLES=", 15) != 0) env.emplace_back(*e);
  if (!tunables.empty()) env.push_back("GLIBC_TUNABLES=" + tunables);
  return env;
}

struct PeerCommand {
  std::vector<std::string> argv;  // spm_encode and its options; input on stdin
  std::vector<std::string> env;
  std::string tunables;  // GLIBC_TUNABLES in env, "" if none
};

// Starts the peer once per input at the same time (stdin from the input, ids to /dev/null) and
// waits for all; returns the seconds from the first start to the last exit.
double run_peer(const PeerCommand& peer, const std::vector<fs::path>& inputs) {
  auto c_strings = [](const std::vector<std::string>& v) {
    std::vector<char*> out;
    for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
    out.push_back(nullptr);
    return out;
  };
  auto argv = c_strings(peer.argv), envp = c_strings(peer.env);
  std::vector<pid_t> started;
  std::string failure;
  auto t0 = Clock::now();
  for (const auto& input : inputs) {
    posix_spawn_file_actions_t io;
    posix_spawn_file_actions_init(&io);
    posix_spawn_file_actions_addopen(&io, STDIN_FILENO, input.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&io, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    int err = posix_spawnp(&pid, argv[0], &io, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&io);
    if (err != 0) {
      failure = fmt::format("cannot start {}: {}", peer.argv[0], std::strerror(err));
      break;
    }
    started.push_back(pid);
  }
  for (pid_t pid : started) {
    int status = 0;
    if (::waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      if (failure.empty()) failure = fmt::format("{} failed (wait status {})", peer.argv[0], status);
  }
  double s = seconds_since(t0);
  if (!failure.empty())
    throw Failure(failure +
                  "\n  hint: is the Debian package sentencepiece installed? (or pass --spm-encode PATH)");
  return s;
}

void run_bench_prepare(const BenchArgs& args) {
  Recipe r;
  if (!load_recipe_args(args.recipe, r)) return;
  auto tok = load_recipe_tokenizer(r);
  fs::path dir = args.work_dir.empty()
                     ? fs::temp_directory_path() / fmt::format("plinth-bench-{}", ::getpid())
                     : fs::path(args.work_dir);
  fs::create_directories(dir);
  struct RemoveTempDir {
    fs::path dir;
    ~RemoveTempDir() {
      std::error_code ignored;
      if (!dir.empty()) fs::remove_all(dir, ignored);
    }
  } cleanup{args.work_dir.empty() ? dir : fs::path()};

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
  const int threads = resolve_threads(r.data.threads);
  const std::vector<fs::path> whole = {text};
  const std::vector<fs::path> slices = threads > 1 ? split_at_line_ends(text, bytes, threads, dir) : whole;

  PeerCommand peer;
  peer.argv = {args.spm_encode, "--model=" + r.tokenizer.model_file(), "--output_format=id"};
  peer.tunables = merge_glibc_tunables(std::getenv("GLIBC_TUNABLES"), keep_freed_memory_tunables());
  peer.env = environment_with_tunables(peer.tunables);
  std::string peer_line;
  for (const auto& a : peer.argv) peer_line += (peer_line.empty() ? "" : " ") + a;

  fmt::print("text: {} ({} domains), tokenizer {}, threads 1 and {}\n", format_bytes(bytes),
             r.data.domains.size(), r.tokenizer.model_file(), threads);
  fmt::print("plinth: prepare, corpora -> shards, data.threads = 1 and {}; allocator: {}\n", threads,
             keep_freed_memory_mallopts());
  fmt::print("peer:   `{} < TEXT > /dev/null`, 1 process on the whole text{}; allocator: GLIBC_TUNABLES={}\n",
             peer_line,
             threads > 1 ? fmt::format(" and {} processes at once, one per slice", threads) : std::string(),
             peer.tunables.empty() ? "(none)" : peer.tunables);
  if (args.dry_run) {
    for (const auto& s : slices) fmt::print("slice: {}\n", s.string());
    return;
  }

  // Best of `repeat` rounds, the four runs of a round back to back.
  double spm_1 = 1e30, spm_n = 1e30, plinth_1 = 1e30, plinth_n = 1e30;
  for (int i = 0; i < args.repeat; ++i) {
    spm_1 = std::min(spm_1, run_peer(peer, whole));
    plinth_1 = std::min(plinth_1, time_prepare(r.data, tok, dir, 1));
    if (threads == 1) continue;
    spm_n = std::min(spm_n, run_peer(peer, slices));
    plinth_n = std::min(plinth_n, time_prepare(r.data, tok, dir, threads));
  }
  auto mbs = [&](double s) { return bytes / s / 1e6; };
  auto row = [&](const std::string& who, double s) {
    fmt::print("  {:<46} {:7.2f} s  {:7.2f} MB/s\n", who, s, mbs(s));
  };
  fmt::print("best of {} (ratio = throughput plinth / spm_encode; > 1: plinth faster):\n", args.repeat);
  row("spm_encode, 1 process", spm_1);
  row("plinth prepare, 1 thread", plinth_1);
  if (threads > 1) {
    row(fmt::format("spm_encode, {} processes on {} slices", threads, threads), spm_n);
    row(fmt::format("plinth prepare, {} threads", threads), plinth_n);
  }
  fmt::print("ratio per thread (1 vs 1): {:.2f}x\n", spm_1 / plinth_1);
  if (threads > 1) {
    fmt::print("ratio all cores ({} vs {}): {:.2f}x\n", threads, threads, spm_n / plinth_n);
    fmt::print("speed-up 1 -> {}: plinth {:.2f}x, spm_encode {:.2f}x\n", threads, plinth_1 / plinth_n,
               spm_1 / spm_n);
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Benchmarks against the peers, measured in the same run");
  bench->require_subcommand(1);
  auto* prep = bench->add_subcommand(
      "prepare",
      "plinth prepare throughput against spm_encode on the same text, at 1 thread and at --threads "
      "(ratio > 1: plinth faster)");
  static BenchArgs args;
  add_recipe_args(*prep, args.recipe, "plinth bench prepare recipes/data/debian.yaml --threads 2 --repeat 3");
  prep->add_option("--spm-encode", args.spm_encode, "The spm_encode program to compare with");
  prep->add_option("--work-dir", args.work_dir,
                   "Keep the extracted text, its slices and the shards here (default: a temp dir)");
  prep->add_option("--repeat", args.repeat, "Runs of each; the best time counts")->check(CLI::Range(1, 20));
  prep->add_flag("--dry-run", args.dry_run,
                 "Extract and slice the text, print what each side runs with, time nothing");
  prep->callback([] { run_bench_prepare(args); });
  add_bench_train_command(*bench);
  add_bench_matmul_command(*bench);
  add_bench_eval_command(*bench);
}

}  // namespace plinth
