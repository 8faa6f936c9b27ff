// SIGINT / SIGTERM during training: the handler only records the signal; the trainer finishes
// the step in flight, writes a checkpoint and returns, so an interrupted run resumes exactly.
// A second signal of the same kind gets the default action (a user pressing Ctrl-C twice
// means it).
#pragma once

#include <csignal>

namespace plinth::train {

class StopSignalScope {
 public:
  // Installs the handlers for SIGINT and SIGTERM and clears any earlier request; the
  // destructor restores the previous handlers.
  StopSignalScope();
  ~StopSignalScope();
  StopSignalScope(const StopSignalScope&) = delete;
  StopSignalScope& operator=(const StopSignalScope&) = delete;

  // The signal number received (SIGINT = 2, SIGTERM = 15), or 0.
  static int requested();

 private:
  struct sigaction old_int_, old_term_;
};

}  // namespace plinth::train
