#include "util/hash.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <charconv>
#include <cstdio>
#include <vector>

#include "util/error.h"

namespace plinth {

uint64_t hash64(const void* data, size_t size, uint64_t seed) {
  return XXH3_64bits_withSeed(data, size, seed);
}

std::string hex64(uint64_t h) {
  return fmt::format("{:016x}", h);
}

std::optional<uint64_t> parse_hex64(std::string_view text) {
  uint64_t value = 0;
  if (text.empty() || text.size() > 16) return std::nullopt;
  const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  if (err != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

struct Hasher::State {
  XXH3_state_t* s = XXH3_createState();
  ~State() { XXH3_freeState(s); }
};

Hasher::Hasher(uint64_t seed) : state_(std::make_unique<State>()) {
  XXH3_64bits_reset_withSeed(state_->s, seed);
}
Hasher::~Hasher() = default;

Hasher& Hasher::update(const void* data, size_t size) {
  XXH3_64bits_update(state_->s, data, size);
  return *this;
}

Hasher& Hasher::field(std::string_view s) {
  field(static_cast<uint64_t>(s.size()));
  return update(s);
}

Hasher& Hasher::field(uint64_t v) {
  return update(&v, sizeof v);
}

uint64_t Hasher::digest() const {
  return XXH3_64bits_digest(state_->s);
}

uint64_t hash_file(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Failure(fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
  Hasher h;
  std::vector<char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) h.update(buf.data(), n);
  bool failed = std::ferror(f);
  std::fclose(f);
  if (failed) throw Failure(fmt::format("error reading {}", path.string()));
  return h.digest();
}

}  // namespace plinth
