// Content hashes (XXH3, 64 bit): shard checksums, tokenizer identity, "is this input
// unchanged?" for skipping work. Not cryptographic; collisions are not a threat model here.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace plinth {

uint64_t hash64(const void* data, size_t size, uint64_t seed = 0);
inline uint64_t hash64(std::string_view s, uint64_t seed = 0) {
  return hash64(s.data(), s.size(), seed);
}

// The top 53 bits of a 64-bit hash as a uniform number in [0, 1): every double of the form
// k / 2^53 is equally likely. The one mapping behind every seeded split and draw (which
// documents are validation, which task prompts are test, which domain a window comes from), so
// they all change together or not at all.
inline double unit_interval(uint64_t bits) {
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}
// unit_interval of hash64(text, seed).
inline double hash_unit(std::string_view text, uint64_t seed) {
  return unit_interval(hash64(text, seed));
}

// 16 lowercase hex digits.
std::string hex64(uint64_t h);
// The inverse of hex64 (1 to 16 hex digits, either case); nullopt for anything else.
std::optional<uint64_t> parse_hex64(std::string_view text);

// Streaming hash over several pieces; the same bytes give the same hash however they are split.
class Hasher {
 public:
  explicit Hasher(uint64_t seed = 0);
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  Hasher& update(const void* data, size_t size);
  Hasher& update(std::string_view s) { return update(s.data(), s.size()); }
  // Hashes the length too, so ("ab","c") and ("a","bc") differ.
  Hasher& field(std::string_view s);
  Hasher& field(uint64_t v);
  uint64_t digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Hash of a whole file's bytes. Throws Failure when it cannot be read.
uint64_t hash_file(const std::filesystem::path& path);

}  // namespace plinth
