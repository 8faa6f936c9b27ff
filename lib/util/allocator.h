// Process-wide settings of the C allocator, made once at the start of main(), and the same
// settings for the peers that the benchmarks launch, so that both sides run with one allocator.
#pragma once

#include <string>

namespace plinth {

// LibTorch's CPU tensors come straight from malloc. A training step allocates and frees the
// same few large buffers (logits chunks, activations, gradients: 1-32 MiB) over and over.
// glibc serves those with mmap and returns them with munmap, so every step pays page faults
// and the kernel's zeroing of fresh pages again, a sizeable share of a small model's step
// (docs/performance.md, "Measurements behind the code's choices"). Here buffers up to 32 MiB
// (glibc's largest allowed threshold)
// come from the heap, and freed heap memory is kept for reuse instead of trimmed: the
// process holds on to its peak working set, which a training run needs again every step.
// A no-op where the C library is not glibc.
void keep_freed_memory_for_reuse();

// The settings of keep_freed_memory_for_reuse() as the value of GLIBC_TUNABLES, for a
// process we start (a benchmark's peer): "glibc.malloc.mmap_threshold=33554432:...".
// Empty where the C library is not glibc.
std::string keep_freed_memory_tunables();

// The same settings as the mallopt() calls, for people to read:
// "mallopt(M_MMAP_THRESHOLD, 33554432), mallopt(M_TRIM_THRESHOLD, 1073741824)", or
// "default malloc" where the C library is not glibc.
std::string keep_freed_memory_mallopts();

// `tunables` appended to an inherited GLIBC_TUNABLES value (`inherited` may be null or empty):
// glibc applies the assignments in order, so ours win, as mallopt() wins over the
// environment in our own process.
std::string merge_glibc_tunables(const char* inherited, const std::string& tunables);

}  // namespace plinth
