// What `plinth bench train` and `plinth bench eval` share: running the Python peer
// (tests/reference/ref_llama.py) with plinth's settings, and reading a profile of plinth's side.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace plinth {

// `s` in single quotes for /bin/sh.
std::string shell_quote(const std::string& s);

// The peer's environment on its command line: `tunables` as GLIBC_TUNABLES ("" leaves the
// environment's) and plinth's OPENBLAS_CORETYPE where plinth runs with one (its user's or the
// kernel switch's, apps/blas_kernel_switch.h), so both sides run the same BLAS kernel.
std::string peer_environment(const std::string& tunables);

// Runs `command` (stdout and stderr together) and returns the JSON object on its last line;
// Failure when it fails or ran on another number of threads than `threads`.
nlohmann::json run_peer(const std::string& command, const std::string& python, int threads);

// Where the time of a RecordProfile trace goes: self time per op name (its duration minus the ops
// it called), summed over threads, largest first, per one of `units` (steps, rounds).
void print_profile_summary(const std::string& trace_file, int units, const std::string& what);

}  // namespace plinth
