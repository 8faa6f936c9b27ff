// What every harness shares: a file the readers can open, and the one rule of what a reader may
// throw. A reader given any bytes either reads them or refuses them with plinth's typed errors;
// anything else that leaves it (another exception, a crash, a sanitizer report, a hang, a huge
// allocation) is a finding. libFuzzer reports an escaping exception as a crash (abort).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/error.h"

namespace plinth::fuzz {

// A path of this process's own (the pid in its name, so parallel fuzzers do not share it), in
// /dev/shm when it exists: no disk I/O per input. `suffix` ends the name (".jsonl", ...).
// Created once per suffix; the file is removed when the process exits.
const std::string& scratch_path(std::string_view suffix = ".bin");

// Writes `data` to scratch_path(suffix), replacing what was there, and returns the path.
const std::string& write_scratch(const uint8_t* data, size_t size, std::string_view suffix = ".bin");

// Runs `read`, swallowing BadInput (the reader refused the input, as it should) and, when
// `failure_allowed`, Failure (the readers whose contract says "Failure on I/O or internal
// errors" for a condition of the file). Everything else escapes to libFuzzer.
template <class F>
void expect_typed_errors(F&& read, bool failure_allowed = false) {
  try {
    read();
  } catch (const BadInput&) {
  } catch (const Failure&) {
    if (!failure_allowed) throw;
  }
}

}  // namespace plinth::fuzz
