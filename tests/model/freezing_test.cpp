// Freezing parameters for fine-tuning: embeddings, the first k layers, regex patterns, what
// still trains afterwards, and the bad inputs.
#include "model/freezing.h"

#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "model/lora.h"
#include "small_config.h"
#include "util/error.h"

using Catch::Matchers::Contains;
using plinth::BadInput;
using plinth::model::freeze_parameters;
using plinth::model::FreezeOptions;
using plinth::model::Llama;
using plinth::model::ModelConfig;
using plinth::test::small_config;

namespace {

ModelConfig freezing_config(bool tied = true) {
  ModelConfig c = small_config(128, tied);
  c.layers = 3;
  return c;
}

Llama make_model(bool tied = true) {
  torch::manual_seed(3);
  return Llama(freezing_config(tied));
}

std::set<std::string> frozen_names(Llama& model) {
  std::set<std::string> names;
  for (const auto& p : model->named_parameters())
    if (!p.value().requires_grad()) names.insert(p.key());
  return names;
}

int64_t numel_of(Llama& model, const std::set<std::string>& names) {
  int64_t n = 0;
  auto params = model->named_parameters();
  for (const auto& name : names) n += params[name].numel();
  return n;
}

std::set<std::string> layer_names(int layer) {
  std::set<std::string> names;
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  for (const char* s :
       {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
        "mlp.up_proj", "mlp.down_proj", "input_layernorm", "post_attention_layernorm"})
    names.insert(p + s + ".weight");
  return names;
}

}  // namespace

TEST_CASE("first_layers freezes whole decoder layers from the bottom", "[model][freezing]") {
  Llama model = make_model();
  FreezeOptions o;
  o.first_layers = 2;
  const int64_t frozen = freeze_parameters(*model, o);
  std::set<std::string> expected = layer_names(0);
  expected.merge(layer_names(1));
  CHECK(frozen_names(model) == expected);
  CHECK(frozen == numel_of(model, expected));

  SECTION("only the rest receives gradients") {
    auto idx = torch::randint(0, 128, {2, 16}, torch::kInt64);
    model->loss(idx, idx.roll(-1, 1)).backward();
    for (const auto& p : model->named_parameters()) {
      CAPTURE(p.key());
      CHECK(p.value().grad().defined() == !expected.count(p.key()));
    }
  }
}

TEST_CASE("first_layers = layers freezes every layer - 0 freezes nothing", "[model][freezing]") {
  Llama model = make_model();
  FreezeOptions none;
  CHECK(freeze_parameters(*model, none) == 0);
  CHECK(frozen_names(model).empty());
  FreezeOptions all;
  all.first_layers = 3;
  freeze_parameters(*model, all);
  CHECK(frozen_names(model).size() == 27);
  CHECK_FALSE(frozen_names(model).count("model.norm.weight"));
}

TEST_CASE("embeddings freezes the vocabulary matrices, lm_head too when untied", "[model][freezing]") {
  FreezeOptions o;
  o.embeddings = true;
  SECTION("tied") {
    Llama model = make_model(true);
    CHECK(freeze_parameters(*model, o) == 128 * 32);
    CHECK(frozen_names(model) == std::set<std::string>{"model.embed_tokens.weight"});
    CHECK_FALSE(model->lm_head_weight().requires_grad());
  }
  SECTION("untied") {
    Llama model = make_model(false);
    CHECK(freeze_parameters(*model, o) == 2 * 128 * 32);
    CHECK(frozen_names(model) == std::set<std::string>{"model.embed_tokens.weight", "lm_head.weight"});
  }
}

TEST_CASE("patterns freeze parameters whose full name matches", "[model][freezing]") {
  Llama model = make_model();
  FreezeOptions o;
  o.patterns = {"norm", "layers\\.2\\.mlp\\.(up|down)_proj"};
  const int64_t frozen = freeze_parameters(*model, o);
  const std::set<std::string> expected{"model.layers.0.input_layernorm.weight",
                                       "model.layers.0.post_attention_layernorm.weight",
                                       "model.layers.1.input_layernorm.weight",
                                       "model.layers.1.post_attention_layernorm.weight",
                                       "model.layers.2.input_layernorm.weight",
                                       "model.layers.2.post_attention_layernorm.weight",
                                       "model.norm.weight",
                                       "model.layers.2.mlp.up_proj.weight",
                                       "model.layers.2.mlp.down_proj.weight"};
  CHECK(frozen_names(model) == expected);
  CHECK(frozen == numel_of(model, expected));

  SECTION("options add up, and freezing again leaves frozen parameters frozen") {
    FreezeOptions more;
    more.embeddings = true;
    more.first_layers = 1;
    freeze_parameters(*model, more);
    auto all = expected;
    all.merge(layer_names(0));
    all.insert("model.embed_tokens.weight");
    CHECK(frozen_names(model) == all);
  }
}

TEST_CASE("patterns can freeze LoRA adapters too", "[model][freezing][lora]") {
  Llama model = make_model();
  plinth::model::attach_lora(*model, {}, 1);  // q_proj, v_proj
  FreezeOptions o;
  o.patterns = {"v_proj\\.lora_"};
  CHECK(freeze_parameters(*model, o) == 3 * (8 * 32 + 16 * 8));
  for (const auto& p : model->named_parameters())
    CHECK(p.value().requires_grad() == (p.key().find("q_proj.lora_") != std::string::npos));
}

TEST_CASE("bad freeze options are BadInput and freeze nothing", "[model][freezing]") {
  Llama model = make_model();
  SECTION("first_layers > layers, first_layers < 0") {
    FreezeOptions o;
    o.first_layers = 4;
    CHECK_THROWS_AS(freeze_parameters(*model, o), BadInput);
    CHECK_THROWS_WITH(freeze_parameters(*model, o),
                      Contains("freeze.first_layers: first_layers is 4, but the model has 3 layers") &&
                          Contains("use 0 to 3"));
    o.first_layers = -1;
    CHECK_THROWS_WITH(freeze_parameters(*model, o), Contains("first_layers is -1"));
  }
  SECTION("a pattern that matches nothing shows real names; an invalid regex; all at once") {
    FreezeOptions o;
    o.first_layers = 1;
    o.patterns = {"norm", "attn\\.qproj", "mlp["};
    CHECK_THROWS_AS(freeze_parameters(*model, o), BadInput);
    CHECK_THROWS_WITH(freeze_parameters(*model, o),
                      Contains("freeze.patterns[1]: freeze pattern 'attn\\.qproj' matches no parameter") &&
                          Contains("model.layers.0.self_attn.q_proj.weight") &&
                          Contains("model.norm.weight") &&
                          Contains("freeze.patterns[2]: pattern 'mlp[' is not a valid regex"));
  }
  SECTION("options that leave nothing to train") {
    FreezeOptions o;
    o.embeddings = true;
    o.first_layers = 3;
    o.patterns = {"^model\\.norm"};
    CHECK_THROWS_AS(freeze_parameters(*model, o), BadInput);
    CHECK_THROWS_WITH(freeze_parameters(*model, o), Contains("leave no parameter to train"));
  }
  CHECK(frozen_names(model).empty());
}
