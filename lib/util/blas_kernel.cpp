#include "util/blas_kernel.h"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <utility>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace plinth::blas {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return "AVX-512";
    case Isa::kAvx2:
      return "AVX2";
    case Isa::kAvx:
      return "AVX";
    case Isa::kBaseline:
      break;
  }
  return "SSE";
}

namespace {

Isa widest(bool avx, bool avx2_fma, bool avx512) {
  if (avx512) return Isa::kAvx512;
  if (avx2_fma) return Isa::kAvx2;
  return avx ? Isa::kAvx : Isa::kBaseline;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

Isa cpu_isa() {
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return Isa::kBaseline;
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28);
  if (!osxsave || !avx) return Isa::kBaseline;
  unsigned xcr0_lo = 0, xcr0_hi = 0;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  const bool os_ymm = (xcr0_lo & 0x6u) == 0x6u;    // SSE and AVX state
  const bool os_zmm = (xcr0_lo & 0xE6u) == 0xE6u;  // and the opmask and both ZMM halves
  if (!os_ymm) return Isa::kBaseline;
  unsigned max_leaf = __get_cpuid_max(0, nullptr);
  bool avx2 = false, avx512 = false;
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    avx2 = b & (1u << 5);
    // F, DQ, CD, BW, VL: what OpenBLAS's SkylakeX kernels use
    const unsigned need = (1u << 16) | (1u << 17) | (1u << 28) | (1u << 30) | (1u << 31);
    avx512 = os_zmm && (b & need) == need;
  }
  return widest(true, avx2 && fma, avx512);
#else
  return Isa::kBaseline;
#endif
}

Isa isa_from_flags(const std::string& flags) {
  std::istringstream in(flags);
  bool avx = false, avx2 = false, fma = false, f = false, dq = false, cd = false, bw = false, vl = false;
  for (std::string w; in >> w;) {
    avx |= w == "avx";
    avx2 |= w == "avx2";
    fma |= w == "fma";
    f |= w == "avx512f";
    dq |= w == "avx512dq";
    cd |= w == "avx512cd";
    bw |= w == "avx512bw";
    vl |= w == "avx512vl";
  }
  return widest(avx, avx2 && fma, f && dq && cd && bw && vl);
}

std::optional<Isa> core_isa(const std::string& core) {
  // OpenBLAS 0.3.x's x86-64 cores (driver/others/dynamic.c), by the widest set their kernels use.
  static const std::pair<const char*, Isa> kCores[] = {
      {"skylakex", Isa::kAvx512},
      {"cooperlake", Isa::kAvx512},
      {"sapphirerapids", Isa::kAvx512},
      {"haswell", Isa::kAvx2},
      {"zen", Isa::kAvx2},
      {"excavator", Isa::kAvx2},
      {"sandybridge", Isa::kAvx},
      {"bulldozer", Isa::kAvx},
      {"piledriver", Isa::kAvx},
      {"steamroller", Isa::kAvx},
      {"prescott", Isa::kBaseline},
      {"core2", Isa::kBaseline},
      {"penryn", Isa::kBaseline},
      {"dunnington", Isa::kBaseline},
      {"nehalem", Isa::kBaseline},
      {"atom", Isa::kBaseline},
      {"katmai", Isa::kBaseline},
      {"coppermine", Isa::kBaseline},
      {"northwood", Isa::kBaseline},
      {"banias", Isa::kBaseline},
      {"athlon", Isa::kBaseline},
      {"opteron", Isa::kBaseline},
      {"opteron_sse3", Isa::kBaseline},
      {"barcelona", Isa::kBaseline},
      {"bobcat", Isa::kBaseline},
      {"nano", Isa::kBaseline},
  };
  const std::string name = lower(core);
  for (const auto& [known, isa] : kCores)
    if (name == known) return isa;
  return std::nullopt;
}

std::string better_core(const std::string& detected, Isa cpu) {
  const std::optional<Isa> uses = core_isa(detected);
  if (!uses || *uses >= cpu) return "";
  switch (cpu) {
    case Isa::kAvx512:
      return "SkylakeX";
    case Isa::kAvx2:
      return "Haswell";
    case Isa::kAvx:
      return "Sandybridge";
    case Isa::kBaseline:
      break;
  }
  return "";
}

namespace {

// A function of the OpenBLAS already loaded (through LibTorch's libblas.so.3), if there is one.
template <class F>
F openblas_function(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_DEFAULT, name));
}

}  // namespace

std::string openblas_core() {
  auto f = openblas_function<char* (*)()>("openblas_get_corename");
  const char* core = f ? f() : nullptr;
  return core ? core : "";
}

std::string openblas_version() {
  auto f = openblas_function<char* (*)()>("openblas_get_config");
  const char* config = f ? f() : nullptr;  // "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Cooperlake ..."
  if (!config) return "";
  std::istringstream in(config);
  std::string name, version;
  in >> name >> version;
  return name + (version.empty() ? "" : " " + version);
}

}  // namespace plinth::blas
