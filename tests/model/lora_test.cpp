// LoRA adapters on the decoder: parameter names, what trains, that B = 0 changes nothing,
// that merging gives the adapted model's output, adapter-only files, and the bad inputs.
#include "model/lora.h"

#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "model/safetensors.h"
#include "small_config.h"
#include "test_support.h"
#include "util/error.h"

using Catch::Matchers::Contains;
using plinth::BadInput;
using plinth::model::attach_lora;
using plinth::model::has_lora;
using plinth::model::Llama;
using plinth::model::load_lora_parameters;
using plinth::model::lora_parameters;
using plinth::model::LoraOptions;
using plinth::model::merge_lora;
using plinth::model::ModelConfig;
using plinth::model::remove_lora;
using plinth::test::small_config;

namespace {

ModelConfig lora_config(bool tied = true) {
  // small_config's 2 KV heads: k_proj / v_proj (32, 64), adapters of another shape than q_proj's
  ModelConfig c = small_config(128, tied);
  c.dim = 64;
  c.ffn = 96;
  return c;
}

Llama make_lora_model(bool tied = true) {
  torch::manual_seed(3);
  return Llama(lora_config(tied));
}

torch::Tensor tokens() {
  torch::manual_seed(11);
  return torch::randint(0, 128, {2, 16}, torch::kInt64);  // (B, T)
}

std::set<std::string> names_of(Llama& model) {
  std::set<std::string> names;
  for (const auto& p : model->named_parameters()) names.insert(p.key());
  return names;
}

// Gives every lora_B random values so the adapters change the output.
void randomise_b(Llama& model) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(5);
  for (auto& [name, t] : lora_parameters(*model))
    if (name.size() > 7 && name.compare(name.size() - 7, 7, ".lora_B") == 0) t.normal_(0.0, 0.05);
}

}  // namespace

TEST_CASE("a Projection without adapter is torch::nn::Linear(bias=false), bit for bit", "[model][lora]") {
  torch::manual_seed(4);
  plinth::model::Projection projection(64, 48);
  torch::manual_seed(4);
  torch::nn::Linear linear(torch::nn::LinearOptions(64, 48).bias(false));
  // the same initialisation from the same RNG stream, so models build as before
  CHECK(torch::equal(projection->weight, linear->weight));
  auto names = projection->named_parameters().keys();
  CHECK(names == std::vector<std::string>{"weight"});
  const auto x = torch::randn({3, 5, 64});  // (B, T, in)
  CHECK(torch::equal(projection(x), linear(x)));
}

