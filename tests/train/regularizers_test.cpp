// L2-SP and EWC on a real tiny Llama: the penalty's value and gradient against hand-computed
// ones, what is anchored (trainable weights, not frozen ones nor LoRA adapters), and EWC's
// weighting by the Fisher diagonal.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "model/llama.h"
#include "model/lora.h"
#include "small_config.h"
#include "train/regularizers.h"
#include "util/error.h"

using namespace plinth;

namespace {

model::Llama tiny_model() {
  model::ModelConfig c = test::small_config(64);
  c.ffn = 64;
  torch::manual_seed(3);
  return model::Llama(c);
}

// A handle to the parameter (tensors share storage): named_parameters() returns a temporary
// dictionary, so a reference into it would dangle.
torch::Tensor param(model::Llama& m, const std::string& name) {
  const auto params = m->named_parameters();
  const torch::Tensor* p = params.find(name);
  REQUIRE(p);
  return *p;
}

const char* kQ = "model.layers.0.self_attn.q_proj.weight";  // (32, 32)
const char* kNorm = "model.norm.weight";                    // (32)
const char* kRegularizedEmbed = "model.embed_tokens.weight";  // (64, 32)

}  // namespace

TEST_CASE("L2-SP: zero at the anchor, alpha/2 * ||theta - theta0||^2 after a change", "[train][finetune]") {
  model::Llama m = tiny_model();
  const double alpha = 0.5;
  auto l2sp = train::make_l2sp(*m, alpha);
  CHECK(l2sp->name() == "l2sp");
  torch::Tensor at_anchor = l2sp->penalty(*m);
  CHECK(at_anchor.dim() == 0);
  CHECK(at_anchor.scalar_type() == torch::kFloat32);
  CHECK(at_anchor.item<double>() == 0.0);

  {
    torch::NoGradGuard no_grad;
    param(m, kQ).add_(0.1);     // 1024 elements moved by 0.1
    param(m, kNorm).sub_(0.2);  // 32 elements moved by 0.2
  }
  const double expected = alpha / 2 * (1024 * 0.01 + 32 * 0.04);
  torch::Tensor penalty = l2sp->penalty(*m);
  CHECK(penalty.item<double>() == Approx(expected).epsilon(1e-5));

  SECTION("its gradient is alpha * (theta - theta0), zero where nothing moved") {
    penalty.backward();
    CHECK(torch::allclose(param(m, kQ).grad(), torch::full({32, 32}, alpha * 0.1), 1e-5, 1e-6));
    CHECK(torch::allclose(param(m, kNorm).grad(), torch::full({32}, -alpha * 0.2), 1e-5, 1e-6));
    CHECK(param(m, kRegularizedEmbed).grad().abs().max().item<double>() == 0.0);
  }
}

TEST_CASE("L2-SP anchors only trainable weights, never LoRA adapters", "[train][finetune]") {
  model::Llama m = tiny_model();
  param(m, kRegularizedEmbed).requires_grad_(false);  // frozen before the regularizer is made
  auto l2sp = train::make_l2sp(*m, 1.0);
  {
    torch::NoGradGuard no_grad;
    param(m, kRegularizedEmbed).add_(1.0);
  }
  CHECK(l2sp->penalty(*m).item<double>() == 0.0);
  {
    torch::NoGradGuard no_grad;
    param(m, kNorm).add_(1.0);
  }
  CHECK(l2sp->penalty(*m).item<double>() == Approx(0.5 * 32));

  // Real adapters: attach_lora freezes every base weight, and the adapters are not anchored.
  model::Llama adapted = tiny_model();
  model::attach_lora(*adapted, model::LoraOptions{}, 1);
  auto on_adapters = train::make_l2sp(*adapted, 1.0);
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, t] : model::lora_parameters(*adapted)) t.add_(1.0);
  }
  CHECK(on_adapters->penalty(*adapted).item<double>() == 0.0);

  torch::Tensor trainable = torch::zeros({2, 2}, torch::requires_grad());
  CHECK(train::anchorable("model.layers.0.self_attn.q_proj.weight", trainable));
  CHECK_FALSE(train::anchorable("model.layers.0.self_attn.q_proj.lora_A", trainable));
  CHECK_FALSE(train::anchorable("model.layers.0.self_attn.v_proj.lora_B", trainable));
  CHECK_FALSE(train::anchorable("model.layers.0.self_attn.q_proj.weight", torch::zeros({2, 2})));
}

