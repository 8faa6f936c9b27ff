#include "blas_kernel_switch.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "util/blas_kernel.h"
#include "util/log.h"

namespace plinth {

namespace {

// Set for the restarted process: the core OpenBLAS had chosen, so that the restarted plinth can
// say what changed (and only it: it unsets the variable, and children inherit only
// OPENBLAS_CORETYPE, which they leave alone as a user's choice).
constexpr const char* kSwitchedFrom = "PLINTH_OPENBLAS_SWITCHED_FROM";
// Tests only: the core to treat as OpenBLAS's own choice, so that the switch can be tested end to
// end on a CPU OpenBLAS knows.
constexpr const char* kPretendDetected = "PLINTH_TEST_OPENBLAS_DETECTED";

bool quiet(int argc, char** argv) {
  for (int i = 1; i < argc && argv[i][0] == '-'; ++i)
    if (std::string_view(argv[i]) == "-q" || std::string_view(argv[i]) == "--quiet") return true;
  return false;
}

}  // namespace

void use_best_blas_kernel(int argc, char** argv) {
  if (const char* from = std::getenv(kSwitchedFrom)) {
    const std::string before = from;
    ::unsetenv(kSwitchedFrom);
    const std::string asked = std::getenv("OPENBLAS_CORETYPE") ? std::getenv("OPENBLAS_CORETYPE") : "";
    const std::string now = blas::openblas_core();
    if (now != asked)
      log::warn("OpenBLAS did not take OPENBLAS_CORETYPE={}: it runs its {} kernel", asked, now);
    else if (!quiet(argc, argv))
      log::info(
          "OpenBLAS chose its {} kernel, which leaves this CPU's {} unused: running with "
          "OPENBLAS_CORETYPE={} (set OPENBLAS_CORETYPE to choose another)",
          before, blas::isa_name(blas::cpu_isa()), now);
    return;
  }
  if (std::getenv("OPENBLAS_CORETYPE")) return;  // the user's choice
  std::string detected = blas::openblas_core();
  if (detected.empty()) return;  // LibTorch's BLAS is not OpenBLAS
  if (const char* pretend = std::getenv(kPretendDetected)) detected = pretend;
  const std::string core = blas::better_core(detected, blas::cpu_isa());
  if (core.empty()) return;
  ::setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  ::setenv(kSwitchedFrom, detected.c_str(), 1);
  ::unsetenv(kPretendDetected);
  ::execv("/proc/self/exe", argv);
  // Still here: the restart failed; run on as OpenBLAS chose.
  log::warn(
      "could not start plinth again with OPENBLAS_CORETYPE={} ({}): float32 matmuls run on "
      "OpenBLAS's {} kernel",
      core, std::strerror(errno), detected);
  ::unsetenv("OPENBLAS_CORETYPE");
  ::unsetenv(kSwitchedFrom);
}

}  // namespace plinth
