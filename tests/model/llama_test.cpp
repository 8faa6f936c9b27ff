// The decoder itself: HF parameter names, shapes, initial loss, context limit, bf16, and that
// it actually learns.
#include "model/llama.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <set>
#include <string>

#include "small_config.h"
#include "util/error.h"

using Catch::Matchers::Contains;
using plinth::BadInput;
using plinth::model::KVCache;
using plinth::model::Llama;
using plinth::model::ModelConfig;
using plinth::test::small_config;

namespace {

ModelConfig llama_config(bool tied = true) {
  ModelConfig c = small_config(512, tied);
  c.dim = 64;
  c.context = 32;
  return c;
}

std::set<std::string> hf_names(int layers, bool tied) {
  std::set<std::string> names{"model.embed_tokens.weight", "model.norm.weight"};
  if (!tied) names.insert("lm_head.weight");
  for (int i = 0; i < layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    for (const char* s :
         {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
          "mlp.up_proj", "mlp.down_proj", "input_layernorm", "post_attention_layernorm"})
      names.insert(p + s + ".weight");
  }
  return names;
}

}  // namespace

TEST_CASE("parameters carry the HF Llama names, shapes and count", "[model][llama]") {
  for (bool tied : {true, false}) {
    CAPTURE(tied);
    const ModelConfig c = llama_config(tied);
    torch::manual_seed(0);
    Llama model(c);
    auto params = model->named_parameters();
    std::set<std::string> names;
    int64_t count = 0;
    for (const auto& p : params) {
      names.insert(p.key());
      count += p.value().numel();
    }
    CHECK(names == hf_names(c.layers, tied));
    CHECK(params.size() == names.size());
    CHECK(count == c.parameter_count());
    CHECK(params["model.layers.0.self_attn.q_proj.weight"].sizes() == torch::IntArrayRef({64, 64}));
    CHECK(params["model.layers.0.self_attn.k_proj.weight"].sizes() == torch::IntArrayRef({32, 64}));
    CHECK(params["model.layers.1.mlp.gate_proj.weight"].sizes() == torch::IntArrayRef({256, 64}));
    CHECK(params["model.layers.1.mlp.down_proj.weight"].sizes() == torch::IntArrayRef({64, 256}));
    CHECK(params["model.embed_tokens.weight"].sizes() == torch::IntArrayRef({512, 64}));
    // HF order within a layer: attention, MLP, then the norms
    CHECK(params.keys()[1] == "model.layers.0.self_attn.q_proj.weight");
    CHECK(params.keys()[8] == "model.layers.0.input_layernorm.weight");
    if (tied) CHECK(model->lm_head_weight().is_same(params["model.embed_tokens.weight"]));
  }
}

TEST_CASE("initialisation is reproducible from torch::manual_seed and follows init_std", "[model][llama]") {
  const ModelConfig c = llama_config();
  torch::manual_seed(7);
  Llama a(c);
  torch::manual_seed(7);
  Llama b(c);
  torch::manual_seed(8);
  Llama other(c);
  auto pa = a->named_parameters(), pb = b->named_parameters(), po = other->named_parameters();
  for (const auto& p : pa) CHECK(torch::equal(p.value(), pb[p.key()]));
  CHECK_FALSE(torch::equal(pa["model.embed_tokens.weight"], po["model.embed_tokens.weight"]));

  CHECK(pa["model.norm.weight"].eq(1).all().item<bool>());
  CHECK(pa["model.embed_tokens.weight"].std().item<double>() == Approx(0.02).epsilon(0.05));
  // residual projections: 0.02 / sqrt(2 * layers)
  CHECK(pa["model.layers.0.mlp.down_proj.weight"].std().item<double>() == Approx(0.01).epsilon(0.05));
}

TEST_CASE("forward gives float32 logits - an untrained model's loss is about ln(V)", "[model][llama]") {
  torch::manual_seed(1);
  Llama model(llama_config());
  torch::NoGradGuard no_grad;
  auto idx = torch::randint(0, 512, {3, 32}, torch::kInt64);  // (B, T)
  auto logits = model->forward(idx);                          // (B, T, V)
  CHECK(logits.sizes() == torch::IntArrayRef({3, 32, 512}));
  CHECK(logits.scalar_type() == torch::kFloat32);
  CHECK(model->forward(idx.narrow(1, 0, 5)).sizes() == torch::IntArrayRef({3, 5, 512}));

  auto targets = torch::randint(0, 512, {3, 32}, torch::kInt64);
  const double loss = model->loss(idx, targets).item<double>();
  CHECK(std::abs(loss - std::log(512.0)) < 0.1);
}

