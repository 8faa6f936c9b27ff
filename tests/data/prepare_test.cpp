// prepare and tokenizer training at the library level, on real licence text.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

#include "data/prepare.h"
#include "data/shard.h"
#include "data/tokenizer_training.h"
#include "test_support.h"
#include "util/error.h"

using namespace plinth;
namespace fs = std::filesystem;

namespace {

data::DomainSpec domain(const std::string& name, const fs::path& path, double weight) {
  data::DomainSpec d;
  d.name = name;
  d.weight = weight;
  data::SourceSpec s;
  s.path = path.string();
  s.documents = data::DocumentRule::BlankLine;
  d.sources.push_back(s);
  return d;
}

}  // namespace

TEST_CASE("the validation split is a stable function of each document's text", "[data]") {
  std::vector<std::string> docs;
  for (int i = 0; i < 2000; ++i) docs.push_back("document number " + std::to_string(i));
  size_t val = 0;
  for (const auto& d : docs) val += data::is_validation(d, 0.1, 0);
  CHECK(val > 150);
  CHECK(val < 250);
  // Adding documents, or shuffling them, never moves an existing one between splits.
  for (const auto& d : docs) CHECK(data::is_validation(d, 0.1, 0) == data::is_validation(d, 0.1, 0));
  // Another seed draws another split.
  size_t moved = 0;
  for (const auto& d : docs) moved += data::is_validation(d, 0.1, 0) != data::is_validation(d, 0.1, 7);
  CHECK(moved > 100);
}

TEST_CASE("a vocabulary too large for uint16 shards is refused", "[data]") {
  data::DataSpec spec;
  spec.token_type = "uint16";
  CHECK(data::resolve_token_width(spec, 65536) == 2);
  CHECK_THROWS_WITH(data::resolve_token_width(spec, 70000), Catch::Contains("does not fit in 16 bits"));
  spec.token_type = "auto";
  CHECK(data::resolve_token_width(spec, 8192) == 2);
  CHECK(data::resolve_token_width(spec, 70000) == 4);
  spec.token_type = "uint32";
  CHECK(data::resolve_token_width(spec, 8192) == 4);
}

TEST_CASE("tokenizer training shares text by weight, then prepare writes matching shards", "[data]") {
  test::TempDir dir;
  data::DataSpec spec;
  spec.shards = (dir / "shards").string();
  spec.val_fraction = 0.2;
  spec.domains.push_back(domain("gpl", "/usr/share/common-licenses/GPL-3", 1.0));
  spec.domains.push_back(domain("apache", "/usr/share/common-licenses/Apache-2.0", 3.0));
  tokenizer::TokenizerSpec tok_spec;
  tok_spec.model = (dir / "tok").string();
  tok_spec.train.vocab_size = 500;
  tok_spec.sample_bytes = 12000;  // less than either domain has: the weights decide
  tok_spec.train.user_defined_symbols = {"\n", "\t"};

  auto report = data::train_tokenizer(tok_spec, spec, "test.yaml", 42, "data: {}\n");
  REQUIRE(report.domains.size() == 2);
  double gpl = report.domains[0].sampled_bytes, apache = report.domains[1].sampled_bytes;
  CHECK(apache / gpl == Approx(3.0).epsilon(0.35));
  CHECK(gpl + apache < 1.5 * tok_spec.sample_bytes);
  CHECK(data::provenance_recipe_hash(tok_spec) == 42);

  auto tok = tokenizer::Tokenizer::load(tok_spec.model_file());
  auto results = data::prepare_shards(spec, tok);
  REQUIRE(results.size() == 2);
  for (const auto& r : results) {
    auto train = data::ShardReader::open(data::shard_path(spec, r.name, "train"), tok.hash());
    auto val = data::ShardReader::open(data::shard_path(spec, r.name, "val"), tok.hash());
    CHECK(train.info().tokens == r.train.tokens);
    CHECK(val.info().documents == r.val.documents);
    CHECK(train.info().text_bytes + val.info().text_bytes == r.read.bytes);
    // Each document ends with EOS, and the tokens decode back to text.
    auto [first, last] = train.document_range(0);
    CHECK(train.token(last - 1) == static_cast<uint32_t>(tok.eos_id()));
    std::vector<int32_t> ids;
    for (uint64_t i = first; i + 1 < last; ++i) ids.push_back(static_cast<int32_t>(train.token(i)));
    CHECK(tok.decode(ids).size() == train.document_bytes(0));
    // No document is in both splits: what trains the base, replays, and estimates EWC's Fisher
    // (all drawn from train shards) is never what `plinth eval` scores (val shards).
    auto documents = [](const data::ShardReader& shard) {
      std::set<std::vector<int64_t>> out;
      for (uint64_t d = 0; d < shard.info().documents; ++d) {
        auto [begin, end] = shard.document_range(d);
        std::vector<int64_t> doc(end - begin);
        shard.read(begin, doc.size(), doc.data());
        out.insert(doc);
      }
      return out;
    };
    const auto train_docs = documents(train), val_docs = documents(val);
    CHECK(val_docs.size() > 0);
    for (const auto& doc : val_docs) CHECK(train_docs.count(doc) == 0);
  }
  // Unchanged inputs: nothing redone. --force: redone, same bytes.
  auto again = data::prepare_shards(spec, tok);
  CHECK(again[0].reused);
  CHECK(again[1].reused);
  auto forced = data::prepare_shards(spec, tok, {true, {"gpl"}});
  REQUIRE(forced.size() == 1);
  CHECK_FALSE(forced[0].reused);
  CHECK(forced[0].train.tokens == results[0].train.tokens);

  // A damaged manifest (values of the wrong type, a bad hash) only means the domain is redone.
  const fs::path manifest = data::domain_dir(spec, "gpl") / "manifest.json";
  const uint64_t fingerprint = data::shards_fingerprint(spec);
  for (const char* damage : {R"({"version": 1, "fingerprint": 12, "files": "x", "train": 3})",
                             R"({"version": 1, "fingerprint": "zz", "tokenizer_hash": "1", "files": [1]})"}) {
    INFO(damage);
    dir.write("shards/gpl/manifest.json", damage);
    CHECK_FALSE(data::read_manifest(spec, "gpl"));
    CHECK(data::shards_fingerprint(spec) != fingerprint);
    auto redone = data::prepare_shards(spec, tok, {false, {"gpl"}});
    CHECK_FALSE(redone[0].reused);
    CHECK(data::shards_fingerprint(spec) == fingerprint);
  }
  CHECK(fs::exists(manifest));
}

