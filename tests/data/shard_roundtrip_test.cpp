#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <random>
#include <vector>

#include "data/shard.h"
#include "test_support.h"
#include "util/error.h"

namespace plinth::data {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

struct TestDocument {
  std::vector<int32_t> ids;
  uint64_t text_bytes;
};

void write_shard(const fs::path& path, uint32_t width, uint32_t vocab, uint64_t tokenizer_hash,
                 const std::vector<TestDocument>& docs) {
  ShardWriter w(path, width, vocab, tokenizer_hash);
  for (const auto& d : docs) w.add_document(d.ids.data(), d.ids.size(), d.text_bytes);
  w.commit();
}

// Deterministic token at position i of the large shard, so windows are checked without
// keeping the 5M expected ids around.
int32_t large_token(uint64_t i, uint32_t vocab) {
  return static_cast<int32_t>((i * 2654435761u + i / 7) % vocab);
}

std::vector<std::string> entries_of(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

}  // namespace

TEST_CASE("token_width_for picks the smallest width that holds every id", "[data][shard]") {
  CHECK(token_width_for(100) == 2);
  CHECK(token_width_for(65536) == 2);
  CHECK(token_width_for(65537) == 4);
  CHECK(token_width_for(200000) == 4);
}

TEST_CASE("shards round-trip ids, documents and header fields", "[data][shard]") {
  test::TempDir dir;
  // Widest ids each width can hold, an empty document, and an odd token count so that with
  // 2-byte tokens the document index starts at an offset that is not a multiple of 8.
  auto [width, vocab] =
      GENERATE(std::pair<uint32_t, uint32_t>{2, 65536}, std::pair<uint32_t, uint32_t>{4, 200000});
  CAPTURE(width, vocab);
  int32_t top = static_cast<int32_t>(vocab - 1);
  std::vector<TestDocument> docs = {
      {{5, 17, top, 0}, 11},
      {{}, 0},
      {{1, 2, 3, 4, 5, 6, 7, 8, 9}, 40},
      {{top, 0}, 3},
  };
  fs::path path = dir / "train.shard";
  ShardWriter w(path, width, vocab, 0xabcdef0123456789ULL);
  for (const auto& d : docs) w.add_document(d.ids.data(), d.ids.size(), d.text_bytes);
  w.commit();
  CHECK(w.info().tokens == 15);
  CHECK(w.info().documents == 4);

  ShardReader r = ShardReader::open(path, 0xabcdef0123456789ULL);
  const ShardInfo& info = r.info();
  CHECK(info.version == kShardVersion);
  CHECK(info.token_width == width);
  CHECK(info.vocab_size == vocab);
  CHECK(info.tokens == 15);
  CHECK(r.size() == 15);
  CHECK(info.documents == 4);
  CHECK(info.text_bytes == 54);
  CHECK(info.tokenizer_hash == 0xabcdef0123456789ULL);
  CHECK(fs::file_size(path) == kShardHeaderBytes + 15 * width + 4 * 16);

  std::vector<int64_t> expected;
  for (const auto& d : docs) expected.insert(expected.end(), d.ids.begin(), d.ids.end());
  std::vector<int64_t> all(15);
  r.read(0, all.size(), all.data());
  CHECK(all == expected);
  for (uint64_t i = 0; i < expected.size(); ++i) CHECK(r.token(i) == expected[i]);

  uint64_t first = 0;
  for (uint64_t d = 0; d < docs.size(); ++d) {
    CAPTURE(d);
    auto range = r.document_range(d);
    CHECK(range.first == first);
    CHECK(range.second == first + docs[d].ids.size());
    CHECK(r.document_bytes(d) == docs[d].text_bytes);
    first = range.second;
  }

  ShardInfo quick = ShardReader::read_info(path);
  CHECK(quick.tokens == 15);
  CHECK(quick.documents == 4);
  CHECK(quick.token_width == width);
  CHECK(quick.tokenizer_hash == 0xabcdef0123456789ULL);
}

TEST_CASE("a shard without documents is valid", "[data][shard]") {
  test::TempDir dir;
  write_shard(dir / "empty.shard", 2, 1000, 1, {});
  ShardReader r = ShardReader::open(dir / "empty.shard");
  CHECK(r.size() == 0);
  CHECK(r.info().documents == 0);
  r.read(0, 0, nullptr);
  CHECK_THROWS_AS(r.token(0), Failure);
}

TEST_CASE("readers fail loudly on out-of-range access", "[data][shard]") {
  test::TempDir dir;
  write_shard(dir / "s.shard", 4, 100, 1, {{{1, 2, 3}, 3}, {{4, 5}, 2}});
  ShardReader r = ShardReader::open(dir / "s.shard");
  std::vector<int64_t> out(8);
  r.read(3, 2, out.data());
  CHECK(out[0] == 4);
  CHECK(out[1] == 5);
  CHECK_THROWS_AS(r.read(4, 2, out.data()), Failure);
  CHECK_THROWS_AS(r.read(6, 0, out.data()), Failure);
  CHECK_THROWS_AS(r.read(1, SIZE_MAX, out.data()), Failure);
  CHECK_THROWS_AS(r.token(5), Failure);
  CHECK_THROWS_AS(r.document_range(2), Failure);
  CHECK_THROWS_AS(r.document_bytes(2), Failure);
}

TEST_CASE("moving a reader hands over the mapping", "[data][shard]") {
  test::TempDir dir;
  write_shard(dir / "a.shard", 2, 100, 1, {{{7, 8, 9}, 3}});
  write_shard(dir / "b.shard", 2, 100, 1, {{{42}, 1}});
  ShardReader a = ShardReader::open(dir / "a.shard");
  ShardReader moved(std::move(a));
  CHECK(moved.token(2) == 9);
  ShardReader b = ShardReader::open(dir / "b.shard");
  b = std::move(moved);
  CHECK(b.token(0) == 7);
  CHECK(b.path() == dir / "a.shard");
  // The moved-from readers are destroyed at scope end without unmapping anything twice.
}

TEST_CASE("writers refuse vocabularies and ids that do not fit", "[data][shard]") {
  test::TempDir dir;
  fs::path path = dir / "s.shard";

  SECTION("uint16 shards hold at most 65536 ids") {
    try {
      ShardWriter w(path, 2, 70000, 1);
      FAIL("no BadInput");
    } catch (const BadInput& e) {
      CHECK_THAT(e.what(), Contains("70000") && Contains("uint16") && Contains("uint32"));
    }
    CHECK(entries_of(dir.path()).empty());
  }
  SECTION("ids at or above the vocabulary size, or negative, are refused") {
    ShardWriter w(path, 2, 100, 1);
    int32_t too_big[] = {1, 100};
    int32_t negative[] = {-1};
    int32_t fine[] = {99, 0};
    CHECK_THROWS_AS(w.add_document(too_big, 2, 2), Failure);
    CHECK_THROWS_AS(w.add_document(negative, 1, 1), Failure);
    w.add_document(fine, 2, 2);
    w.commit();
    // Rejected documents left no trace.
    ShardReader r = ShardReader::open(path);
    CHECK(r.info().documents == 1);
    CHECK(r.size() == 2);
    CHECK(r.token(0) == 99);
    CHECK_THROWS_AS(w.add_document(fine, 2, 2), Failure);
  }
}

TEST_CASE("an uncommitted writer leaves nothing behind", "[data][shard]") {
  test::TempDir dir;
  {
    ShardWriter w(dir / "s.shard", 4, 100000, 1);
    std::vector<int32_t> ids(300000, 7);  // more than one write buffer
    w.add_document(ids.data(), ids.size(), 1);
  }
  CHECK(entries_of(dir.path()).empty());
}

TEST_CASE("a large shard streams through the write buffer intact", "[data][shard]") {
  test::TempDir dir;
  fs::path path = dir / "large.shard";
  const uint32_t vocab = 100000;
  const uint64_t total = 5'000'000;
  std::mt19937_64 rng(1234);
  std::vector<uint64_t> starts;
  {
    ShardWriter w(path, 4, vocab, 99);
    std::vector<int32_t> doc;
    uint64_t pos = 0;
    while (pos < total) {
      // Documents of 1..20000 tokens, so many of them straddle a buffer flush.
      uint64_t n = std::min<uint64_t>(1 + rng() % 20000, total - pos);
      doc.resize(n);
      for (uint64_t i = 0; i < n; ++i) doc[i] = large_token(pos + i, vocab);
      starts.push_back(pos);
      w.add_document(doc.data(), doc.size(), n * 3);
      pos += n;
    }
    w.commit();
  }

  ShardReader r = ShardReader::open(path, 99);
  REQUIRE(r.size() == total);
  REQUIRE(r.info().documents == starts.size());
  std::vector<int64_t> window(2048), expected(2048);
  for (int trial = 0; trial < 50; ++trial) {
    uint64_t start = rng() % (total - window.size());
    CAPTURE(start);
    r.read(start, window.size(), window.data());
    for (size_t i = 0; i < expected.size(); ++i) expected[i] = large_token(start + i, vocab);
    REQUIRE(window == expected);
  }
  r.read(total - 3, 3, window.data());
  CHECK(window[2] == large_token(total - 1, vocab));
  for (int trial = 0; trial < 20; ++trial) {
    uint64_t d = rng() % starts.size();
    auto range = r.document_range(d);
    CHECK(range.first == starts[d]);
    CHECK(range.second == (d + 1 < starts.size() ? starts[d + 1] : total));
    CHECK(r.document_bytes(d) == (range.second - range.first) * 3);
  }
}

}  // namespace plinth::data
