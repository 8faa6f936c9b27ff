// The kernel switch's decision on recorded machines: the CPU's flags as /proc/cpuinfo lists them
// (the vector sets only) and the core OpenBLAS 0.3.21 chose there.
#include <catch2/catch.hpp>

#include <string>

#include "util/blas_kernel.h"

using plinth::blas::better_core;
using plinth::blas::core_isa;
using plinth::blas::Isa;
using plinth::blas::isa_from_flags;

namespace {

struct Machine {
  const char* what;
  const char* flags;     // /proc/cpuinfo, the vector sets
  const char* detected;  // OPENBLAS_VERBOSE=2's "Core:"
  const char* expected;  // what plinth asks for; "" keeps OpenBLAS's choice
};

const Machine kMachines[] = {
    // Issue 29's machine (2026-12-03): AVX-512 with BF16, no AMX; OpenBLAS did not know the model.
    // Measured there: 32 GFLOP/s on Prescott, 191 with SkylakeX, 119 with Haswell.
    {"Xeon, AVX-512 BF16, no AMX, unknown to OpenBLAS",
     "fma avx avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 avx512_vnni", "Prescott",
     "SkylakeX"},
    // This project's sessions on 2026-12-07: OpenBLAS knows it.
    {"AMD EPYC, AVX-512 BF16",
     "fma avx avx2 avx512f avx512dq avx512ifma avx512cd avx512bw avx512vl avx512_bf16 avx512vbmi "
     "avx512_vbmi2 avx512_vnni avx512_bitalg avx512_vpopcntdq",
     "Cooperlake", ""},
    // The AMX machine README's first timings came from.
    {"Xeon with AMX",
     "fma avx avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 amx_bf16 amx_tile", "Cooperlake",
     ""},
    {"AVX-512 CPU that OpenBLAS took for Haswell", "fma avx avx2 avx512f avx512dq avx512cd avx512bw avx512vl",
     "Haswell", "SkylakeX"},
    {"AVX2 CPU unknown to OpenBLAS", "fma avx avx2", "Prescott", "Haswell"},
    {"AVX2 CPU OpenBLAS knows (Zen)", "fma avx avx2", "Zen", ""},
    {"AVX without AVX2 (Sandy Bridge) unknown to OpenBLAS", "avx", "Nehalem", "Sandybridge"},
    {"SSE only", "sse4_2", "Nehalem", ""},
    // AVX-512F without BW/VL (Knights Landing): not what the SkylakeX kernels need.
    {"AVX-512F only", "fma avx avx2 avx512f avx512cd avx512er avx512pf", "Haswell", ""},
    // A core name this plinth does not know (a newer OpenBLAS): left alone.
    {"unknown core name", "fma avx avx2 avx512f avx512dq avx512cd avx512bw avx512vl", "Graniterapids", ""},
};

}  // namespace

TEST_CASE("the BLAS kernel switch asks for a better core only where OpenBLAS left the CPU's vectors unused",
          "[util][blas]") {
  for (const Machine& m : kMachines) {
    INFO(m.what << ": OpenBLAS chose " << m.detected);
    CHECK(better_core(m.detected, isa_from_flags(m.flags)) == m.expected);
  }
  CHECK(isa_from_flags("fma avx avx2 avx512f avx512dq avx512cd avx512bw avx512vl") == Isa::kAvx512);
  CHECK(isa_from_flags("avx avx2") == Isa::kAvx);  // AVX2 without FMA: OpenBLAS's Haswell needs both
  CHECK(isa_from_flags("") == Isa::kBaseline);
  // Names are matched in any case, as OpenBLAS's own OPENBLAS_CORETYPE reader does.
  CHECK(core_isa("SKYLAKEX") == Isa::kAvx512);
  CHECK(core_isa("prescott") == Isa::kBaseline);
  CHECK_FALSE(core_isa("").has_value());
  // Every core asked for is one the table knows at the set it was chosen for.
  CHECK(core_isa(better_core("Prescott", Isa::kAvx512)) == Isa::kAvx512);
  CHECK(core_isa(better_core("Prescott", Isa::kAvx2)) == Isa::kAvx2);
  CHECK(core_isa(better_core("Prescott", Isa::kAvx)) == Isa::kAvx);
}
