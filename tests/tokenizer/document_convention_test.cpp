// Which token starts a document (tokenizer/document_convention.h): plinth's rule without a
// tokenizer_config.json, the file's add_bos_token / bos_token with one (a Hugging Face folder).
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "test_support.h"
#include "tokenizer/document_convention.h"
#include "tokenizer/tokenizer.h"
#include "util/atomic_file.h"
#include "util/error.h"

using Catch::Matchers::Contains;
using plinth::tokenizer::Tokenizer;
namespace fs = std::filesystem;

namespace {

// One small tokenizer for every case, trained once: <unk> 0, <s> 1, </s> 2, <pad> 3.
const fs::path& trained_model() {
  static plinth::test::TempDir dir;
  static const fs::path model = [] {
    std::ifstream in("/usr/share/common-licenses/GPL-3");
    auto lines = std::make_shared<std::vector<std::string>>();
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) lines->push_back(line);
    plinth::tokenizer::TrainOptions o;
    o.vocab_size = 400;
    size_t i = 0;
    Tokenizer::train(
        o,
        [lines, i](std::string& s) mutable {
          if (i >= lines->size()) return false;
          s = (*lines)[i++];
          return true;
        },
        dir / "tok");
    return dir / "tok.model";
  }();
  return model;
}

// A copy of the model in its own folder, with `config` as tokenizer_config.json ("" = none).
fs::path folder(const plinth::test::TempDir& dir, const std::string& config) {
  fs::copy_file(trained_model(), dir / "tokenizer.model");
  if (!config.empty()) plinth::write_file_atomic(dir / "tokenizer_config.json", config);
  return dir / "tokenizer.model";
}

}  // namespace

TEST_CASE("plinth's tokenizers start documents with the EOS before them", "[tokenizer]") {
  plinth::test::TempDir dir;
  const Tokenizer t = Tokenizer::load(folder(dir, ""));
  CHECK(t.document_start_id() == t.eos_id());
  CHECK_FALSE(t.stores_document_start());
  CHECK(t.convention().config.empty());
}

TEST_CASE("a tokenizer_config.json sets the document start: Llama's BOS, with its own hash", "[tokenizer]") {
  plinth::test::TempDir plain_dir, llama_dir, object_dir, off_dir, export_dir;
  const Tokenizer plain = Tokenizer::load(folder(plain_dir, ""));
  // transformers writes special tokens as strings or as AddedToken objects; both are read.
  const Tokenizer llama =
      Tokenizer::load(folder(llama_dir, R"({"add_bos_token": true, "bos_token": "<s>"})"));
  const Tokenizer object = Tokenizer::load(
      folder(object_dir, R"({"bos_token": {"content": "<s>", "lstrip": false, "__type": "AddedToken"}})"));
  const Tokenizer off = Tokenizer::load(folder(off_dir, R"({"add_bos_token": false})"));
  const Tokenizer exported = Tokenizer::load(
      folder(export_dir, plinth::tokenizer::plinth_tokenizer_config_json("</s>", "<unk>", "<pad>", 64)));

  CHECK(llama.document_start_id() == llama.bos_id());
  CHECK(llama.stores_document_start());
  CHECK(object.document_start_id() == object.bos_id());  // add_bos_token absent: true, as LlamaTokenizer
  // Other shards follow from another framing: the hash says so. Where the start is the EOS
  // anyway (no BOS added, or plinth's own export read back), the hash is the bytes' alone.
  CHECK(llama.hash() != plain.hash());
  CHECK(object.hash() == llama.hash());
  CHECK(off.document_start_id() == off.eos_id());
  CHECK(off.hash() == plain.hash());
  CHECK(exported.document_start_id() == exported.eos_id());
  CHECK(exported.hash() == plain.hash());
  // The convention decides the framing only: the pieces are the model's.
  CHECK(llama.encode("GNU General Public License") == plain.encode("GNU General Public License"));
}

TEST_CASE("a bad tokenizer_config.json is refused naming the file and key", "[tokenizer]") {
  auto refused = [](const std::string& config, const std::string& needle) {
    plinth::test::TempDir dir;
    const fs::path model = folder(dir, config);
    try {
      (void)Tokenizer::load(model);
      FAIL("accepted " << config);
    } catch (const plinth::BadInput& e) {
      CHECK_THAT(e.what(), Contains("tokenizer_config.json"));
      CHECK_THAT(e.what(), Contains(needle));
    }
  };
  refused("{not json", "not JSON");
  refused(R"({"add_bos_token": "yes"})", "add_bos_token");
  refused(R"({"bos_token": 7})", "bos_token");
  refused(R"({"bos_token": "<bos>"})", "is not a piece");
}
