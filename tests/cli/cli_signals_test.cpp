// Stopping `plinth run` the ways users stop it: Ctrl-C in a real terminal (a pseudo-terminal
// whose line discipline sends SIGINT to the foreground process group, as a shell's terminal
// does) and kill -9 of the pipeline process. Either way the running stage checkpoints once and
// the pipeline continues from there when started again.
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "cli_fixture.h"

using namespace plinth;
using plinth::test::CliFixture;
namespace fs = std::filesystem;

namespace {

// A pretraining recipe that trains until stopped: a tiny model, no evals, no step checkpoints.
std::string endless_recipe(int steps) {
  return CliFixture::base_recipe() + "model:\n  dim: 32\n  layers: 1\n  heads: 2\n  context: 32\n" +
         "train:\n  steps: " + std::to_string(steps) +
         "\n  warmup_steps: 1\n  batch_size: 2\n  eval_every: 0\n  checkpoint_every: 1000000\n";
}

// `plinth ARGS...` in `dir`, with a pseudo-terminal as its controlling terminal and stdio.
class PtyPlinth {
 public:
  PtyPlinth(const fs::path& dir, std::vector<std::string> args) {
    pid_ = ::forkpty(&master_, nullptr, nullptr, nullptr);
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      if (::chdir(dir.c_str()) != 0) ::_exit(127);
      std::vector<char*> argv;
      std::string binary = test::plinth_binary();
      argv.push_back(binary.data());
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~PtyPlinth() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (master_ >= 0) ::close(master_);
  }

  // Reads output until `text` appears (true) or `seconds` pass / the terminal closes (false).
  bool wait_for(const std::string& text, double seconds) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (output_.find(text) == std::string::npos) {
      if (std::chrono::steady_clock::now() > until || !read_some(100)) return false;
    }
    return true;
  }
  // What the user types.
  void type(const std::string& keys) {
    REQUIRE(::write(master_, keys.data(), keys.size()) == (ssize_t)keys.size());
  }
  // Reads the rest of the output and returns the exit code (128 + N for signal N).
  int wait_exit(double seconds) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until && read_some(100)) {
    }
    int status = 0;
    REQUIRE(::waitpid(pid_, &status, 0) == pid_);
    exited_ = true;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  }
  const std::string& output() const { return output_; }

 private:
  // false when the terminal closed (every process holding it ended).
  bool read_some(int timeout_ms) {
    pollfd p{master_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return true;
    char buf[4096];
    const ssize_t n = ::read(master_, buf, sizeof buf);
    if (n <= 0) return false;  // EIO once the slave side is closed
    output_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int master_ = -1;
  bool exited_ = false;
  std::string output_;
};

bool has_step_checkpoint(const fs::path& run_dir) {
  std::error_code ec;
  if (!fs::exists(run_dir / "checkpoints", ec)) return false;
  for (const auto& e : fs::directory_iterator(run_dir / "checkpoints"))
    if (e.path().filename().string().rfind("step-", 0) == 0 && e.path().extension() == ".ckpt") return true;
  return false;
}

}  // namespace

TEST_CASE("Ctrl-C in a terminal stops plinth run's stage once, with a checkpoint - run again resumes",
          "[cli][signals]") {
  CliFixture f;
  f.recipe(endless_recipe(1000000), "endless.yaml");
  f.recipe("pretrain: endless.yaml\n", "pipeline.yaml");
  {
    PtyPlinth run(f.dir().path(), {"run", "pipeline.yaml", "--threads", "1"});
    // The trainer's header line is printed once its signal handlers are in place.
    REQUIRE(run.wait_for("parameters", 300));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    run.type("\x03");  // Ctrl-C: the terminal sends SIGINT to its foreground process group
    const int code = run.wait_exit(120);
    INFO(run.output());
    CHECK(code == 130);
    // The stage saw one SIGINT: it finished its step and saved (a second, forwarded one would
    // have killed it mid-step with the default action).
    CHECK_THAT(run.output(), Catch::Contains("stopped by signal 2 after step") &&
                                 Catch::Contains("pipeline stopped: plinth pretrain ended by signal 2"));
  }
  CHECK(has_step_checkpoint(f.dir() / "runs/endless"));

  f.recipe(endless_recipe(2), "endless.yaml");  // at most one step left to train
  auto again = f.plinth("run pipeline.yaml --threads 1");
  INFO(again.output);
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.output, Catch::Contains("resumed"));
}

TEST_CASE("kill -9 of plinth run: its stage checkpoints and stops instead of training on alone",
          "[cli][signals]") {
  CliFixture f;
  f.recipe(endless_recipe(1000000), "endless.yaml");
  f.recipe("pretrain: endless.yaml\n", "pipeline.yaml");
  auto r = plinth::test::run_command(
      "cd '" + f.dir().path().string() + "' && ('" + plinth::test::plinth_binary() +
      "' run pipeline.yaml --threads 1 > out.txt 2>&1 & pid=$!; "
      "n=0; until grep -q 'parameters' out.txt || [ $n -gt 3000 ]; do sleep 0.1; n=$((n+1)); done; sleep "
      "0.5; "
      "kill -KILL $pid; wait $pid; echo \"pipeline exit=$?\"; "
      // the stage is no longer our child: wait for its last words in the shared output file
      "n=0; until grep -q 'stopped by signal 15' out.txt || [ $n -gt 1200 ]; do sleep 0.1; n=$((n+1)); "
      "done); "
      "cat out.txt");
  INFO(r.output);
  CHECK_THAT(r.output,
             Catch::Contains("pipeline exit=137") && Catch::Contains("stopped by signal 15 after step"));
  CHECK(has_step_checkpoint(f.dir() / "runs/endless"));
}

TEST_CASE("Ctrl-C in a terminal stops plinth launch's ranks after one same step, with one checkpoint",
          "[cli][signals][data-parallel]") {
  CliFixture f;
  f.recipe(endless_recipe(1000000), "endless.yaml");
  for (const char* cmd : {"tokenizer train endless.yaml", "prepare endless.yaml"}) {
    auto r = f.plinth(cmd);
    INFO(cmd << "\n" << r.output);
    REQUIRE(r.exit_code == 0);
  }
  PtyPlinth launch(f.dir().path(), {"launch", "-n", "2", "pretrain", "endless.yaml", "--threads", "1"});
  REQUIRE(launch.wait_for("data-parallel: world 2, gloo", 300));
  REQUIRE(launch.wait_for("parameters", 60));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  launch.type("\x03");  // reaches only the launcher: the ranks run in a process group of their own
  const int code = launch.wait_exit(120);
  INFO(launch.output());
  CHECK(code == 130);
  // Both ranks agreed on the step: rank 0 saved once and said so; nothing failed.
  const std::string& out = launch.output();
  CHECK(out.find("stopped by signal 2 after step") != std::string::npos);
  CHECK(out.find("stopped by signal 2 after step") == out.rfind("stopped by signal 2 after step"));
  CHECK_THAT(out, !Catch::Contains("failed") && !Catch::Contains("did not answer"));
  CHECK(has_step_checkpoint(f.dir() / "runs/endless"));
}
