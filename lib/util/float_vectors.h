// Portable float32 vectors for the few CPU kernels plinth writes itself (the softmax cross-
// entropy, RMSNorm, SwiGLU, AdamW): GCC/clang vector extensions of 16 lanes, so one source
// compiles to AVX-512, AVX2 or SSE, plus loads and stores from float32 or bf16 memory and an
// exp. Include only from kernel .cpp files (it silences -Wpsabi for them), never from headers.
//
// Why not -ffast-math and plain loops: fast-math would let the compiler drop NaN propagation,
// and a diverging run must show a NaN loss to be noticed. Explicit vectors make the max/sum
// reductions vectorise without it.
#pragma once

#include <cstdint>
#include <cstring>

// Each kernel entry point marked PLINTH_CPU_CLONES is compiled three times, for the x86-64
// levels v4 (AVX-512), v3 (AVX2 + FMA) and the baseline, and the loader picks the best the
// CPU has (GCC 12's multi-versioning by feature level; "arch=<cpu name>" clones dispatch on
// the CPU's model and would miss AMD's). The v4 clone is several times the baseline's speed
// (docs/performance.md, "Measurements behind the code's choices").
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define PLINTH_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PLINTH_CPU_CLONES
#endif

// Helpers are forced inline so each clone compiles them for its own instruction set; vector
// arguments then never cross a call, which is what GCC's -Wpsabi warns about.
#define PLINTH_INLINE inline __attribute__((always_inline))
#pragma GCC diagnostic ignored "-Wpsabi"

namespace plinth::simd {

constexpr int kLanes = 16;  // one AVX-512 register of float32, two AVX2 ones, four SSE ones
typedef float f32x16 __attribute__((vector_size(64)));
typedef uint32_t u32x16 __attribute__((vector_size(64)));
typedef uint16_t u16x16 __attribute__((vector_size(32)));

PLINTH_INLINE float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
PLINTH_INLINE uint32_t to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
PLINTH_INLINE f32x16 from_bits(const u32x16& u) { return reinterpret_cast<f32x16>(u); }  // same bits
PLINTH_INLINE u32x16 to_bits(const f32x16& f) { return reinterpret_cast<u32x16>(f); }

// One value or kLanes values, from float32 or bf16 (uint16_t bit patterns) memory.
PLINTH_INLINE float load1(const float* p) { return *p; }
PLINTH_INLINE float load1(const uint16_t* p) { return from_bits(static_cast<uint32_t>(*p) << 16); }
PLINTH_INLINE f32x16 load16(const float* p) {
  f32x16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
PLINTH_INLINE f32x16 load16(const uint16_t* p) {
  u16x16 h;
  std::memcpy(&h, p, sizeof h);
  return from_bits(__builtin_convertvector(h, u32x16) << 16);
}

// float32 -> bf16 bits: round to nearest even, as c10::BFloat16; NaN -> the quiet NaN 0x7FC0.
template <typename U>
PLINTH_INLINE U bf16_bits(const U& u) {
  const U rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  return (u & 0x7FFFFFFFu) > 0x7F800000u ? U{} + 0x7FC0u : rounded;
}
PLINTH_INLINE void store1(float* p, float x) { *p = x; }
PLINTH_INLINE void store1(uint16_t* p, float x) { *p = static_cast<uint16_t>(bf16_bits(to_bits(x))); }
PLINTH_INLINE void store16(float* p, const f32x16& v) { std::memcpy(p, &v, sizeof v); }
PLINTH_INLINE void store16(uint16_t* p, const f32x16& v) {
  const u16x16 h = __builtin_convertvector(bf16_bits(to_bits(v)), u16x16);
  std::memcpy(p, &h, sizeof h);
}

// e^x, V = float or f32x16, within 2 ulp of std::exp on [-87, 88]; x is clamped to that range
// (below, e^x is under float32's normal range and vanishes in any sum it joins; above, it
// would overflow). NaN stays NaN. x = n ln2 + r with |r| <= ln2 / 2, a degree-6 polynomial for
// e^r, and 2^n built in the exponent bits.
template <typename V>
PLINTH_INLINE V exp(const V& x_in) {
  const V low = V{} - 87.0f, high = V{} + 88.0f;
  V x = x_in < low ? low : x_in;
  x = x > high ? high : x;
  constexpr float kRound = 12582912.0f;           // 1.5 * 2^23: adding it rounds to an integer
  const V t = x * 1.44269504088896341f + kRound;  // n = round(x / ln 2), in t's low bits
  const V n = t - kRound;                         // -126 <= n <= 127
  const auto two_n = from_bits((to_bits(t) - to_bits(V{} + kRound) + 127u) << 23);
  const V r = (x - n * 0.693359375f) - n * -2.12194440e-4f;  // ln 2 in two parts (Cody-Waite)
  V p = V{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return (p * (r * r) + r + 1.0f) * two_n;
}

// Horizontal sum and maximum of the lanes (the maximum skips NaN lanes).
PLINTH_INLINE float sum_lanes(const f32x16& v) {
  float s = 0.0f;
  for (int l = 0; l < kLanes; ++l) s += v[l];
  return s;
}
PLINTH_INLINE float max_lanes(const f32x16& v, float start) {
  for (int l = 0; l < kLanes; ++l) start = v[l] > start ? v[l] : start;
  return start;
}

}  // namespace plinth::simd
