// The allocator settings plinth makes with mallopt() and the GLIBC_TUNABLES value that gives a
// benchmark's peer the same: the string, and that both change malloc's behaviour alike.
#include <malloc.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "test_support.h"
#include "util/allocator.h"

using namespace plinth;
using plinth::test::run_command;
using plinth::test::TempDir;

namespace {

constexpr size_t kProbeBytes = 16 << 20;  // over glibc's default mmap threshold, under ours

// Where a 16 MiB malloc comes from and what free does with it: "mmap" (its own mapping),
// "heap kept" (the heap, still held after free) or "heap trimmed" (the heap, given back).
std::string probe_malloc_here() {
  struct mallinfo2 before = mallinfo2();
  void* p = std::malloc(kProbeBytes);
  struct mallinfo2 during = mallinfo2();
  std::free(p);
  struct mallinfo2 after = mallinfo2();
  if (during.hblkhd > before.hblkhd) return "mmap";
  return after.arena >= during.arena ? "heap kept" : "heap trimmed";
}

// The same probe in a Python process (the peer of `plinth bench train` is one) started with
// GLIBC_TUNABLES=tunables; Python's own allocator is bypassed through ctypes.
std::string probe_malloc_in_python(const std::string& tunables) {
  TempDir dir;
  auto script = dir.write("probe.py", R"(import ctypes
names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in names]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
before = libc.mallinfo2(); p = libc.malloc(16 << 20); during = libc.mallinfo2()
libc.free(p); after = libc.mallinfo2()
if during.hblkhd > before.hblkhd: print("mmap")
else: print("heap kept" if after.arena >= during.arena else "heap trimmed")
)");
  auto r =
      run_command("env -u GLIBC_TUNABLES " + (tunables.empty() ? "" : "GLIBC_TUNABLES='" + tunables + "' ") +
                  "/usr/bin/python3 " + script.string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return r.output.substr(0, r.output.find('\n'));
}

}  // namespace

TEST_CASE("the peer's GLIBC_TUNABLES name the values of plinth's mallopt calls", "[util][allocator]") {
  CHECK(keep_freed_memory_mallopts() ==
        "mallopt(M_MMAP_THRESHOLD, 33554432), mallopt(M_TRIM_THRESHOLD, 1073741824)");
  CHECK(keep_freed_memory_tunables() ==
        "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824");
  SECTION("appended to inherited tunables, so that ours win as mallopt wins in plinth") {
    CHECK(merge_glibc_tunables(nullptr, "a=1") == "a=1");
    CHECK(merge_glibc_tunables("", "a=1") == "a=1");
    CHECK(merge_glibc_tunables("glibc.malloc.arena_max=2", "a=1") == "glibc.malloc.arena_max=2:a=1");
  }
}

TEST_CASE("a process started with the tunables allocates like plinth after its mallopt calls",
          "[util][allocator]") {
  keep_freed_memory_for_reuse();
  const std::string here = probe_malloc_here();
  CHECK(here == "heap kept");
  CHECK(probe_malloc_in_python(keep_freed_memory_tunables()) == here);
  SECTION("the probe tells the settings apart") {
    CHECK(probe_malloc_in_python("") == "mmap");
    CHECK(probe_malloc_in_python("glibc.malloc.mmap_threshold=33554432") == "heap trimmed");
  }
}
