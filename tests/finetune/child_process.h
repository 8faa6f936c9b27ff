// A plinth process the test starts, watches and may kill: for the tests that need it running
// while they act on it (kill_test.cpp, data_parallel_test.cpp).
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "test_support.h"

namespace plinth::test {

// `plinth ARGS` (a shell word list) in `dir`, output appended to `log`, with `env` ("VAR=value
// ...", shell words) added to its environment; the child's pid.
inline pid_t start_plinth(const std::filesystem::path& dir, const std::string& args,
                          const std::filesystem::path& log, const std::string& env = "") {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::chdir(dir.c_str()) != 0) ::_exit(127);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    const std::string line =
        "exec " + (env.empty() ? "" : "env " + env + " ") + "'" + plinth_binary() + "' " + args;
    ::execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// true when it exited by itself (with `code`: 128 + N for signal N), false when it was still
// running at `deadline`.
inline bool wait_until(pid_t pid, std::chrono::steady_clock::time_point deadline, int& code) {
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

}  // namespace plinth::test
