// The tokenizer in a process that also runs LibTorch: the sentencepiece/protobuf clash
// (docs/architecture.md, "Platform traps") crashes exactly this combination unless the
// bridge isolates it.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "model/torch_runtime.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

using plinth::tokenizer::Tokenizer;
using plinth::tokenizer::TrainOptions;

namespace {

std::vector<std::string> license_lines() {
  std::ifstream in("/usr/share/common-licenses/GPL-3");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(line);
  return lines;
}

plinth::tokenizer::SentenceSource from(const std::vector<std::string>& lines) {
  auto i = std::make_shared<size_t>(0);
  return [&lines, i](std::string& s) {
    if (*i >= lines.size()) return false;
    s = lines[(*i)++];
    return true;
  };
}

}  // namespace

TEST_CASE("LibTorch and sentencepiece train, load, encode and decode in one process", "[tokenizer]") {
  plinth::model::configure_threads(2);
  torch::Tensor a = torch::ones({8, 8});
  REQUIRE((a.matmul(a)).sum().item<float>() == Approx(512.0f));

  plinth::test::TempDir dir;
  auto lines = license_lines();
  REQUIRE(lines.size() > 100);
  TrainOptions o;
  o.vocab_size = 400;
  o.user_defined_symbols = {"<|prompt|>", "<|response|>", "\n", "\t"};
  Tokenizer::train(o, from(lines), dir / "gpl");
  REQUIRE(std::filesystem::exists(dir / "gpl.model"));
  REQUIRE(std::filesystem::exists(dir / "gpl.vocab"));

  Tokenizer t = Tokenizer::load(dir / "gpl.model");
  CHECK(t.vocab_size() == 400);
  CHECK(t.eos_id() == 2);
  CHECK(t.pad_id() == 3);
  CHECK(t.hash() != 0);

  SECTION("decode(encode(text)) gives the text back, newlines, tabs and indentation included") {
    std::string text = "def f(x):\n    return x + 12345\n\n\tThe Program — ünïcödé ✓ 漢字\n";
    std::vector<int32_t> ids = t.encode(text);
    CHECK(!ids.empty());
    CHECK(t.decode(ids) == text);
    // Newline is one piece of its own, not a byte fallback.
    CHECK(t.piece_to_id("\n") != t.unk_id());
  }

  SECTION("line-by-line encoding gives exactly the ids of one whole-text call") {
    REQUIRE(t.segments_at_newlines());
    for (const char* file : {"/usr/share/common-licenses/GPL-3", "/usr/share/common-licenses/Apache-2.0"}) {
      std::ifstream in(file);
      std::stringstream ss;
      ss << in.rdbuf();
      std::string text = "  indented start\n\n" + ss.str() + "\n\ttrailing\n";
      std::vector<int32_t> whole;
      t.encode_piece(text, whole);
      CHECK(t.encode(text) == whole);
      CHECK(t.decode(whole) == text);
    }
  }

  SECTION("user-defined symbols are single pieces") {
    auto ids = t.encode("<|prompt|>Hallo<|response|>hello");
    CHECK(std::count(ids.begin(), ids.end(), t.piece_to_id("<|prompt|>")) == 1);
    CHECK(std::count(ids.begin(), ids.end(), t.piece_to_id("<|response|>")) == 1);
  }

  SECTION("digits are split one per piece") {
    auto ids = t.encode("9876543210");
    CHECK(ids.size() >= 10);
  }

  SECTION("tensors built from token ids") {
    auto ids = t.encode("GNU General Public License");
    torch::Tensor x = torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()));
    CHECK(x.size(0) == static_cast<int64_t>(ids.size()));
    CHECK(x.max().item<int64_t>() < t.vocab_size());
  }
}

TEST_CASE("a unigram tokenizer trains and round-trips too", "[tokenizer]") {
  plinth::test::TempDir dir;
  auto lines = license_lines();
  TrainOptions o;
  o.model_type = "unigram";
  o.vocab_size = 400;
  o.user_defined_symbols = {"\n"};
  Tokenizer::train(o, from(lines), dir / "uni");
  Tokenizer t = Tokenizer::load(dir / "uni.model");
  CHECK(t.vocab_size() == 400);
  std::string text = "Everyone is permitted to copy\nand distribute verbatim copies.";
  CHECK(t.decode(t.encode(text)) == text);
  CHECK(t.segments_at_newlines());
}

TEST_CASE("Tokenizer::load rejects what is not a model", "[tokenizer]") {
  plinth::test::TempDir dir;
  CHECK_THROWS_AS(Tokenizer::load(dir / "missing.model"), plinth::BadInput);
  CHECK_THROWS_AS(Tokenizer::load(dir.path()), plinth::BadInput);
  auto junk = dir.write("junk.model", "this is not a protobuf at all \x01\x02");
  CHECK_THROWS_WITH(Tokenizer::load(junk), Catch::Contains("not a SentencePiece model"));
}

TEST_CASE("Tokenizer::train reports a vocabulary too large for the text", "[tokenizer]") {
  plinth::test::TempDir dir;
  std::vector<std::string> lines = {"tiny text", "only a few words"};
  TrainOptions o;
  o.vocab_size = 5000;
  CHECK_THROWS_AS(Tokenizer::train(o, from(lines), dir / "m"), plinth::BadInput);
  CHECK_FALSE(std::filesystem::exists(dir / "m.model"));
}