TEST_CASE("EWC weights each squared step by the Fisher diagonal", "[train][finetune]") {
  model::Llama m = tiny_model();
  train::FisherDiagonal fisher;
  fisher.base_checkpoint = "base.ckpt";
  // F = 0 everywhere but the q_proj matrix, where its first row weighs 3 and the rest 1.
  for (const auto& item : m->named_parameters()) fisher.values[item.key()] = torch::zeros_like(item.value());
  torch::Tensor f_q = torch::ones({32, 32});
  f_q[0].fill_(3.0);
  fisher.values[kQ] = f_q;
  const double lambda = 2.0;
  auto ewc = train::make_ewc(fisher, *m, lambda);
  CHECK(ewc->name() == "ewc");
  CHECK(ewc->penalty(*m).item<double>() == 0.0);

  {
    torch::NoGradGuard no_grad;
    param(m, kQ).add_(0.1);
    param(m, kNorm).add_(5.0);  // F = 0: costs nothing
  }
  // lambda/2 * (31 rows * 32 * 1 + 1 row * 32 * 3) * 0.01
  const double expected = lambda / 2 * (31 * 32 + 32 * 3) * 0.01;
  torch::Tensor penalty = ewc->penalty(*m);
  CHECK(penalty.item<double>() == Approx(expected).epsilon(1e-5));
  penalty.backward();
  // d/dtheta = lambda * F * (theta - theta0)
  CHECK(torch::allclose(param(m, kQ).grad(), lambda * f_q * 0.1, 1e-5, 1e-6));
  CHECK(param(m, kNorm).grad().abs().max().item<double>() == 0.0);
}

TEST_CASE("EWC skips parameters without a Fisher entry or frozen ones", "[train][finetune]") {
  model::Llama m = tiny_model();
  train::FisherDiagonal fisher;
  fisher.values[kQ] = torch::ones({32, 32});
  fisher.values[kRegularizedEmbed] = torch::ones({64, 32});
  param(m, kRegularizedEmbed).requires_grad_(false);
  auto ewc = train::make_ewc(fisher, *m, 1.0);
  {
    torch::NoGradGuard no_grad;
    param(m, kRegularizedEmbed).add_(1.0);
    param(m, kNorm).add_(1.0);
  }
  CHECK(ewc->penalty(*m).item<double>() == 0.0);
  {
    torch::NoGradGuard no_grad;
    param(m, kQ).add_(1.0);
  }
  CHECK(ewc->penalty(*m).item<double>() == Approx(0.5 * 1024));
}

TEST_CASE("EWC refuses a Fisher diagonal made for another model", "[train][finetune]") {
  model::Llama m = tiny_model();
  train::FisherDiagonal fisher;
  fisher.base_checkpoint = "runs/other/checkpoints/best.ckpt";
  SECTION("another shape") {
    fisher.values[kQ] = torch::ones({16, 32});
    try {
      train::make_ewc(fisher, *m, 1.0);
      FAIL("no BadInput");
    } catch (const BadInput& e) {
      CHECK_THAT(e.what(), Catch::Contains("does not fit the model"));
      CHECK_THAT(e.what(), Catch::Contains(kQ));
      CHECK_THAT(e.problems()[0].hint, Catch::Contains("runs/other/checkpoints/best.ckpt"));
    }
  }
  SECTION("no parameter in common") {
    fisher.values["transformer.h.0.attn.c_attn.weight"] = torch::ones({96, 32});
    CHECK_THROWS_WITH(train::make_ewc(fisher, *m, 1.0), Catch::Contains("covers none"));
    CHECK_THROWS_AS(train::make_ewc(fisher, *m, 1.0), BadInput);
  }
}
