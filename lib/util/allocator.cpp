#include "util/allocator.h"

#include <fmt/format.h>

#include <cstddef>
#include <cstdlib>  // defines __GLIBC__ where the C library is glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace plinth {

namespace {

#if defined(__GLIBC__)
// Each mallopt() option with the GLIBC_TUNABLES name that sets the same field of glibc's
// malloc parameters (malloc.c, mp_), so a process we start gets exactly what we set here:
//   M_MMAP_THRESHOLD <-> glibc.malloc.mmap_threshold (mp_.mmap_threshold)
//   M_TRIM_THRESHOLD <-> glibc.malloc.trim_threshold (mp_.trim_threshold)
// Both routes also fix the thresholds (mp_.no_dyn_threshold = 1: checked on glibc 2.36, a
// tunable threshold does not slide after an mmapped chunk is freed). The options we leave
// alone (M_TOP_PAD / top_pad, M_MMAP_MAX / mmap_max, M_ARENA_MAX / arena_max,
// M_ARENA_TEST / arena_test) stay at glibc's defaults on both sides.
struct MallocSetting {
  int mallopt_option;
  const char* mallopt_name;
  const char* tunable;
  int value;
};

// Setting either disables glibc's sliding thresholds; both must be set, or the fixed trim
// threshold alone leaves every buffer over 128 KiB to mmap (measured: twice as slow).
constexpr MallocSetting kKeepFreedMemory[] = {
    {M_MMAP_THRESHOLD, "M_MMAP_THRESHOLD", "glibc.malloc.mmap_threshold", 32 << 20},
    {M_TRIM_THRESHOLD, "M_TRIM_THRESHOLD", "glibc.malloc.trim_threshold", 1 << 30},
};
#endif

}  // namespace

void keep_freed_memory_for_reuse() {
#if defined(__GLIBC__)
  for (const auto& s : kKeepFreedMemory) mallopt(s.mallopt_option, s.value);
#endif
}

std::string keep_freed_memory_tunables() {
  std::string out;
#if defined(__GLIBC__)
  for (const auto& s : kKeepFreedMemory)
    out += fmt::format("{}{}={}", out.empty() ? "" : ":", s.tunable, s.value);
#endif
  return out;
}

std::string keep_freed_memory_mallopts() {
  std::string out;
#if defined(__GLIBC__)
  for (const auto& s : kKeepFreedMemory)
    out += fmt::format("{}mallopt({}, {})", out.empty() ? "" : ", ", s.mallopt_name, s.value);
#endif
  return out.empty() ? "default malloc" : out;
}

std::string merge_glibc_tunables(const char* inherited, const std::string& tunables) {
  std::string base = inherited ? inherited : "";
  if (base.empty() || tunables.empty()) return base + tunables;
  return base + ":" + tunables;
}

}  // namespace plinth
