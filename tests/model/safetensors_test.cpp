// The weight files: a real safetensors layout that round-trips every dtype, corrupt files
// named in the error, and the HF export that transformers loads.
#include "model/safetensors.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>

#include "model/hf_export.h"
#include "model/hf_import.h"
#include "small_config.h"
#include "test_support.h"
#include "util/atomic_file.h"
#include "util/error.h"

using Catch::Matchers::Contains;
using plinth::BadInput;
using plinth::model::export_hf;
using plinth::model::Llama;
using plinth::model::load_hf_weights;
using plinth::model::ModelConfig;
using plinth::model::read_safetensors;
using plinth::model::read_safetensors_file;
using plinth::model::write_safetensors;
using plinth::test::small_config;
using plinth::test::TempDir;

namespace {

uint64_t header_length(const std::string& bytes) {
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  return n;
}

}  // namespace

TEST_CASE("safetensors round-trips F32, BF16, F16 and I64 with metadata", "[model][safetensors]") {
  TempDir dir;
  torch::manual_seed(0);
  auto f32 = torch::randn({3, 5});
  auto bf16 = torch::randn({7}).to(torch::kBFloat16);
  auto f16 = torch::randn({2, 2, 2}).to(torch::kHalf);
  auto i64 = torch::arange(10, torch::kInt64).reshape({2, 5});
  auto scalar = torch::tensor(3.5f).reshape({});
  auto strided = torch::randn({4, 6}).t();  // not contiguous
  write_safetensors(dir / "w.safetensors",
                    {{"a.weight", f32}, {"b", bf16}, {"c", f16}, {"ids", i64}, {"s", scalar}, {"t", strided}},
                    {{"format", "pt"}, {"step", "12"}});

  const std::string bytes = plinth::read_file(dir / "w.safetensors");
  const uint64_t n = header_length(bytes);
  CHECK(n % 8 == 0);
  auto header = nlohmann::json::parse(bytes.substr(8, n));
  CHECK(header["a.weight"]["dtype"] == "F32");
  CHECK(header["b"]["dtype"] == "BF16");
  CHECK(header["c"]["dtype"] == "F16");
  CHECK(header["ids"]["dtype"] == "I64");
  CHECK(header["a.weight"]["shape"] == nlohmann::json({3, 5}));
  CHECK(header["a.weight"]["data_offsets"] == nlohmann::json({0, 60}));
  CHECK(header["b"]["data_offsets"] == nlohmann::json({60, 74}));
  CHECK(header["__metadata__"]["step"] == "12");
  const uint64_t data = 60 + 14 + 16 + 80 + 4 + 96;
  CHECK(bytes.size() == 8 + n + data);

  auto file = read_safetensors_file(dir / "w.safetensors");
  CHECK(file.metadata.at("format") == "pt");
  REQUIRE(file.tensors.size() == 6);
  CHECK(file.tensors[0].first == "a.weight");
  auto m = read_safetensors(dir / "w.safetensors");
  CHECK(torch::equal(m.at("a.weight"), f32));
  CHECK(m.at("b").scalar_type() == torch::kBFloat16);
  CHECK(torch::equal(m.at("b"), bf16));
  CHECK(torch::equal(m.at("c"), f16));
  CHECK(torch::equal(m.at("ids"), i64));
  CHECK(m.at("s").dim() == 0);
  CHECK(m.at("s").item<float>() == 3.5f);
  CHECK(torch::equal(m.at("t"), strided));
}

