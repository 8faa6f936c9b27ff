// Generated replay's documents (finetune/generated_replay.h): the same per seed, framed as prepared
// documents are, reused while base, tokenizer and settings hold and made again when one changes;
// a tokenizer with no document start is bad input naming the key.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "finetune/generated_replay.h"
#include "test_support.h"
#include "util/error.h"

using namespace plinth;
namespace fs = std::filesystem;

namespace {

// A small sentencepiece model trained by Debian's spm_train (the tests' packages), with an EOS
// piece (id 2) or none; `bos_first`: a tokenizer_config.json beside it puts <s> (id 1) before
// every document, as a Llama folder's does.
tokenizer::Tokenizer spm_tokenizer(const test::TempDir& dir, bool eos, bool bos_first = false) {
  std::string text;
  const char* words[] = {"river", "stone", "green", "light",  "falls",
                         "over",  "the",   "old",   "bridge", "slowly"};
  for (int i = 0; i < 300; ++i)
    text += fmt::format("{} {} {} {}\n", words[i % 10], words[(i * 7) % 10], words[(i * 3 + 1) % 10],
                        words[(i * 5 + 2) % 10]);
  const fs::path corpus = dir.write("corpus.txt", text);
  const fs::path folder = dir / (bos_first ? "bos" : eos ? "eos" : "no-eos");
  fs::create_directories(folder);
  const std::string prefix = (folder / "tokenizer").string();
  if (bos_first)
    dir.write(folder.filename().string() + "/tokenizer_config.json",
              R"({"add_bos_token": true, "bos_token": "<s>"})");
  const auto r = test::run_command(fmt::format(
      "spm_train --input={} --model_prefix={} --vocab_size=60 --model_type=bpe --unk_id=0 --bos_id=1 "
      "--eos_id={} --pad_id=-1 --minloglevel=2 2>&1",
      corpus.string(), prefix, eos ? 2 : -1));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return tokenizer::Tokenizer::load(prefix + ".model");
}

model::Llama tiny_base(int64_t vocab) {
  model::ModelConfig c;
  c.vocab_size = static_cast<int>(vocab);
  c.dim = 32;
  c.layers = 1;
  c.heads = 2;
  c.context = 24;
  torch::manual_seed(3);
  return model::Llama(c);
}

finetune::FinetuneRecipe generated_recipe(const fs::path& run_dir, int64_t seed) {
  finetune::FinetuneRecipe f;
  f.recipe.loaded.file = "ft.yaml";
  f.run_dir = run_dir;
  f.train.precision = Precision::fp32;
  f.finetune.replay.fraction = 0.25;
  f.finetune.replay.source = "generated";
  f.finetune.replay.documents = 40;
  f.finetune.replay.seed = seed;
  return f;
}

}  // namespace