TEST_CASE("a bad file read while a batch is still encoding stops prepare cleanly", "[data]") {
  // More than one 4 MiB batch of text, then a binary file: reading throws while the pool is
  // still encoding the batch it was handed. The encode must finish before the batch's vectors
  // go (under the sanitizer build a use-after-free here is a failure, not luck).
  test::TempDir dir;
  const std::string licence = [] {
    std::ifstream in("/usr/share/common-licenses/GPL-3");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  REQUIRE(licence.size() > 30000);
  {
    fs::create_directories(dir / "corpus");
    std::ofstream big(dir / "corpus" / "a.txt");
    for (size_t written = 0; written < (5u << 20); written += licence.size() + 2) big << licence << "\n\n";
  }
  std::string binary(4096, '\0');
  for (size_t i = 0; i < binary.size(); i += 3) binary[i] = static_cast<char>(i * 7);
  dir.write("corpus/b.bin", binary);

  data::DataSpec spec;
  spec.shards = (dir / "shards").string();
  spec.val_fraction = 0.2;
  spec.threads = 2;
  spec.domains.push_back(domain("big", dir / "corpus", 1.0));
  spec.domains.push_back(domain("gpl", "/usr/share/common-licenses/GPL-3", 1.0));
  tokenizer::TokenizerSpec tok_spec;
  tok_spec.model = (dir / "tok").string();
  tok_spec.train.vocab_size = 500;
  tok_spec.sample_bytes = 20000;
  data::DataSpec tok_data = spec;
  tok_data.domains.erase(tok_data.domains.begin());
  data::train_tokenizer(tok_spec, tok_data, "test.yaml", 1, "data: {}\n");
  auto tok = tokenizer::Tokenizer::load(tok_spec.model_file());

  CHECK_THROWS_WITH(data::prepare_shards(spec, tok), Catch::Contains("b.bin' is not text"));
  // Nothing of the failed domain is in place: no manifest, no shard.
  CHECK_FALSE(fs::exists(data::domain_dir(spec, "big") / "manifest.json"));
  CHECK_FALSE(fs::exists(data::shard_path(spec, "big", "train")));
  // Skipping binary files, the same corpus prepares.
  spec.domains[0].sources[0].on_binary = "skip";
  auto results = data::prepare_shards(spec, tok, {false, {"big"}});
  REQUIRE(results.size() == 1);
  CHECK(results[0].read.binary_files_skipped == 1);
  CHECK(results[0].read.bytes > (5u << 20) - licence.size());
}
