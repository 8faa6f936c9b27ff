#include "train/stop_signal.h"

namespace plinth::train {

namespace {

volatile std::sig_atomic_t g_signal = 0;

extern "C" void record_stop_signal(int sig) {
  g_signal = sig;
  std::signal(sig, SIG_DFL);
}

}  // namespace

StopSignalScope::StopSignalScope() {
  g_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = record_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // interrupted reads and writes carry on; the trainer polls the flag
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
}

StopSignalScope::~StopSignalScope() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
}

int StopSignalScope::requested() {
  return g_signal;
}

}  // namespace plinth::train
