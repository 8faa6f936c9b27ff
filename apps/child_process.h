// What plinth run (its stages) and plinth launch (its ranks) need to start child processes.
//
// StopSignalForwarding: SIGINT / SIGTERM passed on to the children. They run in a process group
// of their own, so a terminal's Ctrl-C (sent to the foreground group) reaches only this process,
// whose handler passes it on once: a child sees one SIGINT per Ctrl-C, checkpoints on the first
// and would take a second as "stop now".
#pragma once

#include <signal.h>
#include <spawn.h>

#include <string>
#include <vector>

namespace plinth {

// This process's environment with `assignments` ("NAME=value") in place of any variable of the
// same name.
std::vector<std::string> environment_with(const std::vector<std::string>& assignments);

// The null-terminated array of pointers into `strings` that exec and posix_spawn take (argv,
// envp); valid while `strings` is unchanged.
std::vector<char*> c_strings(std::vector<std::string>& strings);

class StopSignalForwarding {
 public:
  // Blocks SIGINT and SIGTERM and installs `handler` for both: a signal that arrives before the
  // children's pids are recorded waits, then reaches the handler at unblock(), instead of being lost.
  explicit StopSignalForwarding(void (*handler)(int));
  // Restores the previous handlers and signal mask.
  ~StopSignalForwarding();
  StopSignalForwarding(const StopSignalForwarding&) = delete;
  StopSignalForwarding& operator=(const StopSignalForwarding&) = delete;

  // Attributes for posix_spawn: process group `group` (0: a new one, led by the child), the
  // signal mask from before the block, and the default action for SIGINT / SIGTERM.
  void init_spawn_attributes(posix_spawnattr_t& attr, pid_t group) const;
  // Once the children's pids are recorded.
  void unblock();

 private:
  sigset_t stop_signals_, old_mask_;
  struct sigaction old_int_, old_term_;
  bool blocked_ = true;
};

}  // namespace plinth
