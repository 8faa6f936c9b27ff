// Hugging Face model folders into plinth: config.json and weights in one file or in shards named
// by model.safetensors.index.json, in bf16, mapped rather than read. The folders here are written
// with plinth's own safetensors writer in transformers' layout; tests/fixtures/hf holds folders
// transformers itself wrote (hf_fixtures_test.cpp, scripts/check-hf).
#include "model/hf_import.h"

#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

#include "model/checkpoint_model.h"
#include "model/hf_export.h"
#include "model/safetensors.h"
#include "small_config.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"

using Catch::Matchers::Contains;
using plinth::model::export_hf;
using plinth::model::hf_weight_files;
using plinth::model::is_hf_model_dir;
using plinth::model::Llama;
using plinth::model::load_hf_model;
using plinth::model::map_safetensors_file;
using plinth::model::ModelConfig;
using plinth::model::NamedTensors;
using plinth::model::write_safetensors;
using plinth::test::small_config;
using plinth::test::TempDir;
namespace fs = std::filesystem;

namespace {

// `model`'s weights as an HF folder in `dtype`, split into `shards` files with an index (1: a
// single model.safetensors), plus config.json.
void write_hf_folder(const Llama& model, const fs::path& dir, int shards, torch::ScalarType dtype) {
  export_hf(model, dir);  // config.json (and a model.safetensors, replaced below)
  fs::remove(dir / "model.safetensors");
  std::vector<NamedTensors> parts(static_cast<size_t>(shards));
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  size_t i = 0;
  for (const auto& item : model->named_parameters()) {
    const size_t part = i++ % parts.size();
    parts[part].emplace_back(item.key(), item.value().detach().to(dtype));
    index["weight_map"][item.key()] =
        fmt::format("model-{:05d}-of-{:05d}.safetensors", part + 1, parts.size());
  }
  if (shards == 1) {
    write_safetensors(dir / "model.safetensors", parts[0], {{"format", "pt"}});
    return;
  }
  for (size_t p = 0; p < parts.size(); ++p)
    write_safetensors(dir / fmt::format("model-{:05d}-of-{:05d}.safetensors", p + 1, parts.size()), parts[p],
                      {{"format", "pt"}});
  plinth::write_file_atomic(dir / "model.safetensors.index.json", index.dump(2));
}

void expect_same_weights(const Llama& a, const Llama& b, torch::ScalarType via) {
  auto expected = a->named_parameters();
  for (const auto& p : b->named_parameters()) {
    INFO(p.key());
    CHECK(torch::equal(p.value(), expected[p.key()].to(via).to(torch::kFloat32)));
  }
}

}  // namespace

TEST_CASE("an HF folder loads from one file or from shards, in fp32, bf16 or fp16", "[model][hf]") {
  TempDir dir;
  torch::manual_seed(7);
  for (bool tied : {false, true}) {
    Llama model(small_config(96, tied));
    for (int shards : {1, 3}) {
      for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kHalf}) {
        const fs::path folder = dir / fmt::format("m-{}-{}-{}", tied, shards, c10::toString(dtype));
        write_hf_folder(model, folder, shards, dtype);
        INFO(folder.filename().string());
        REQUIRE(is_hf_model_dir(folder));
        CHECK(hf_weight_files(folder).files.size() == static_cast<size_t>(shards));
        auto loaded = load_hf_model(folder);
        CHECK(loaded.config.model.tie_embeddings == tied);
        CHECK(loaded.config.model.kv_heads == 2);
        CHECK_FALSE(loaded.model->is_training());
        expect_same_weights(model, loaded.model, dtype);
      }
    }
  }
  CHECK_FALSE(is_hf_model_dir(dir.path()));
}

TEST_CASE("a mapped safetensors file gives the same tensors as a read one", "[model][safetensors]") {
  TempDir dir;
  torch::manual_seed(1);
  NamedTensors tensors = {{"a", torch::randn({3, 5})}, {"b", torch::randn({7}).to(torch::kBFloat16)}};
  write_safetensors(dir / "w.safetensors", tensors, {{"k", "v"}});
  auto mapped = map_safetensors_file(dir / "w.safetensors");
  auto read = plinth::model::read_safetensors_file(dir / "w.safetensors");
  REQUIRE(mapped.tensors.size() == 2);
  CHECK(mapped.metadata.at("k") == "v");
  for (size_t i = 0; i < 2; ++i) {
    CHECK(mapped.tensors[i].first == read.tensors[i].first);
    CHECK(torch::equal(mapped.tensors[i].second, read.tensors[i].second));
  }
  // The mapping outlives the file's other handles: a tensor alone keeps it.
  torch::Tensor kept = mapped.tensors[0].second;
  mapped = {};
  CHECK(torch::equal(kept, tensors[0].second));
  CHECK_THROWS_WITH(map_safetensors_file(dir / "none.safetensors"), Contains("cannot open"));
}

