// SIGINT / SIGTERM passed on to child processes (plinth run's stages, plinth launch's ranks).
// The children run in a process group of their own, so a terminal's Ctrl-C (sent to the
// foreground group) reaches only this process, whose handler passes it on once: a child sees
// one SIGINT per Ctrl-C, checkpoints on the first and would take a second as "stop now".
#pragma once

#include <signal.h>
#include <spawn.h>

namespace plinth {

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
