#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/shard.h"
#include "test_support.h"
#include "util/error.h"
#include "util/hash.h"

namespace plinth::data {
using test::bad_input_message;
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

constexpr uint64_t kTokenizerHash = 0x1122334455667788ULL;
// Offsets into the header as documented in shard.h (bytes).
constexpr uint64_t kVersionOffset = 8;
constexpr uint64_t kTokenCountOffset = 24;
constexpr uint64_t kHeaderChecksumOffset = 64;

fs::path write_valid_shard(const test::TempDir& dir) {
  fs::path path = dir / "train.shard";
  ShardWriter w(path, 2, 1000, kTokenizerHash);
  std::vector<int32_t> a = {1, 2, 3, 4, 5, 6, 7};
  std::vector<int32_t> b = {999, 0, 500};
  w.add_document(a.data(), a.size(), 20);
  w.add_document(b.data(), b.size(), 9);
  w.commit();
  return path;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void flip_byte(const fs::path& path, uint64_t offset) {
  std::string bytes = read_bytes(path);
  REQUIRE(offset < bytes.size());
  bytes[offset] = static_cast<char>(bytes[offset] ^ 0x40);
  write_bytes(path, bytes);
}

std::string open_message(const fs::path& path, uint64_t expected_hash = 0) {
  return bad_input_message([&] { ShardReader::open(path, expected_hash); });
}

std::string info_message(const fs::path& path) {
  return bad_input_message([&] { ShardReader::read_info(path); });
}

}  // namespace

TEST_CASE("opening a shard checks it end to end", "[data][shard]") {
  test::TempDir dir;
  fs::path path = write_valid_shard(dir);
  uint64_t size = fs::file_size(path);

  SECTION("a matching tokenizer hash, or none expected, is accepted") {
    CHECK(ShardReader::open(path, kTokenizerHash).size() == 10);
    CHECK(ShardReader::open(path).size() == 10);
  }
  SECTION("a different tokenizer is refused, naming both hashes") {
    std::string msg = open_message(path, 0xdeadbeefULL);
    CHECK_THAT(msg, Contains(path.string()) && Contains("another tokenizer") &&
                        Contains(hex64(kTokenizerHash)) && Contains(hex64(0xdeadbeefULL)) &&
                        Contains("plinth prepare"));
  }
  SECTION("a truncated shard says so, with both sizes") {
    fs::resize_file(path, size - 3);
    std::string expected =
        "truncated: expected " + std::to_string(size) + " bytes, found " + std::to_string(size - 3);
    CHECK_THAT(open_message(path),
               Contains(path.string()) && Contains(expected) && Contains("plinth prepare"));
    CHECK_THAT(info_message(path), Contains(expected));
  }
  SECTION("trailing bytes are refused") {
    write_bytes(path, read_bytes(path) + "xx");
    CHECK_THAT(open_message(path),
               Contains("trailing bytes") && Contains("expected " + std::to_string(size)));
  }
  SECTION("a flipped payload byte is corruption") {
    flip_byte(path, kShardHeaderBytes + 5);
    CHECK_THAT(open_message(path),
               Contains(path.string()) && Contains("corrupt: payload") && Contains("plinth prepare"));
    // read_info looks at the header only and does not notice.
    CHECK(ShardReader::read_info(path).tokens == 10);
  }
  SECTION("a flipped byte in the document index is corruption") {
    flip_byte(path, size - 2);
    CHECK_THAT(open_message(path), Contains("corrupt: payload"));
  }
  SECTION("a flipped header byte fails the header checksum") {
    flip_byte(path, kTokenCountOffset);
    CHECK_THAT(open_message(path), Contains(path.string()) && Contains("corrupt header"));
    CHECK_THAT(info_message(path), Contains("corrupt header"));
  }
  SECTION("a newer format version is named as such") {
    std::string bytes = read_bytes(path);
    uint32_t version = kShardVersion + 1;
    std::memcpy(&bytes[kVersionOffset], &version, sizeof version);
    // A well-formed header of the future version: the checksum matches.
    uint64_t checksum = hash64(bytes.data(), kHeaderChecksumOffset);
    std::memcpy(&bytes[kHeaderChecksumOffset], &checksum, sizeof checksum);
    write_bytes(path, bytes);
    CHECK_THAT(open_message(path), Contains("version 2") && Contains("newer"));
    CHECK_THAT(info_message(path), Contains("newer"));
  }
  SECTION("a text file is not a shard") {
    fs::path text = dir.write("notes.txt", std::string(300, 'a'));
    CHECK_THAT(open_message(text), Contains(text.string()) && Contains("not a plinth shard"));
    CHECK_THAT(info_message(text), Contains("not a plinth shard"));
  }
  SECTION("a file shorter than the header is not a shard") {
    fs::path tiny = dir.write("tiny.shard", "PLSHARD1");
    CHECK_THAT(open_message(tiny), Contains("not a plinth shard") && Contains("8 bytes"));
  }
  SECTION("a missing shard is bad input") {
    CHECK_THAT(open_message(dir / "missing.shard"), Contains("does not exist"));
  }
}

}  // namespace plinth::data