TEST_CASE("HF folders: a missing shard, a stray tensor, a wrong shape are named", "[model][hf]") {
  TempDir dir;
  torch::manual_seed(2);
  Llama model(small_config(96, false));
  const fs::path folder = dir / "m";
  write_hf_folder(model, folder, 2, torch::kFloat32);

  SECTION("a shard the index names is missing") {
    fs::remove(folder / "model-00002-of-00002.safetensors");
    CHECK_THROWS_WITH(load_hf_model(folder),
                      Contains("model.safetensors.index.json") &&
                          Contains("model-00002-of-00002.safetensors does not exist") &&
                          Contains("fetch every shard"));
  }
  SECTION("the index places a tensor in another shard") {
    std::ifstream in(folder / "model.safetensors.index.json");
    nlohmann::json index = nlohmann::json::parse(in);
    index["weight_map"]["model.norm.weight"] =
        index["weight_map"]["model.norm.weight"] == "model-00001-of-00002.safetensors"
            ? "model-00002-of-00002.safetensors"
            : "model-00001-of-00002.safetensors";
    plinth::write_file_atomic(folder / "model.safetensors.index.json", index.dump());
    CHECK_THROWS_WITH(load_hf_model(folder), Contains("'model.norm.weight' is in this shard"));
  }
  SECTION("no weights at all") {
    fs::remove(folder / "model.safetensors.index.json");
    CHECK_THROWS_WITH(load_hf_model(folder), Contains("neither model.safetensors nor"));
  }
  SECTION("config.json describes fewer layers or another vocabulary") {
    for (auto [key, value, needle] : {std::tuple{"num_hidden_layers", 1, "model.layers.1.mlp"},
                                      std::tuple{"vocab_size", 100, "[96, 32]"}}) {
      std::ifstream in(folder / "config.json");
      nlohmann::json config = nlohmann::json::parse(in);
      config[key] = value;
      plinth::write_file_atomic(folder / "config.json", config.dump());
      INFO(key);
      CHECK_THROWS_WITH(load_hf_model(folder),
                        Contains(needle) && Contains("config.json describes another model"));
      export_hf(model, dir / "fresh");  // restore config.json
      fs::copy_file(dir / "fresh" / "config.json", folder / "config.json",
                    fs::copy_options::overwrite_existing);
    }
  }
}

namespace {

// A tokenizer.model of `vocab` pieces (trained on the GPL text), once per vocabulary size.
fs::path trained_tokenizer(int vocab) {
  static TempDir dir;
  const fs::path model = dir / fmt::format("tok{}.model", vocab);
  if (fs::exists(model)) return model;
  std::ifstream in("/usr/share/common-licenses/GPL-3");
  auto lines = std::make_shared<std::vector<std::string>>();
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines->push_back(line);
  plinth::tokenizer::TrainOptions o;
  o.vocab_size = vocab;
  size_t i = 0;
  plinth::tokenizer::Tokenizer::train(
      o,
      [lines, i](std::string& s) mutable {
        if (i >= lines->size()) return false;
        s = (*lines)[i++];
        return true;
      },
      dir / fmt::format("tok{}", vocab));
  return model;
}

ModelConfig vocab_config(int vocab) {
  return small_config(vocab, false);
}

}  // namespace

TEST_CASE("an HF folder reads as a checkpoint, with its tokenizer's hash and convention", "[model][hf]") {
  TempDir dir;
  torch::manual_seed(3);
  Llama model(vocab_config(400));
  const fs::path folder = dir / "m";
  write_hf_folder(model, folder, 2, torch::kBFloat16);
  fs::copy_file(trained_tokenizer(400), folder / "tokenizer.model");
  plinth::write_file_atomic(folder / "tokenizer_config.json",
                            R"({"add_bos_token": true, "bos_token": "<s>"})");

  const auto tok = plinth::tokenizer::Tokenizer::load(folder / "tokenizer.model");
  const plinth::model::CheckpointContents ckpt = plinth::model::read_model_checkpoint(folder);
  CHECK(ckpt.meta.at("kind") == "hf-model");
  CHECK(ckpt.meta.at("tokenizer_hash") == plinth::hex64(tok.hash()));
  CHECK(ckpt.meta.at("tokenizer_file") == (folder / "tokenizer.model").string());
  CHECK(ckpt.meta.at("hf_architecture") == "LlamaForCausalLM");
  CHECK(ckpt.meta.count("step") == 0);  // a published model has no step of ours
  CHECK(plinth::model::read_hf_checkpoint_meta(folder) == ckpt.meta);
  // What every command builds from a checkpoint: the same weights, through bf16.
  Llama loaded = plinth::model::model_from_checkpoint(ckpt, folder);
  expect_same_weights(model, loaded, torch::kBFloat16);

  // The fingerprint a fine-tune's provenance keeps changes with any file the model is made of.
  const uint64_t before = plinth::model::model_source_hash(folder);
  CHECK(plinth::model::model_source_hash(folder) == before);
  plinth::write_file_atomic(folder / "tokenizer_config.json", R"({"add_bos_token": false})");
  CHECK(plinth::model::model_source_hash(folder) != before);
}

TEST_CASE("an HF folder without a SentencePiece tokenizer, or with another model's, is refused",
          "[model][hf]") {
  TempDir dir;
  torch::manual_seed(4);
  Llama model(vocab_config(400));
  const fs::path folder = dir / "m";
  write_hf_folder(model, folder, 1, torch::kFloat32);

  CHECK_THROWS_WITH(plinth::model::read_model_checkpoint(folder),
                    Contains("has no tokenizer.model") && Contains("SentencePiece"));
  plinth::write_file_atomic(folder / "tokenizer.json", "{}");
  CHECK_THROWS_WITH(plinth::model::read_model_checkpoint(folder),
                    Contains("tokenizer.json but no tokenizer.model") && Contains("not supported"));
  // More pieces than the model has embeddings: the tokenizer is another model's. (Fewer is fine:
  // vocabularies are often padded.)
  fs::copy_file(trained_tokenizer(500), folder / "tokenizer.model");
  CHECK_THROWS_WITH(plinth::model::read_model_checkpoint(folder),
                    Contains("has 500 pieces") && Contains("vocab_size is 400"));
}
