#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "test_support.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/text.h"
#include "util/threads.h"

using namespace plinth;
namespace fs = std::filesystem;

TEST_CASE("did-you-mean finds plausible typos only", "[util]") {
  std::vector<std::string> keys = {"vocab_size", "val_fraction", "shards", "domains"};
  CHECK(closest_match("vocab_sise", keys) == "vocab_size");
  CHECK(closest_match("val_fracton", keys) == "val_fraction");
  CHECK(closest_match("Shards", keys) == "shards");
  CHECK(closest_match("learning_rate", keys).empty());
  CHECK(did_you_mean("domians", keys) == "did you mean 'domains'?");
  CHECK(edit_distance("kitten", "sitting") == 3);
}

TEST_CASE("byte sizes parse with binary units", "[util]") {
  uint64_t v = 0;
  CHECK((parse_byte_size("4096", v) && v == 4096));
  CHECK((parse_byte_size("64K", v) && v == 64 * 1024));
  CHECK((parse_byte_size("16MiB", v) && v == 16ull << 20));
  CHECK((parse_byte_size("1.5G", v) && v == 3ull << 29));
  CHECK_FALSE(parse_byte_size("-5", v));
  CHECK_FALSE(parse_byte_size("12 parsecs", v));
  CHECK_FALSE(parse_byte_size("", v));
  CHECK(format_bytes(1536) == "1.5 KiB");
  CHECK(with_commas(1234567) == "1,234,567");
}

TEST_CASE("yaml_quote escapes what YAML would misread", "[util]") {
  CHECK(yaml_quote("a\nb\t\"c\"\\") == "\"a\\nb\\t\\\"c\\\"\\\\\"");
  CHECK(yaml_quote("plain") == "\"plain\"");
}

TEST_CASE("streaming hash equals one-shot hash however the bytes are split", "[util]") {
  std::string text = "The quick brown fox jumps over the lazy dog";
  Hasher h;
  h.update(text.substr(0, 10)).update(text.substr(10));
  CHECK(h.digest() == hash64(text));
  CHECK(hash64(text, 1) != hash64(text, 2));
  Hasher a, b;
  a.field("ab").field("c");
  b.field("a").field("bc");
  CHECK(a.digest() != b.digest());
  CHECK(hex64(0xabcull) == "0000000000000abc");
}

TEST_CASE("atomic files: all or nothing", "[util]") {
  test::TempDir dir;
  fs::path target = dir / "sub/report.json";
  write_file_atomic(target, "old");
  {
    AtomicFile f(target);
    f.write("new content that is never committed");
  }  // destroyed without commit: the old file stays, no temp file is left
  CHECK(read_file(target) == "old");
  size_t files = 0;
  for (auto& e : fs::directory_iterator(target.parent_path())) files += e.is_regular_file();
  CHECK(files == 1);

  AtomicFile f(target);
  f.write("0123456789");
  f.write_at(2, "xy", 2);
  f.commit();
  CHECK(read_file(target) == "01xy456789");

  CHECK_THROWS_AS(read_file(dir / "missing"), BadInput);
  CHECK_THROWS_AS(read_file(dir.path()), BadInput);
}

TEST_CASE("problems print as file:line:col: key: message with a hint", "[util]") {
  Problem p{Location{"r.yaml", 3, 7}, "data.shards", "expected a string", "write a path"};
  CHECK(p.str() == "r.yaml:3:7: data.shards: expected a string\n  hint: write a path");
  Diagnostics d;
  CHECK_NOTHROW(d.throw_if_any());
  d.add(p);
  d.add(Problem{Location{"r.yaml", 9, 1}, "x", "unknown key", ""});
  try {
    d.throw_if_any();
    FAIL("expected BadInput");
  } catch (const BadInput& e) {
    CHECK(e.problems().size() == 2);
    CHECK_THAT(std::string(e.what()), Catch::Contains("r.yaml:9:1: x: unknown key"));
  }
  // One problem at a key: a file's field, or options from code with no position.
  const BadInput one(Location{"adapter_config.json"}, "bias", "is \"all\"", "train no biases");
  REQUIRE(one.problems().size() == 1);
  CHECK(std::string(one.what()) == "adapter_config.json: bias: is \"all\"\n  hint: train no biases");
  CHECK(key_problem("lora.rank", "is 0", "use 1 or more").str() == "lora.rank: is 0\n  hint: use 1 or more");
}

TEST_CASE("parallel_for: every index once - a worker's exception reaches the caller", "[util]") {
  std::vector<std::atomic<int>> seen(1000);
  parallel_for(seen.size(), 4, [&](size_t i) { seen[i]++; });
  for (const auto& s : seen) CHECK(s == 1);
  parallel_for(0, 4, [](size_t) { FAIL("no calls for n = 0"); });

  // Thrown on threads other than the caller's: with raw std::threads this ended the process.
  const auto caller = std::this_thread::get_id();
  std::atomic<int> calls{0};
  CHECK_THROWS_WITH(parallel_for(100000, 4,
                                 [&](size_t) {
                                   ++calls;
                                   std::this_thread::sleep_for(std::chrono::microseconds(10));
                                   if (std::this_thread::get_id() != caller) throw BadInput("bad unit");
                                 }),
                    Catch::Contains("bad unit"));
  CHECK(calls < 100000);  // handing out stopped at the first error
  // And on the caller's own thread, with the workers still running: they are joined first.
  CHECK_THROWS_AS(parallel_for(1000, 4,
                               [&](size_t) {
                                 std::this_thread::sleep_for(std::chrono::microseconds(10));
                                 if (std::this_thread::get_id() == caller) throw Failure("x");
                               }),
                  Failure);
}
