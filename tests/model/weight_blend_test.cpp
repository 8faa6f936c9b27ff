// Models between a base and its fine-tune: the blend's ends are the two models bit for bit,
// restoring every part gives the base, the parts of tied and untied models, and merging
// checkpoints that are not one model's base and fine-tune.
#include "model/weight_blend.h"

#include <catch2/catch.hpp>

#include "model/checkpoint_model.h"
#include "small_config.h"
#include "util/error.h"

using Catch::Matchers::Contains;
using plinth::BadInput;
using plinth::model::Llama;
using plinth::model::ModelConfig;
using plinth::test::small_config;

namespace {

ModelConfig blend_config(bool tied) {
  ModelConfig c = small_config(96, tied);
  c.heads = 2;
  c.kv_heads = 0;  // no grouping
  c.ffn = 64;
  return c;
}

// A base and a "fine-tune" of it: every weight moved, or only those whose name contains `only`.
std::pair<Llama, Llama> base_and_tuned(bool tied, const std::string& only = "") {
  torch::manual_seed(7);
  Llama base(blend_config(tied));
  Llama tuned(blend_config(tied));
  torch::NoGradGuard no_grad;
  auto b = base->named_parameters();
  for (auto& p : tuned->named_parameters()) {
    p.value().copy_(b[p.key()]);
    if (only.empty() || p.key().find(only) != std::string::npos)
      p.value().add_(torch::randn_like(p.value()) * 0.1);
  }
  base->eval();
  tuned->eval();
  return {base, tuned};
}

torch::Tensor logits(Llama& m) {
  torch::NoGradGuard no_grad;
  return m->forward(torch::arange(0, 12, torch::kInt64).reshape({2, 6}));
}

plinth::model::CheckpointContents contents_of(Llama& m, const std::string& tokenizer_hash) {
  plinth::model::CheckpointContents c;
  c.meta["model_config"] = plinth::model::model_config_json(m->config());
  c.meta["tokenizer_hash"] = tokenizer_hash;
  for (auto& p : m->named_parameters())
    c.tensors.emplace_back("model/" + p.key(), p.value().detach().clone());
  return c;
}

}  // namespace

TEST_CASE("blend: alpha 0 is the base and 1 the tuned model bit for bit, 0.5 the midpoint",
          "[model][blend]") {
  auto [base, tuned] = base_and_tuned(true);
  Llama out = plinth::model::model_like(*tuned);
  plinth::model::blend_weights(*out, *base, *tuned, 0.0);
  CHECK(torch::equal(logits(out), logits(base)));
  plinth::model::blend_weights(*out, *base, *tuned, 1.0);
  CHECK(torch::equal(logits(out), logits(tuned)));
  plinth::model::blend_weights(*out, *base, *tuned, 0.5);
  const auto b = base->named_parameters(), t = tuned->named_parameters();
  for (const auto& p : out->named_parameters())
    CHECK(torch::allclose(p.value(), (b[p.key()] + t[p.key()]) / 2, 1e-6, 1e-7));
}

TEST_CASE("attribution parts: restoring every part gives the base, one part only that part",
          "[model][blend]") {
  for (bool tied : {true, false}) {
    auto [base, tuned] = base_and_tuned(tied);
    const auto parts = plinth::model::weight_parts(*base, *tuned, /*module_groups=*/false);
    // embeddings, 2 blocks, final norm (+ output head when untied)
    REQUIRE(parts.size() == (tied ? 4u : 5u));
    CHECK(parts[1].name == "block 0");
    std::vector<const plinth::model::WeightPart*> all;
    for (const auto& p : parts) {
      CHECK(p.changed);
      all.push_back(&p);
    }
    Llama out = plinth::model::model_like(*tuned);
    plinth::model::restore_parts(*out, *base, *tuned, all);
    CHECK(torch::equal(logits(out), logits(base)));
    // Every parameter belongs to exactly one block-level part.
    size_t named = 0;
    for (const auto& p : parts) named += p.parameters.size();
    CHECK(named == base->named_parameters().size());

    plinth::model::restore_parts(*out, *base, *tuned, {&parts[1]});
    const auto o = out->named_parameters(), b = base->named_parameters(), t = tuned->named_parameters();
    for (const auto& p : o) {
      const bool in_block0 = p.key().rfind("model.layers.0.", 0) == 0;
      CHECK(torch::equal(p.value(), in_block0 ? b[p.key()] : t[p.key()]));
    }
  }
}

TEST_CASE("attribution parts: what a fine-tune left alone is unchanged, projection groups span the blocks",
          "[model][blend]") {
  auto [base, tuned] = base_and_tuned(true, "q_proj");
  const auto parts = plinth::model::weight_parts(*base, *tuned, /*module_groups=*/true);
  REQUIRE(parts.size() == 4u + 7u);
  CHECK_FALSE(parts[0].changed);  // embeddings
  CHECK(parts[1].changed);        // block 0 holds a q_proj
  CHECK_FALSE(parts[3].changed);  // final norm
  CHECK(parts[4].name == "q_proj (all blocks)");
  CHECK(parts[4].parameters.size() == 2);
  CHECK(parts[4].changed);
  for (size_t i = 5; i < parts.size(); ++i) CHECK_FALSE(parts[i].changed);
}

TEST_CASE("merge_checkpoints: blended weights, the merge recorded, and checkpoints of two models refused",
          "[model][blend]") {
  auto [base, tuned] = base_and_tuned(true);
  const auto b = contents_of(base, "00000000000000aa"), t = contents_of(tuned, "00000000000000aa");
  const auto merged = plinth::model::merge_checkpoints(b, "base.ckpt", t, "tuned.ckpt", 0.25);
  CHECK(merged.meta.at("merge_alpha") == "0.25");
  CHECK(merged.meta.at("merge_base") == "base.ckpt");
  Llama m = plinth::model::model_from_checkpoint(merged, "merged.ckpt");
  Llama expect = plinth::model::model_like(*tuned);
  plinth::model::blend_weights(*expect, *base, *tuned, 0.25);
  CHECK(torch::allclose(logits(m), logits(expect), 1e-5, 1e-6));

  SECTION("another tokenizer") {
    const auto other = contents_of(tuned, "00000000000000bb");
    CHECK_THROWS_WITH(plinth::model::merge_checkpoints(b, "base.ckpt", other, "other.ckpt", 0.5),
                      Contains("was trained with tokenizer 00000000000000aa") &&
                          Contains("other.ckpt with tokenizer 00000000000000bb"));
  }
  SECTION("another shape") {
    Llama untied(blend_config(false));
    const auto other = contents_of(untied, "00000000000000aa");
    CHECK_THROWS_AS(plinth::model::merge_checkpoints(b, "base.ckpt", other, "other.ckpt", 0.5), BadInput);
    CHECK_THROWS_WITH(plinth::model::merge_checkpoints(b, "base.ckpt", other, "other.ckpt", 0.5),
                      Contains("are models of different shapes") && Contains("lm_head.weight"));
  }
}
