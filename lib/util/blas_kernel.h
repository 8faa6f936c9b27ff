// Which OpenBLAS kernel runs plinth's float32 matmuls, and whether a better one fits this CPU.
//
// Debian's OpenBLAS (LibTorch 1.13's float32 BLAS) picks its kernel from the CPU's family and
// model when it loads. On a processor newer than its table it falls back to a generic core:
// `Prescott` (SSE3) on a Xeon with AVX-512 made every float32 matmul several times slower
// (docs/performance.md, "The BLAS kernel"). It reads OPENBLAS_CORETYPE only when it loads, so the
// choice is made before: apps/blas_kernel_switch.cpp starts plinth again with the variable set
// when these functions say a better core fits. Nothing here links OpenBLAS: it is looked up in
// the running process, and where another BLAS serves LibTorch (the PyPI wheel's) nothing changes.
#pragma once

#include <optional>
#include <string>

namespace plinth::blas {

// Vector instruction sets, in the order OpenBLAS's kernels use them.
enum class Isa { kBaseline = 0, kAvx = 1, kAvx2 = 2, kAvx512 = 3 };
const char* isa_name(Isa isa);

// The widest set both the CPU and the OS (the registers saved on a context switch) support.
Isa cpu_isa();
// The same from /proc/cpuinfo's flags line ("avx2 fma avx512f ..."), assuming the OS saves the
// registers (Linux does for every set it lists there): for recorded machines in tests.
Isa isa_from_flags(const std::string& flags);

// The set a kernel of OpenBLAS's DYNAMIC_ARCH build uses, by its core name as
// openblas_get_corename() gives it (any case); nullopt for a name not known here.
std::optional<Isa> core_isa(const std::string& core);

// The core to ask for on a CPU with `cpu`, when OpenBLAS chose `detected`: "" keeps OpenBLAS's
// choice (it uses what the CPU has, or is a core not known here). SkylakeX for AVX-512, Haswell
// for AVX2 + FMA, Sandybridge for AVX.
std::string better_core(const std::string& detected, Isa cpu);

// The OpenBLAS in this process: "" when LibTorch's BLAS is not OpenBLAS.
std::string openblas_core();     // e.g. "Cooperlake"
std::string openblas_version();  // e.g. "OpenBLAS 0.3.21"

}  // namespace plinth::blas
