// Token shards: one file per (domain, split), written once by `plinth prepare` and read
// memory-mapped by training and evaluation.
//
// Layout (little-endian), version 1:
//   [0, 128)  header: magic "PLSHARD1", version u32, token_width u32 (2 or 4),
//             vocab_size u32, reserved u32, token_count u64, document_count u64,
//             text_bytes u64, tokenizer_hash u64, payload_checksum u64 (XXH3 of the bytes
//             after the header), header_checksum u64 (XXH3 of the header bytes before it),
//             zero padding
//   tokens    token_count x token_width bytes (uint16 or uint32)
//   index     document_count x {u64 first_token, u64 text_bytes}
// Documents are stored back to back; the writer's caller appends the EOS id to each.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace plinth::data {

inline constexpr char kShardMagic[8] = {'P', 'L', 'S', 'H', 'A', 'R', 'D', '1'};
inline constexpr uint32_t kShardVersion = 1;
inline constexpr size_t kShardHeaderBytes = 128;

struct ShardInfo {
  uint32_t version = 0;
  uint32_t token_width = 0;  // bytes per token: 2 or 4
  uint32_t vocab_size = 0;
  uint64_t tokens = 0;
  uint64_t documents = 0;
  uint64_t text_bytes = 0;  // UTF-8 bytes of the source text of all documents
  uint64_t tokenizer_hash = 0;
};

// Smallest width that holds every id of a vocabulary: 2 when vocab_size <= 65536, else 4.
uint32_t token_width_for(uint32_t vocab_size);

// Writes a shard atomically (temp file + fsync + rename on commit(); nothing is left
// behind if commit() is never reached). Throws BadInput when token_width is 2 and the
// vocabulary does not fit in uint16, Failure on I/O errors.
class ShardWriter {
 public:
  ShardWriter(std::filesystem::path path, uint32_t token_width, uint32_t vocab_size, uint64_t tokenizer_hash);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Appends one document's ids (each < vocab_size, else Failure) and its source byte count.
  void add_document(const int32_t* ids, size_t count, uint64_t text_bytes);
  void commit();
  const ShardInfo& info() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A shard mapped into memory. open() checks everything before returning: magic, version,
// file size against the header (truncation), both checksums, that the document index starts at
// token 0 and never goes back or past the end, that every token id is below vocab_size, and the
// tokenizer hash when one is expected. Each failure is a BadInput naming the file and saying what to do
// (usually: run `plinth prepare` again).
class ShardReader {
 public:
  // expected_tokenizer_hash == 0: accept any tokenizer.
  static ShardReader open(const std::filesystem::path& path, uint64_t expected_tokenizer_hash = 0);
  // Header only, without mapping the payload or verifying checksums (inspect, staleness checks).
  static ShardInfo read_info(const std::filesystem::path& path);

  ShardReader(ShardReader&&) noexcept;
  ShardReader& operator=(ShardReader&&) noexcept;
  ~ShardReader();

  const ShardInfo& info() const { return info_; }
  const std::filesystem::path& path() const { return path_; }
  uint64_t size() const { return info_.tokens; }
  uint32_t token(uint64_t i) const;
  // Copies tokens [start, start + count) widened to int64 (what torch wants as indices).
  void read(uint64_t start, size_t count, int64_t* out) const;
  // Token range [first, last) and source byte count of document d.
  std::pair<uint64_t, uint64_t> document_range(uint64_t d) const;
  uint64_t document_bytes(uint64_t d) const;

 private:
  ShardReader() = default;
  std::filesystem::path path_;
  ShardInfo info_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  const uint8_t* tokens_ = nullptr;
  const uint64_t* index_ = nullptr;  // pairs {first_token, text_bytes}
};

}  // namespace plinth::data
