// plinth launch -n N CMD...: N local ranks of a data-parallel job, for users without torchrun.
// Each rank is CMD (a plinth command such as `pretrain RECIPE`, or any program) with the
// variables torchrun sets: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR
// (127.0.0.1) and MASTER_PORT (a free port, or --master-port).
//
// The ranks run in a process group of their own: a terminal's Ctrl-C reaches only the launcher,
// which passes every SIGINT / SIGTERM on once to each rank (they agree on the step to stop after
// and rank 0 checkpoints). When a rank fails, the others notice at their next collective and
// stop; one still running 30 s later is killed. Exit status: the first failing rank's, else 0.
#include <fmt/format.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "command.h"
#include "util/error.h"
#include "util/log.h"
#include "util/shipped.h"

namespace plinth {

namespace {

constexpr int kMaxRanks = 256;
std::atomic<pid_t> g_ranks[kMaxRanks];
std::atomic<int> g_rank_count{0};
volatile std::sig_atomic_t g_forwarded = 0;  // a stop signal the launcher passed on

void forward_to_ranks(int sig) {
  g_forwarded = sig;
  for (int i = 0; i < g_rank_count.load(); ++i)
    if (pid_t p = g_ranks[i].load()) ::kill(p, sig);
}

// A port nobody listens on now (the kernel's choice for port 0).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Failure(fmt::format("plinth launch: socket: {}", std::strerror(errno)));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(fd);
  if (!ok) throw Failure(fmt::format("plinth launch: no free port: {}", std::strerror(errno)));
  return ntohs(a.sin_port);
}

struct LaunchArgs {
  int ranks = 0;
  int port = 0;
};

// Starts the ranks and waits for them; returns the first failing rank's exit status (128 + N
// for signal N) and its rank in `failed`, or 0.
// Starts args.ranks copies of `command` (argv) with the ranks' environment, in one process group
// whose signals this process passes on; BadInput (the started ones stopped) when one cannot start.
std::vector<pid_t> spawn_ranks(const LaunchArgs& args, const std::vector<std::string>& command,
                               const std::vector<char*>& argv, int port, StopSignalForwarding& forwarding) {
  posix_spawnattr_t attr;
  forwarding.init_spawn_attributes(attr, 0);  // the first rank's group; the others join it below
  std::vector<pid_t> pids;
  int spawn_error = 0;
  for (int r = 0; r < args.ranks && spawn_error == 0; ++r) {
    std::vector<std::string> env = environment_with(
        {fmt::format("RANK={}", r), fmt::format("WORLD_SIZE={}", args.ranks), fmt::format("LOCAL_RANK={}", r),
         fmt::format("LOCAL_WORLD_SIZE={}", args.ranks), "MASTER_ADDR=127.0.0.1",
         fmt::format("MASTER_PORT={}", port), "PLINTH_LAUNCHER=plinth launch",
         // A rank asks the kernel for SIGTERM when the launcher dies, however it dies (plinth.cpp).
         fmt::format("{}={}", kPipelineParentEnv, ::getpid())});
    const std::vector<char*> envp = c_strings(env);
    if (!pids.empty()) ::posix_spawnattr_setpgroup(&attr, pids.front());
    pid_t pid = 0;
    spawn_error = ::posix_spawnp(&pid, argv[0], nullptr, &attr, argv.data(), envp.data());
    if (spawn_error == 0) {
      pids.push_back(pid);
      g_ranks[r] = pid;
      g_rank_count = r + 1;
    }
  }
  ::posix_spawnattr_destroy(&attr);
  forwarding.unblock();
  if (spawn_error != 0) {
    forward_to_ranks(SIGTERM);
    for (pid_t p : pids) ::waitpid(p, nullptr, 0);
    g_rank_count = 0;
    throw BadInput(
        fmt::format("plinth launch: cannot start {}: {}", command.front(), std::strerror(spawn_error)),
        "name a plinth command (pretrain, finetune, ...) or a program on PATH");
  }
  return pids;
}

// Waits for every rank; after the first failure the others get 30 s to stop by themselves (at
// their next collective) before they are killed. Returns the first failure's exit code (0: none)
// and its rank in `failed` (-1: none).
int wait_for_ranks(const std::vector<pid_t>& pids, int& failed) {
  using Clock = std::chrono::steady_clock;
  std::vector<int> codes(pids.size(), -1);
  int first_failure = 0, failed_rank = -1;
  Clock::time_point failed_at;
  size_t running = pids.size();
  while (running > 0) {
    int status = 0;
    const pid_t done = ::waitpid(-pids.front(), &status, WNOHANG);
    if (done > 0) {
      for (size_t r = 0; r < pids.size(); ++r) {
        if (pids[r] != done) continue;
        codes[r] = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WIFEXITED(status) ? WEXITSTATUS(status) : 1;
        g_ranks[r] = 0;
        --running;
        if (codes[r] != 0 && failed_rank < 0) {
          failed_rank = static_cast<int>(r);
          first_failure = codes[r];
          failed_at = Clock::now();
          if (!g_forwarded)  // after a stop signal every rank stops by itself
            log::warn("plinth launch: rank {} exited with {}; the other ranks stop at their next collective",
                      r, codes[r]);
        }
      }
      continue;
    }
    if (done < 0 && errno != EINTR) break;
    if (failed_rank >= 0 && Clock::now() - failed_at > std::chrono::seconds(30)) {
      for (size_t r = 0; r < pids.size(); ++r)
        if (codes[r] < 0) {
          log::warn("plinth launch: rank {} still runs 30 s after rank {} failed: killing it", r,
                    failed_rank);
          ::kill(pids[r], SIGKILL);
        }
      failed_at = Clock::now() + std::chrono::hours(24);  // once
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  g_rank_count = 0;
  failed = failed_rank;
  return first_failure;
}

int run_launch(const CLI::App& parent, const LaunchArgs& args, std::vector<std::string> command,
               int& failed) {
  if (command.empty())
    throw BadInput("plinth launch: which command should the ranks run?",
                   "e.g. plinth launch -n 2 pretrain recipes/pretrain/quickstart.yaml");
  if (args.ranks > kMaxRanks)
    throw BadInput(
        fmt::format("plinth launch: -n {} is more than the {} local ranks it starts", args.ranks, kMaxRanks),
        "use torchrun or a scheduler across machines");
  // `pretrain RECIPE` means this plinth's own command; anything else is a program.
  bool own = false;
  for (const CLI::App* sub : parent.get_subcommands({})) own = own || sub->check_name(command.front());
  if (own) {
    const auto exe = executable_path();
    command.insert(command.begin(), exe.empty() ? "plinth" : exe.string());
  }
  const int port = args.port > 0 ? args.port : free_port();
  log::info("plinth launch: {} ranks on this machine, MASTER_ADDR=127.0.0.1 MASTER_PORT={}", args.ranks,
            port);

  const std::vector<char*> argv = c_strings(command);

  // As in `plinth run`: the ranks in a process group of their own, signals passed on once.
  StopSignalForwarding forwarding(forward_to_ranks);
  const std::vector<pid_t> pids = spawn_ranks(args, command, argv, port, forwarding);
  return wait_for_ranks(pids, failed);
}

}  // namespace

void add_launch_command(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("launch", "Start N local ranks of a data-parallel job (torchrun's variables)");
  static LaunchArgs args;
  cmd->add_option("-n,--nproc", args.ranks, "Ranks to start on this machine")
      ->required()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--master-port", args.port, "MASTER_PORT for the ranks (default: a free port)")
      ->check(CLI::Range(1, 65535));
  cmd->prefix_command();  // everything from CMD on belongs to the ranks
  cmd->footer(
      "Examples:\n"
      "  plinth launch -n 2 pretrain recipes/pretrain/quickstart.yaml\n"
      "  plinth launch -n 2 finetune recipes/finetune/lora.yaml --resume\n"
      "train.batch_size is the whole micro-batch: each rank computes on batch_size / N rows, and the\n"
      "run equals one process's. Rank 0 writes the run directory. Ctrl-C stops every rank after the\n"
      "same step, with one checkpoint. Across machines use torchrun (docs/data-parallel.md).");
  cmd->callback([&app, cmd] {
    int failed = -1;
    const int code = run_launch(app, args, cmd->remaining(), failed);
    if (code == 0) return;
    // The rank printed its own error; end with its code (2 bad input, 1 failure, 130/143 signal).
    const std::string what = fmt::format("plinth launch: rank {} ended with exit status {}", failed, code);
    if (code == 2) throw BadInput(what, "see the rank's error above");
    if (code >= 128) throw StoppedBySignal(code - 128, g_forwarded ? "" : what);  // rank 0 said it
    throw Failure(what);
  });
}

}  // namespace plinth