TEST_CASE("attach_lora registers lora_A / lora_B next to the targets and freezes the rest", "[model][lora]") {
  Llama model = make_lora_model();
  const auto base_names = names_of(model);
  CHECK_FALSE(has_lora(*model));

  LoraOptions o;  // rank 8, targets q_proj and v_proj
  const auto adapted = attach_lora(*model, o, 1);
  CHECK(adapted ==
        std::vector<std::string>{"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                                 "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"});
  CHECK(has_lora(*model));

  std::set<std::string> expected = base_names;
  for (const auto& m : adapted) {
    expected.insert(m + ".lora_A");
    expected.insert(m + ".lora_B");
  }
  CHECK(names_of(model) == expected);

  auto params = model->named_parameters();
  CHECK(params["model.layers.0.self_attn.q_proj.lora_A"].sizes() == torch::IntArrayRef({8, 64}));
  CHECK(params["model.layers.0.self_attn.q_proj.lora_B"].sizes() == torch::IntArrayRef({64, 8}));
  CHECK(params["model.layers.1.self_attn.v_proj.lora_A"].sizes() == torch::IntArrayRef({8, 64}));
  CHECK(params["model.layers.1.self_attn.v_proj.lora_B"].sizes() == torch::IntArrayRef({32, 8}));
  // PEFT's init: A ~ U(-1/sqrt(in), 1/sqrt(in)), B = 0
  const auto a = params["model.layers.0.self_attn.q_proj.lora_A"];
  CHECK(a.abs().max().item<double>() <= 1.0 / 8.0);
  CHECK(a.std().item<double>() > 0.03);
  CHECK(params["model.layers.0.self_attn.q_proj.lora_B"].eq(0).all().item<bool>());

  for (const auto& p : params) {
    CAPTURE(p.key());
    const bool is_lora = p.key().find(".lora_") != std::string::npos;
    CHECK(p.value().requires_grad() == is_lora);
  }

  auto lora = lora_parameters(*model);
  REQUIRE(lora.size() == 8);
  CHECK(lora[0].first == "model.layers.0.self_attn.q_proj.lora_A");
  CHECK(lora[1].first == "model.layers.0.self_attn.q_proj.lora_B");
  CHECK(lora[0].second.is_same(params["model.layers.0.self_attn.q_proj.lora_A"]));
}

TEST_CASE("the adapter's initialisation follows the seed", "[model][lora]") {
  Llama a = make_lora_model(), b = make_lora_model(), c = make_lora_model();
  attach_lora(*a, {}, 7);
  attach_lora(*b, {}, 7);
  attach_lora(*c, {}, 8);
  const std::string name = "model.layers.1.self_attn.v_proj.lora_A";
  CHECK(torch::equal(a->named_parameters()[name], b->named_parameters()[name]));
  CHECK_FALSE(torch::equal(a->named_parameters()[name], c->named_parameters()[name]));
}

TEST_CASE("with B = 0 the adapted model gives exactly the base model's output", "[model][lora]") {
  Llama model = make_lora_model();
  torch::NoGradGuard no_grad;
  const auto idx = tokens();
  const auto before = model->forward(idx);  // (B, T, V)
  LoraOptions o;
  o.targets = {"proj"};  // every projection
  CHECK(attach_lora(*model, o, 1).size() == 14);
  CHECK(torch::equal(model->forward(idx), before));
}

TEST_CASE("gradients reach only the adapters", "[model][lora]") {
  Llama model = make_lora_model(/*tied=*/false);
  LoraOptions o;
  o.targets = {"o_proj", "mlp"};
  attach_lora(*model, o, 1);
  const auto idx = tokens();
  model->loss(idx, idx.roll(-1, 1)).backward();
  for (const auto& p : model->named_parameters()) {
    CAPTURE(p.key());
    if (p.key().find(".lora_") != std::string::npos) {
      REQUIRE(p.value().grad().defined());
      // B starts at 0, so only B's gradient is non-zero on the first step
      if (p.key().find(".lora_B") != std::string::npos)
        CHECK(p.value().grad().abs().sum().item<double>() > 0);
    } else {
      CHECK_FALSE(p.value().grad().defined());
    }
  }
}

TEST_CASE("merge_lora folds the adapters into the weights: same output, plain parameters", "[model][lora]") {
  for (bool tied : {true, false}) {
    CAPTURE(tied);
    Llama model = make_lora_model(tied);
    const auto base_names = names_of(model);
    const auto idx = tokens();
    model->eval();  // dropout only acts in training mode
    torch::NoGradGuard no_grad;
    const auto base = model->forward(idx);

    LoraOptions o;
    o.rank = 4;
    o.alpha = 12;  // scale 3
    o.dropout = 0.1;
    o.targets = {"q_proj", "k_proj", "layers\\.1\\.mlp\\.down_proj"};
    CHECK(attach_lora(*model, o, 2).size() == 5);
    randomise_b(model);
    const auto adapted = model->forward(idx);                   // (B, T, V)
    CHECK((adapted - base).abs().max().item<double>() > 1e-3);  // the adapters do something

    merge_lora(*model);
    CHECK_FALSE(has_lora(*model));
    CHECK(names_of(model) == base_names);
    CHECK(lora_parameters(*model).empty());
    for (const auto& p : model->parameters()) CHECK(p.requires_grad());
    const auto merged = model->forward(idx);
    CHECK((merged - adapted).abs().max().item<double>() < 1e-5);
  }
}

TEST_CASE("the merged weight is W + alpha / rank * B A", "[model][lora]") {
  Llama model = make_lora_model();
  LoraOptions o;
  o.rank = 2;
  o.alpha = 1;
  o.targets = {"layers\\.0\\.self_attn\\.q_proj"};
  attach_lora(*model, o, 1);
  randomise_b(model);
  auto& proj = model->model->blocks[0]->self_attn->q_proj;
  const auto expected =
      (proj->weight + 0.5 * torch::matmul(proj->lora_B, proj->lora_A)).detach();  // (64, 64)
  merge_lora(*model);
  CHECK(torch::allclose(proj->weight, expected, 0, 1e-6));
}

TEST_CASE("adapter dropout acts in training mode only", "[model][lora]") {
  Llama model = make_lora_model();
  LoraOptions o;
  o.dropout = 0.5;
  attach_lora(*model, o, 1);
  randomise_b(model);
  torch::NoGradGuard no_grad;
  const auto idx = tokens();
  model->train();
  torch::manual_seed(1);
  const auto t1 = model->forward(idx);
  const auto t2 = model->forward(idx);
  CHECK_FALSE(torch::equal(t1, t2));
  model->eval();
  CHECK(torch::equal(model->forward(idx), model->forward(idx)));
}

TEST_CASE("target regexes pick projections by full module name", "[model][lora]") {
  Llama model = make_lora_model();
  SECTION("'mlp' matches gate, up and down in every layer") {
    LoraOptions o;
    o.targets = {"mlp"};
    CHECK(attach_lora(*model, o, 1) ==
          std::vector<std::string>{"model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj",
                                   "model.layers.0.mlp.down_proj", "model.layers.1.mlp.gate_proj",
                                   "model.layers.1.mlp.up_proj", "model.layers.1.mlp.down_proj"});
  }
  SECTION("a layer and a projection") {
    LoraOptions o;
    o.targets = {"layers\\.1\\..*o_proj$", "^model\\.layers\\.0\\.self_attn\\.k_proj$"};
    CHECK(attach_lora(*model, o, 1) ==
          std::vector<std::string>{"model.layers.0.self_attn.k_proj", "model.layers.1.self_attn.o_proj"});
  }
}

TEST_CASE("remove_lora gives back the base model", "[model][lora]") {
  Llama model = make_lora_model();
  torch::NoGradGuard no_grad;
  const auto idx = tokens();
  const auto base = model->forward(idx);
  const auto base_names = names_of(model);
  attach_lora(*model, {}, 1);
  randomise_b(model);
  remove_lora(*model);
  CHECK(names_of(model) == base_names);
  CHECK(torch::equal(model->forward(idx), base));
  // and adapters can be attached again afterwards
  CHECK(attach_lora(*model, {}, 1).size() == 4);
}

TEST_CASE("adapter-only files: lora_parameters out, load_lora_parameters back in", "[model][lora]") {
  plinth::test::TempDir dir;
  const auto file = dir / "adapter.safetensors";
  const auto idx = tokens();
  LoraOptions o;
  o.targets = {"q_proj", "mlp\\.up"};

  Llama trained = make_lora_model();
  attach_lora(*trained, o, 1);
  randomise_b(trained);
  plinth::model::write_safetensors(file, lora_parameters(*trained));
  torch::NoGradGuard no_grad;
  const auto expected = trained->forward(idx);

  Llama fresh = make_lora_model();  // the same base weights
  attach_lora(*fresh, o, 99);  // another seed: the file must overwrite A too
  CHECK_FALSE(torch::equal(fresh->forward(idx), expected));
  auto saved = plinth::model::read_safetensors_file(file).tensors;
  CHECK(saved.size() == 8);
  load_lora_parameters(*fresh, saved, file.string());
  CHECK(torch::equal(fresh->forward(idx), expected));

  SECTION("a missing, an unknown and a mis-shaped tensor are all reported") {
    auto broken = saved;
    broken.erase(broken.begin());  // q_proj.lora_A of layer 0
    broken.emplace_back("model.layers.0.self_attn.k_proj.lora_A", torch::zeros({8, 64}));
    broken[0].second = torch::zeros({64, 4});  // q_proj.lora_B of layer 0, rank 4
    CHECK_THROWS_AS(load_lora_parameters(*fresh, broken, file.string()), BadInput);
    CHECK_THROWS_WITH(load_lora_parameters(*fresh, broken, file.string()),
                      Contains(file.string()) &&
                          Contains("'model.layers.0.self_attn.q_proj.lora_A' is missing") &&
                          Contains("'model.layers.0.self_attn.k_proj.lora_A' is not a LoRA adapter") &&
                          Contains("has shape [64, 4], the adapter expects [64, 8]"));
  }
  SECTION("a model without adapters") {
    Llama plain = make_lora_model();
    CHECK_THROWS_AS(load_lora_parameters(*plain, saved), BadInput);
    CHECK_THROWS_WITH(load_lora_parameters(*plain, saved), Contains("no LoRA adapters"));
  }
}

TEST_CASE("adapters take the model's dtype", "[model][lora]") {
  Llama model = make_lora_model();
  model->to(torch::kBFloat16);
  attach_lora(*model, {}, 1);
  for (const auto& [name, t] : lora_parameters(*model)) CHECK(t.scalar_type() == torch::kBFloat16);
  torch::NoGradGuard no_grad;
  CHECK(model->forward(tokens()).scalar_type() == torch::kFloat32);
}

TEST_CASE("bad LoRA options are BadInput, all reported at once", "[model][lora]") {
  Llama model = make_lora_model();
  SECTION("a target that matches no module lists the module names") {
    LoraOptions o;
    o.targets = {"q_proj", "qproj"};
    CHECK_THROWS_AS(attach_lora(*model, o, 1), BadInput);
    CHECK_THROWS_WITH(attach_lora(*model, o, 1),
                      Contains("lora.targets[1]") && Contains("LoRA target 'qproj' matches no module") &&
                          Contains("did you mean 'q_proj'?") && Contains("model.layers.0.self_attn.q_proj") &&
                          Contains("model.layers.0.mlp.down_proj") && Contains("(and the same in layer 1)"));
    CHECK_FALSE(has_lora(*model));  // nothing attached on error
    for (const auto& p : model->parameters()) CHECK(p.requires_grad());
  }
  SECTION("lm_head cannot be a target") {
    Llama untied = make_lora_model(false);
    LoraOptions o;
    o.targets = {"lm_head"};
    CHECK_THROWS_WITH(attach_lora(*untied, o, 1), Contains("lm_head and the embeddings cannot carry LoRA"));
  }
  SECTION("rank < 1, alpha <= 0, dropout >= 1 and an invalid regex together") {
    LoraOptions o;
    o.rank = 0;
    o.alpha = 0;
    o.dropout = 1.0;
    o.targets = {"q_proj("};
    CHECK_THROWS_AS(attach_lora(*model, o, 1), BadInput);
    CHECK_THROWS_WITH(attach_lora(*model, o, 1), Contains("lora.rank: rank is 0; it must be at least 1") &&
                                                     Contains("alpha is 0; it must be positive") &&
                                                     Contains("dropout is 1; it must be in [0, 1)") &&
                                                     Contains("target 'q_proj(' is not a valid regex"));
  }
  SECTION("no targets") {
    LoraOptions o;
    o.targets.clear();
    CHECK_THROWS_WITH(attach_lora(*model, o, 1), Contains("no target modules given"));
  }
  SECTION("attaching twice") {
    attach_lora(*model, {}, 1);
    CHECK_THROWS_AS(attach_lora(*model, {}, 1), BadInput);
    CHECK_THROWS_WITH(attach_lora(*model, {}, 1), Contains("already has LoRA adapters"));
  }
}