TEST_CASE("generated replay: documents per seed, framed as shards frame them, reused until something changes",
          "[finetune][generated-replay]") {
  test::TempDir dir;
  const tokenizer::Tokenizer tok = spm_tokenizer(dir, true);
  model::Llama base = tiny_base(tok.vocab_size());
  const fs::path base_file = dir.write("base.ckpt", "the base's bytes");
  const auto shard_bytes = [&](const char* run) {
    return test::read_file(finetune::generated_replay_shard_path(dir / run));
  };

  auto a = finetune::generated_replay(generated_recipe(dir / "a", 3), base_file, base, tok, 8, nullptr);
  REQUIRE(a.domains.size() == 1);
  CHECK(a.domains[0].first == "generated");
  const data::ShardReader& shard = *a.domains[0].second;
  CHECK(shard.info().documents == 40);
  CHECK(shard.info().tokenizer_hash == tok.hash());
  // Each document: sampled tokens, then EOS (plinth's rule: the EOS before a document starts it),
  // at most the context - 1 sampled, none an EOS but the last.
  std::vector<int64_t> ids;
  for (uint64_t d = 0; d < shard.info().documents; ++d) {
    const auto [first, last] = shard.document_range(d);
    REQUIRE(last > first);
    CHECK(last - first <= 24);
    ids.resize(last - first);
    shard.read(first, ids.size(), ids.data());
    CHECK(ids.back() == tok.eos_id());
    for (size_t i = 0; i + 1 < ids.size(); ++i) CHECK(ids[i] != tok.eos_id());
  }
  const auto record =
      nlohmann::json::parse(test::read_file(finetune::generated_replay_record_path(dir / "a")));
  CHECK(record["documents"] == 40);
  CHECK(record["seed"] == 3);
  CHECK(record["max_tokens"] == 23);
  CHECK(record["tokens"] == shard.size());

  // A tokenizer whose documents begin with BOS (a Llama folder's): [BOS, t..., EOS] each.
  const tokenizer::Tokenizer llama_like = spm_tokenizer(dir, true, true);
  REQUIRE(llama_like.stores_document_start());
  auto bos = finetune::generated_replay(generated_recipe(dir / "bos-run", 3), base_file, base, llama_like, 8,
                                        nullptr);
  const data::ShardReader& framed = *bos.domains[0].second;
  for (uint64_t d = 0; d < framed.info().documents; ++d) {
    const auto [first, last] = framed.document_range(d);
    REQUIRE(last - first >= 2);
    CHECK(framed.token(first) == 1);
    CHECK(framed.token(last - 1) == static_cast<uint32_t>(llama_like.eos_id()));
  }

  // The same seed elsewhere: the same bytes. Another seed: other documents.
  finetune::generated_replay(generated_recipe(dir / "b", 3), base_file, base, tok, 8, nullptr);
  CHECK(shard_bytes("b") == shard_bytes("a"));
  finetune::generated_replay(generated_recipe(dir / "c", 4), base_file, base, tok, 8, nullptr);
  CHECK(shard_bytes("c") != shard_bytes("a"));

  // Run again on "b": reused (the file is not written again). A changed setting, or a changed
  // base file, makes it again.
  const fs::path b_shard = finetune::generated_replay_shard_path(dir / "b");
  const auto stamp = fs::last_write_time(b_shard);
  finetune::generated_replay(generated_recipe(dir / "b", 3), base_file, base, tok, 8, nullptr);
  CHECK(fs::last_write_time(b_shard) == stamp);
  finetune::FinetuneRecipe hotter = generated_recipe(dir / "b", 3);
  hotter.finetune.replay.temperature = 2.0;
  finetune::generated_replay(hotter, base_file, base, tok, 8, nullptr);
  CHECK(shard_bytes("b") != shard_bytes("a"));
  CHECK(nlohmann::json::parse(
            test::read_file(finetune::generated_replay_record_path(dir / "b")))["temperature"] == 2.0);
  finetune::generated_replay(generated_recipe(dir / "b", 3), base_file, base, tok, 8, nullptr);
  CHECK(shard_bytes("b") == shard_bytes("a"));  // back to the first settings: the first documents
  dir.write("base.ckpt", "another base's bytes");
  const auto before = fs::last_write_time(b_shard);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  finetune::generated_replay(generated_recipe(dir / "b", 3), base_file, base, tok, 8, nullptr);
  CHECK(fs::last_write_time(b_shard) != before);

  // Too few tokens for one replay row, and more tokens than the context holds: bad input by key.
  CHECK_THROWS_WITH(
      finetune::generated_replay(generated_recipe(dir / "a", 3), base_file, base, tok, 5000, nullptr),
      Catch::Contains("ft.yaml: finetune.replay.documents") &&
          Catch::Contains("fewer than one replay row of 5001"));
  finetune::FinetuneRecipe long_docs = generated_recipe(dir / "d", 3);
  long_docs.finetune.replay.max_tokens = 24;
  CHECK_THROWS_WITH(finetune::generated_replay(long_docs, base_file, base, tok, 8, nullptr),
                    Catch::Contains("finetune.replay.max_tokens: 24 tokens per generated document") &&
                        Catch::Contains("at most 23"));
}

TEST_CASE("generated replay with a tokenizer that has no document start is bad input",
          "[finetune][generated-replay]") {
  test::TempDir dir;
  const tokenizer::Tokenizer tok = spm_tokenizer(dir, false);
  REQUIRE(tok.document_start_id() < 0);
  model::Llama base = tiny_base(tok.vocab_size());
  const fs::path base_file = dir.write("base.ckpt", "bytes");
  CHECK_THROWS_WITH(
      finetune::generated_replay(generated_recipe(dir / "run", 0), base_file, base, tok, 8, nullptr),
      Catch::Contains("ft.yaml: finetune.replay.source") &&
          Catch::Contains("no EOS piece and no bos_token") && Catch::Contains("source: data"));
  CHECK(!fs::exists(dir / "run"));
}
