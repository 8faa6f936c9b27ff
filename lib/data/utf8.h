// UTF-8 at the byte level, for the corpus reader: which bytes form a well-formed sequence,
// where valid text may be cut, and whether a sample of a file is text at all.
#pragma once

#include <cstddef>
#include <string_view>

namespace plinth::data {

// Bytes of the well-formed UTF-8 sequence that starts at s[0] (1 to 4), or 0 when the bytes
// there are ill-formed; `bad` then holds the length of the maximal ill-formed subpart (>= 1),
// which is what one U+FFFD replaces (the Unicode "maximal subpart" practice).
size_t utf8_sequence(const unsigned char* s, size_t avail, size_t& bad);

// The largest position <= pos that does not split a sequence of the valid UTF-8 text `s`.
size_t utf8_floor(std::string_view s, size_t pos);

struct ByteSample {
  size_t bytes = 0;
  size_t nul = 0;            // NUL bytes
  size_t invalid_bytes = 0;  // bytes inside ill-formed sequences
};
ByteSample inspect_bytes(std::string_view sample);

// Text may hold a stray NUL or a few Latin-1 bytes (a name in a copyright file); a binary file
// (an index, an image, an unsupported compressor's output) has many of either.
bool looks_binary(const ByteSample& sample);

}  // namespace plinth::data
