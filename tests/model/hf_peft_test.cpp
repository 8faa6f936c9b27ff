// LoRA adapters in PEFT's layout (model/hf_peft.h): names, config and numbers survive a write and
// a read, and the read adapter computes what the written one did. tests/fixtures/hf/peft-lora is
// an adapter PEFT itself saved (hf_fixtures_test.cpp).
#include "model/hf_peft.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/lora.h"
#include "small_config.h"
#include "test_support.h"
#include "util/atomic_file.h"
#include "util/error.h"

using Catch::Matchers::Contains;
using namespace plinth::model;
using plinth::test::small_config;
namespace fs = std::filesystem;

namespace {

ModelConfig peft_config() {
  return small_config(64, /*tied=*/false);
}

}  // namespace

TEST_CASE("PEFT names are plinth's under base_model.model., with .weight", "[model][hf][lora]") {
  CHECK(peft_tensor_name("model.layers.0.self_attn.q_proj.lora_A") ==
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  CHECK(plinth_lora_name("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight") ==
        "model.layers.1.mlp.down_proj.lora_B");
  CHECK(plinth_lora_name("base_model.model.lm_head.weight").empty());
  CHECK(plinth_lora_name("model.layers.0.self_attn.q_proj.lora_A.weight").empty());
}

TEST_CASE("a LoRA adapter written in PEFT's layout reads back and computes the same", "[model][hf][lora]") {
  plinth::test::TempDir dir;
  torch::manual_seed(11);
  Llama model(peft_config());
  model->eval();
  LoraOptions options;
  options.rank = 4;
  options.alpha = 8;
  options.targets = {"layers\\.1\\..*q_proj", "v_proj"};  // q only in layer 1: PEFT must not adapt layer 0's
  attach_lora(*model, options, 5);
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, t] : lora_parameters(*model)) t.normal_(0, 0.1);  // B is zero after attach
  }
  write_peft_adapter(peft_adapter(lora_parameters(*model), options, "models/base"), dir / "adapter");

  std::ifstream in(dir / "adapter" / "adapter_config.json");
  const nlohmann::json config = nlohmann::json::parse(in);
  CHECK(config["peft_type"] == "LORA");
  CHECK(config["r"] == 4);
  CHECK(config["lora_alpha"] == 8.0);
  CHECK(config["base_model_name_or_path"] == "models/base");
  CHECK(config["target_modules"] ==
        nlohmann::json::array({"model.layers.0.self_attn.v_proj", "model.layers.1.self_attn.q_proj",
                               "model.layers.1.self_attn.v_proj"}));

  const PeftAdapter read = read_peft_adapter(dir / "adapter");
  CHECK(read.rank == 4);
  CHECK(read.alpha == 8.0);
  CHECK(read.tensors.size() == 6);
  // The base's weights under the read adapter: the same outputs as the adapter it came from.
  Llama other(peft_config());
  {
    torch::NoGradGuard no_grad;
    auto source = model->named_parameters(), target = other->named_parameters();
    for (auto& p : target) p.value().copy_(source[p.key()]);
  }
  other->eval();
  attach_lora(*other, peft_lora_options(read), 9);
  load_lora_parameters(*other, read.tensors, "adapter");
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randint(0, 64, {2, 16});
  CHECK(torch::allclose(model->forward(x), other->forward(x), 0, 0));
}

TEST_CASE("a PEFT adapter plinth cannot compute is refused by key", "[model][hf][lora]") {
  plinth::test::TempDir dir;
  torch::manual_seed(12);
  Llama model(peft_config());
  attach_lora(*model, LoraOptions{}, 5);
  write_peft_adapter(peft_adapter(lora_parameters(*model), LoraOptions{}, ""), dir / "a");
  std::ifstream in(dir / "a" / "adapter_config.json");
  const nlohmann::json good = nlohmann::json::parse(in);
  for (auto [key, value, needle] :
       {std::tuple{"use_dora", nlohmann::json(true), "use_dora"},
        std::tuple{"peft_type", nlohmann::json("IA3"), "LoRA adapters only"},
        std::tuple{"rank_pattern", nlohmann::json({{"q_proj", 2}}), "one rank"}}) {
    nlohmann::json bad = good;
    bad[key] = value;
    plinth::write_file_atomic(dir / "a" / "adapter_config.json", bad.dump());
    INFO(key);
    CHECK_THROWS_WITH(read_peft_adapter(dir / "a"), Contains("adapter_config.json") && Contains(needle));
  }
}