TEST_CASE("the forward pass is causal", "[model][llama]") {
  torch::manual_seed(2);
  Llama model(llama_config());
  torch::NoGradGuard no_grad;
  auto idx = torch::randint(0, 512, {1, 32}, torch::kInt64);
  auto changed = idx.clone();
  changed[0][20] = (changed[0][20].item<int64_t>() + 1) % 512;
  auto a = model->forward(idx), b = model->forward(changed);  // (1, T, V)
  CHECK(torch::allclose(a.narrow(1, 0, 20), b.narrow(1, 0, 20)));
  CHECK_FALSE(torch::allclose(a.narrow(1, 20, 12), b.narrow(1, 20, 12)));
}

TEST_CASE("negative targets are ignored by the loss", "[model][llama]") {
  torch::manual_seed(3);
  Llama model(llama_config());
  torch::NoGradGuard no_grad;
  auto idx = torch::randint(0, 512, {2, 16}, torch::kInt64);
  auto targets = torch::randint(0, 512, {2, 16}, torch::kInt64);
  auto masked = targets.clone();
  masked.narrow(1, 8, 8).fill_(-100);
  masked[1][0] = -1;
  // the mean over the kept positions only
  auto logits = model->forward(idx);
  auto per_token = torch::nn::functional::cross_entropy(
      logits.reshape({-1, 512}), targets.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));  // (B*T)
  auto keep = masked.reshape({-1}) >= 0;
  const double expected = per_token.masked_select(keep).mean().item<double>();
  CHECK(model->loss(idx, masked).item<double>() == Approx(expected).epsilon(1e-5));
}

TEST_CASE("sequences longer than the context are bad input", "[model][llama]") {
  Llama model(llama_config());
  torch::NoGradGuard no_grad;
  auto idx = torch::zeros({1, 33}, torch::kInt64);
  CHECK_THROWS_AS(model->forward(idx), BadInput);
  CHECK_THROWS_WITH(model->forward(idx), Contains("33 tokens exceeds the model's context of 32"));
  KVCache cache;
  model->forward_cached(torch::zeros({1, 30}, torch::kInt64), cache);
  CHECK(cache.length() == 30);
  CHECK_THROWS_AS(model->forward_cached(torch::zeros({1, 3}, torch::kInt64), cache), BadInput);

  ModelConfig no_vocab = llama_config();
  no_vocab.vocab_size = 0;
  CHECK_THROWS_AS(Llama(no_vocab), BadInput);
}

TEST_CASE("the cached forward matches the full forward", "[model][llama]") {
  torch::manual_seed(4);
  Llama model(llama_config());
  torch::NoGradGuard no_grad;
  auto idx = torch::randint(0, 512, {2, 24}, torch::kInt64);
  auto full = model->forward(idx);  // (B, T, V)
  KVCache cache;
  auto first = model->forward_cached(idx.narrow(1, 0, 10), cache);
  auto middle = model->forward_cached(idx.narrow(1, 10, 5), cache);  // several new tokens after a past
  std::vector<torch::Tensor> parts{first, middle};
  for (int t = 15; t < 24; ++t) parts.push_back(model->forward_cached(idx.narrow(1, t, 1), cache));
  CHECK(cache.length() == 24);
  auto stepped = torch::cat(parts, 1);
  CHECK(torch::allclose(stepped, full, /*rtol=*/1e-4, /*atol=*/1e-4));
}