TEST_CASE("truncated, corrupt or unsupported safetensors files are bad input naming the file",
          "[model][safetensors]") {
  TempDir dir;
  write_safetensors(dir / "ok.safetensors", {{"w", torch::ones({64, 64})}});
  const std::string bytes = plinth::read_file(dir / "ok.safetensors");

  auto expect_bad = [&](const std::string& name, const std::string& content, const std::string& what) {
    auto path = dir.write(name, content);
    CHECK_THROWS_AS(read_safetensors(path), BadInput);
    CHECK_THROWS_WITH(read_safetensors(path), Contains(path.string()) && Contains(what));
  };
  expect_bad("cut.safetensors", bytes.substr(0, bytes.size() - 100), "outside the");
  expect_bad("tiny.safetensors", bytes.substr(0, 5), "shorter than");
  expect_bad("header.safetensors", bytes.substr(0, 20), "does not fit");
  expect_bad("empty.safetensors", "", "shorter than");
  std::string garbage = bytes;
  garbage[9] = '#';
  expect_bad("garbage.safetensors", garbage, "not JSON");

  std::string header = R"({"w":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string f64(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(f64.data(), &n, 8);
  f64 += header + std::string(16, '\0');
  expect_bad("f64.safetensors", f64, "dtype F64");
  CHECK_THROWS_AS(read_safetensors(dir / "missing.safetensors"), BadInput);

  CHECK_THROWS_AS(write_safetensors(dir / "x.safetensors", {{"d", torch::ones({2}, torch::kFloat64)}}),
                  BadInput);
  CHECK_FALSE(std::filesystem::exists(dir / "x.safetensors"));
}

TEST_CASE("export_hf writes HF weights and config.json that load back", "[model][safetensors][hf]") {
  for (bool tied : {true, false}) {
    CAPTURE(tied);
    TempDir dir;
    const ModelConfig c = small_config(96, tied);
    torch::manual_seed(1);
    Llama model(c);
    model->to(torch::kBFloat16);  // exported as float32 whatever the training dtype
    export_hf(model, dir / "hf", {1, 2});

    auto weights = read_safetensors(dir / "hf" / "model.safetensors");
    CHECK(weights.count("lm_head.weight") == (tied ? 0u : 1u));
    CHECK(weights.size() == model->named_parameters().size());
    for (const auto& [name, t] : weights) CHECK(t.scalar_type() == torch::kFloat32);

    auto config = nlohmann::json::parse(plinth::read_file(dir / "hf" / "config.json"));
    CHECK(config["architectures"] == nlohmann::json({"LlamaForCausalLM"}));
    CHECK(config["model_type"] == "llama");
    CHECK(config["hidden_size"] == 32);
    CHECK(config["intermediate_size"] == 256);
    CHECK(config["num_attention_heads"] == 4);
    CHECK(config["num_key_value_heads"] == 2);
    CHECK(config["num_hidden_layers"] == 2);
    CHECK(config["vocab_size"] == 96);
    CHECK(config["max_position_embeddings"] == 16);
    CHECK(config["rms_norm_eps"] == 1e-5);
    CHECK(config["rope_theta"] == 10000.0);
    CHECK(config["tie_word_embeddings"] == tied);
    CHECK(config["hidden_act"] == "silu");
    CHECK(config["torch_dtype"] == "float32");
    CHECK(config["bos_token_id"] == 1);
    CHECK(config["eos_token_id"] == 2);

    torch::manual_seed(2);
    Llama copy(c);
    load_hf_weights(copy, dir / "hf");
    auto expected = model->named_parameters();
    for (const auto& p : copy->named_parameters())
      CHECK(torch::equal(p.value(), expected[p.key()].to(torch::kFloat32)));
  }
}

TEST_CASE("load_hf_weights names the tensor that does not fit", "[model][safetensors][hf]") {
  TempDir dir;
  torch::manual_seed(3);
  Llama tied(small_config(96, true));
  export_hf(tied, dir / "tied");

  SECTION("shape mismatch") {
    ModelConfig wider = small_config(96, true);
    wider.vocab_size = 100;
    Llama model(wider);
    CHECK_THROWS_WITH(load_hf_weights(model, dir / "tied"),
                      Contains("model.embed_tokens.weight") && Contains("[96, 32]") && Contains("[100, 32]"));
  }
  SECTION("untied model from tied weights") {
    Llama model(small_config(96, false));
    CHECK_THROWS_WITH(
        load_hf_weights(model, dir / "tied" / "model.safetensors"),
        Contains("no tensor holds parameter 'lm_head.weight'") && Contains("tie_word_embeddings: true"));
  }
  SECTION("fewer layers") {
    ModelConfig one = small_config(96, true);
    one.layers = 1;
    Llama model(one);
    CHECK_THROWS_WITH(load_hf_weights(model, dir / "tied"),
                      Contains("model.layers.1.self_attn.q_proj.weight' is not a parameter"));
  }
}
