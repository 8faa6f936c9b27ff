#include "child_process.h"

#include <string_view>

extern char** environ;

namespace plinth {

std::vector<std::string> environment_with(const std::vector<std::string>& assignments) {
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e) {
    const std::string_view v(*e);
    bool replaced = false;
    for (const auto& a : assignments)
      replaced = replaced || v.substr(0, v.find('=') + 1) == std::string_view(a).substr(0, a.find('=') + 1);
    if (!replaced) out.emplace_back(v);
  }
  out.insert(out.end(), assignments.begin(), assignments.end());
  return out;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

StopSignalForwarding::StopSignalForwarding(void (*handler)(int)) {
  ::sigemptyset(&stop_signals_);
  ::sigaddset(&stop_signals_, SIGINT);
  ::sigaddset(&stop_signals_, SIGTERM);
  ::sigprocmask(SIG_BLOCK, &stop_signals_, &old_mask_);
  struct sigaction sa {};
  sa.sa_handler = handler;
  ::sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, &old_int_);
  ::sigaction(SIGTERM, &sa, &old_term_);
}

StopSignalForwarding::~StopSignalForwarding() {
  unblock();
  ::sigaction(SIGINT, &old_int_, nullptr);
  ::sigaction(SIGTERM, &old_term_, nullptr);
}

void StopSignalForwarding::init_spawn_attributes(posix_spawnattr_t& attr, pid_t group) const {
  ::posix_spawnattr_init(&attr);
  ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  ::posix_spawnattr_setpgroup(&attr, group);
  ::posix_spawnattr_setsigmask(&attr, &old_mask_);
  ::posix_spawnattr_setsigdefault(&attr, &stop_signals_);
}

void StopSignalForwarding::unblock() {
  if (!blocked_) return;
  ::sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
  blocked_ = false;
}

}  // namespace plinth