TEST_CASE("packed rows: each continuation reads as prefix + continuation alone", "[model][llama]") {
  torch::manual_seed(6);
  Llama model(llama_config());  // grouped kv heads (4 query heads, 2 kv heads)
  torch::NoGradGuard no_grad;
  // Row 0: a prefix of 5 tokens, continuations of 3, 1 and 4 tokens, then 2 padding tokens.
  // Row 1: one sequence of 9 tokens read plainly (all prefix), then padding.
  const auto prefix = torch::randint(0, 512, {5}, torch::kInt64);
  const std::vector<torch::Tensor> conts{torch::randint(0, 512, {3}, torch::kInt64),
                                         torch::randint(0, 512, {1}, torch::kInt64),
                                         torch::randint(0, 512, {4}, torch::kInt64)};
  const auto plain = torch::randint(0, 512, {9}, torch::kInt64);
  const int64_t T = 15;
  auto idx = torch::full({2, T}, int64_t{7}, torch::kInt64);
  auto positions = torch::zeros({2, T}, torch::kInt64);
  auto segments = torch::full({2, T}, int64_t{-1}, torch::kInt64);
  idx[0].narrow(0, 0, 5).copy_(prefix);
  positions[0].narrow(0, 0, 5).copy_(torch::arange(5));
  segments[0].narrow(0, 0, 5).fill_(0);
  int64_t at = 5;
  for (size_t k = 0; k < conts.size(); ++k) {
    const int64_t n = conts[k].size(0);
    idx[0].narrow(0, at, n).copy_(conts[k]);
    positions[0].narrow(0, at, n).copy_(torch::arange(5, 5 + n));
    segments[0].narrow(0, at, n).fill_(static_cast<int64_t>(k) + 1);
    at += n;
  }
  REQUIRE(at == 13);
  idx[1].narrow(0, 0, 9).copy_(plain);
  positions[1].narrow(0, 0, 9).copy_(torch::arange(9));
  segments[1].narrow(0, 0, 9).fill_(0);
  const torch::Tensor packed = model->hidden_states(idx, {positions, segments});  // (2, T, C)

  // Every continuation against its own sequence read plainly, the prefix's positions too.
  at = 5;
  for (const auto& cont : conts) {
    const int64_t n = cont.size(0);
    const torch::Tensor alone =
        model->hidden_states(torch::cat({prefix, cont}).unsqueeze(0))[0];  // (5 + n, C)
    CHECK(torch::allclose(packed[0].narrow(0, 0, 5), alone.narrow(0, 0, 5), 1e-5, 1e-5));
    CHECK(torch::allclose(packed[0].narrow(0, at, n), alone.narrow(0, 5, n), 1e-5, 1e-5));
    at += n;
  }
  CHECK(torch::allclose(packed[1].narrow(0, 0, 9), model->hidden_states(plain.unsqueeze(0))[0], 1e-5, 1e-5));
  // Positions beyond the context, or shapes that disagree, are bad input.
  CHECK_THROWS_WITH(model->hidden_states(idx, {positions + 30, segments}),
                    Contains("do not fit the model's context of 32 tokens"));
  CHECK_THROWS_AS(model->hidden_states(idx, {positions.narrow(1, 0, 3), segments}), BadInput);
}

TEST_CASE("a bf16 model keeps float32 logits and close to the float32 loss", "[model][llama]") {
  torch::manual_seed(5);
  Llama model(llama_config(false));
  torch::NoGradGuard no_grad;
  auto idx = torch::randint(0, 512, {2, 32}, torch::kInt64);
  auto targets = torch::randint(0, 512, {2, 32}, torch::kInt64);
  const double fp32 = model->loss(idx, targets).item<double>();
  model->to(torch::kBFloat16);
  auto logits = model->forward(idx);
  CHECK(logits.scalar_type() == torch::kFloat32);
  CHECK(model->hidden_states(idx).scalar_type() == torch::kBFloat16);
  const double bf16 = model->loss(idx, targets).item<double>();
  CHECK(std::abs(bf16 - fp32) < 0.02);
  KVCache cache;
  CHECK(model->forward_cached(idx.narrow(1, 0, 4), cache).scalar_type() == torch::kFloat32);
}

TEST_CASE("AdamW drives the loss down on a repeating sequence", "[model][llama]") {
  ModelConfig c = llama_config();
  c.vocab_size = 64;
  torch::manual_seed(6);
  Llama model(c);
  // period 8 (tokens 3, 9, 14, ...): next-token prediction is learnable from the context
  auto row = torch::tensor({3, 9, 14, 1, 27, 40, 5, 60}, torch::kInt64).repeat({5});  // (40)
  auto idx = torch::stack({row.narrow(0, 0, 32), row.narrow(0, 3, 32)});              // (2, 32)
  auto targets = torch::stack({row.narrow(0, 1, 32), row.narrow(0, 4, 32)});          // (2, 32)
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0.0));
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    opt.zero_grad();
    auto loss = model->loss(idx, targets);
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  CHECK(first == Approx(std::log(64.0)).margin(0.2));
  CHECK(last < 0.5);
}
