// Findings of the fuzz harnesses (fuzz/, docs/fuzzing.md) in lib/data, pinned as unit tests: each
// input once escaped a reader as something other than BadInput. The inputs themselves are
// replayed by scripts/fuzz from fuzz/regressions/.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "data/corpus_reader.h"
#include "data/shard.h"
#include "data/task_data.h"
#include "test_support.h"
#include "util/error.h"
#include "util/hash.h"

namespace plinth::data {
namespace {

using test::TempDir;

// A JSON number beyond a double is nlohmann's out_of_range, not its parse_error.
const char* const kHugeNumberLine = "{\"prompt\": \"a\", \"completion\": 1e999}\n";

// Shard bytes with the header fields of shard.h overwritten and both checksums made valid again,
// as a buggy or hostile writer would leave them.
std::string with_valid_checksums(std::string bytes) {
  uint64_t payload = hash64(bytes.data() + kShardHeaderBytes, bytes.size() - kShardHeaderBytes);
  std::memcpy(&bytes[56], &payload, 8);
  uint64_t header = hash64(bytes.data(), 64);
  std::memcpy(&bytes[64], &header, 8);
  return bytes;
}

}  // namespace

TEST_CASE("fuzz: a task JSONL number beyond a double is a bad line", "[data][task][fuzz]") {
  TempDir dir;
  TaskSpec spec;
  spec.format = "jsonl";
  spec.path =
      dir.write("t.jsonl", std::string(kHugeNumberLine) + "{\"prompt\": \"b\", \"completion\": \"c\"}\n");
  spec.val_fraction = spec.test_fraction = 0;
  CHECK_THROWS_AS(load_task(spec), BadInput);
  spec.on_bad_line = "skip";
  TaskData data = load_task(spec);
  CHECK(data.skipped == 1);
  CHECK(data.train.size() == 1);
}

TEST_CASE("fuzz: a corpus JSONL number beyond a double is a bad record", "[data][fuzz]") {
  TempDir dir;
  SourceSpec spec;
  spec.path = dir.write("d.jsonl", "{\"text\": \"x\", \"n\": 1e999}\n{\"text\": \"y\"}\n").string();
  spec.format = "jsonl";
  auto read = [&] {
    std::vector<std::string> texts;
    read_source(spec, 0, [&](Document&& d) { texts.push_back(d.text); });
    return texts;
  };
  CHECK_THROWS_AS(read(), BadInput);
  spec.on_bad_record = "skip";
  CHECK(read() == std::vector<std::string>{"y"});
}

TEST_CASE("fuzz: a shard whose index or tokens break the writer's rules is refused", "[data][shard][fuzz]") {
  TempDir dir;
  const auto path = dir / "s.bin";
  {
    ShardWriter w(path, 2, 300, 0);
    std::vector<int32_t> a = {1, 2, 3}, b = {4, 5}, c = {6};
    w.add_document(a.data(), a.size(), 3);
    w.add_document(b.data(), b.size(), 2);
    w.add_document(c.data(), c.size(), 1);
    w.commit();
  }
  const std::string good = plinth::test::read_file(path);
  REQUIRE_NOTHROW(ShardReader::open(path));
  // 6 uint16 tokens after the header, then one {first_token, text_bytes} per document.
  const size_t tokens = kShardHeaderBytes, index = tokens + 6 * 2;
  auto open_changed = [&](size_t offset, const void* value, size_t size) {
    std::string bytes = good;
    std::memcpy(&bytes[offset], value, size);
    dir.write("s.bin", with_valid_checksums(std::move(bytes)));
    try {
      ShardReader::open(path);
    } catch (const BadInput& e) {
      return std::string(e.what());
    }
    return std::string("<opened>");
  };
  const uint64_t one = 1, six = 6, seven = 7;
  // Document 1 starting after document 2 (first > last: evaluation sized a buffer by last - first).
  CHECK_THAT(open_changed(index + 16, &six, 8), Catch::Contains("corrupt document index"));
  CHECK_THAT(open_changed(index, &one, 8), Catch::Contains("corrupt document index"));         // not at 0
  CHECK_THAT(open_changed(index + 32, &seven, 8), Catch::Contains("corrupt document index"));  // past the end
  const uint16_t vocab = 300;
  CHECK_THAT(open_changed(tokens + 2, &vocab, 2), Catch::Contains("outside the vocabulary"));
}

}  // namespace plinth::data
