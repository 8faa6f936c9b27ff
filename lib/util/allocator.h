// Process-wide settings of the C allocator, made once at the start of main().
#pragma once

namespace plinth {

// LibTorch's CPU tensors come straight from malloc. A training step allocates and frees the
// same few large buffers (logits chunks, activations, gradients: 1-32 MiB) over and over.
// glibc serves those with mmap and returns them with munmap, so every step pays page faults
// and the kernel's zeroing of fresh pages again: measured, a quarter of a bf16 step on 2 cores
// (plinth bench train --dim 256 --layers 4 --seq 256 --batch 8 --dtype bf16: 418 -> 314 ms,
// 600k -> 124k page faults). Here buffers up to 32 MiB (glibc's largest allowed threshold)
// come from the heap, and freed heap memory is kept for reuse instead of trimmed: the
// process holds on to its peak working set, which a training run needs again every step.
// A no-op where the C library is not glibc.
void keep_freed_memory_for_reuse();

}  // namespace plinth
