#include "data/utf8.h"

#include <cstdint>
#include <cstring>
#include <string>

#include "data/corpus_reader.h"

namespace plinth::data {

size_t utf8_sequence(const unsigned char* s, size_t avail, size_t& bad) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  // Lead byte ranges and the allowed range of the first continuation byte: they exclude
  // overlong forms (C0, C1, E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code points
  // above U+10FFFF (F4 90.., F5..FF).
  size_t need = 0;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c == 0xE0) {
    need = 2;
    lo = 0xA0;
  } else if (c >= 0xE1 && c <= 0xEF) {
    need = 2;
    if (c == 0xED) hi = 0x9F;
  } else if (c == 0xF0) {
    need = 3;
    lo = 0x90;
  } else if (c >= 0xF1 && c <= 0xF3) {
    need = 3;
  } else if (c == 0xF4) {
    need = 3;
    hi = 0x8F;
  } else {
    bad = 1;
    return 0;
  }
  for (size_t k = 1; k <= need; ++k) {
    if (k >= avail || s[k] < lo || s[k] > hi) {
      bad = k;
      return 0;
    }
    lo = 0x80;
    hi = 0xBF;
  }
  return need + 1;
}

// Position of the first byte at or after i that is NUL or not ASCII; eight bytes at a time,
// since nearly all corpus text is ASCII.
static size_t skip_plain_ascii(const unsigned char* s, size_t i, size_t n) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHighs = 0x8080808080808080ull;
  while (i + 8 <= n) {
    uint64_t w;
    std::memcpy(&w, s + i, 8);
    uint64_t has_zero = (w - kOnes) & ~w & kHighs;
    if ((w & kHighs) | has_zero) break;
    i += 8;
  }
  while (i < n && s[i] != 0 && s[i] < 0x80) ++i;
  return i;
}

uint64_t sanitize_utf8(std::string& text, uint64_t& nul_bytes) {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  std::string out;  // used only once a byte must change; clean text is never copied
  bool rewriting = false;
  size_t run = 0;  // start of the bytes not yet copied to `out`
  uint64_t invalid = 0;
  auto flush = [&](size_t upto) {
    if (!rewriting) {
      rewriting = true;
      out.reserve(n + 16);
    }
    out.append(text, run, upto - run);
  };
  size_t i = 0;
  while (true) {
    i = skip_plain_ascii(s, i, n);
    if (i >= n) break;
    if (s[i] == 0) {
      flush(i);
      ++nul_bytes;
      run = ++i;
      continue;
    }
    size_t bad = 0;
    size_t len = utf8_sequence(s + i, n - i, bad);
    if (len) {
      i += len;
      continue;
    }
    flush(i);
    out.append(kReplacement, 3);
    ++invalid;
    i += bad;
    run = i;
  }
  if (rewriting) {
    out.append(text, run, n - run);
    text.swap(out);
  }
  return invalid;
}

size_t utf8_floor(std::string_view s, size_t pos) {
  if (pos >= s.size()) return s.size();
  while (pos > 0 && (static_cast<unsigned char>(s[pos]) & 0xC0) == 0x80) --pos;
  return pos;
}

ByteSample inspect_bytes(std::string_view sample) {
  ByteSample r;
  r.bytes = sample.size();
  const auto* s = reinterpret_cast<const unsigned char*>(sample.data());
  size_t i = 0;
  while (true) {
    i = skip_plain_ascii(s, i, sample.size());
    if (i >= sample.size()) break;
    if (s[i] == 0) {
      ++r.nul;
      ++i;
      continue;
    }
    size_t bad = 0;
    size_t len = utf8_sequence(s + i, sample.size() - i, bad);
    if (len) {
      i += len;
    } else {
      // A sequence cut by the end of the sample is not evidence of anything.
      if (i + bad < sample.size()) r.invalid_bytes += bad;
      i += bad;
    }
  }
  return r;
}

bool looks_binary(const ByteSample& sample) {
  if (sample.bytes == 0) return false;
  // More than 1 NUL in 200 bytes, or more than a fifth of the bytes outside UTF-8; a couple
  // of stray bytes in a tiny file are repaired, not taken as evidence.
  return (sample.nul > 2 && sample.nul * 200 > sample.bytes) ||
         (sample.invalid_bytes > 2 && sample.invalid_bytes * 5 > sample.bytes);
}

}  // namespace plinth::data
