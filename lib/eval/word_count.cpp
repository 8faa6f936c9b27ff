#include "eval/word_count.h"

namespace plinth::eval {

namespace {

bool is_space(uint32_t c) {
  if (c <= 0x20) return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20);
  switch (c) {
    case 0x85:
    case 0xa0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202f:
    case 0x205f:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200a;
  }
}

// Decodes the code point at s[i] and advances i. A byte that does not start a complete,
// well-formed sequence is taken alone as U+FFFD (not whitespace).
uint32_t next_code_point(std::string_view s, size_t& i) {
  auto b = static_cast<unsigned char>(s[i]);
  size_t extra = b < 0x80 ? 0 : (b >> 5) == 0x6 ? 1 : (b >> 4) == 0xe ? 2 : (b >> 3) == 0x1e ? 3 : 4;
  if (extra == 0) {
    ++i;
    return b;
  }
  if (extra == 4 || i + extra >= s.size()) {
    ++i;
    return 0xfffd;
  }
  uint32_t c = b & (0x3f >> extra);
  for (size_t k = 1; k <= extra; ++k) {
    auto cont = static_cast<unsigned char>(s[i + k]);
    if ((cont & 0xc0) != 0x80) {
      ++i;
      return 0xfffd;
    }
    c = (c << 6) | (cont & 0x3f);
  }
  i += extra + 1;
  return c;
}

}  // namespace

uint64_t count_words(std::string_view text) {
  uint64_t words = 0;
  bool in_word = false;
  for (size_t i = 0; i < text.size();) {
    bool space = is_space(next_code_point(text, i));
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

}  // namespace plinth::eval
