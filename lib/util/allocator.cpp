#include "util/allocator.h"

#include <cstdlib>  // defines __GLIBC__ where the C library is glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace plinth {

void keep_freed_memory_for_reuse() {
#if defined(__GLIBC__)
  // Setting either disables glibc's sliding thresholds; both must be set, or the fixed trim
  // threshold alone leaves every buffer over 128 KiB to mmap (measured: twice as slow).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

}  // namespace plinth
