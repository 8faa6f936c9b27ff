// Torch first: its logging header defines CHECK; catch.hpp must come after it so that CHECK
// is Catch's assertion.
#include "train/param_groups.h"
#include "small_config.h"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace plinth;

namespace {

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

model::ModelConfig tiny(bool tied) {
  model::ModelConfig c = test::small_config(64, tied);
  c.kv_heads = 0;  // no grouping
  return c;
}

}  // namespace

TEST_CASE("weight decay: matrices yes, norms and embeddings no", "[train]") {
  model::Llama m(tiny(true));
  train::ParamGroups g = train::split_param_groups(*m);
  CHECK(contains(g.no_decay_names, "model.embed_tokens.weight"));
  CHECK(contains(g.no_decay_names, "model.norm.weight"));
  CHECK(contains(g.no_decay_names, "model.layers.0.input_layernorm.weight"));
  CHECK(contains(g.no_decay_names, "model.layers.1.post_attention_layernorm.weight"));
  CHECK(contains(g.decay_names, "model.layers.0.self_attn.q_proj.weight"));
  CHECK(contains(g.decay_names, "model.layers.1.mlp.down_proj.weight"));
  // Every parameter in exactly one group.
  CHECK(g.decay_names.size() + g.no_decay_names.size() == m->parameters().size());
  CHECK(g.decay_names.size() == 2 * 7);  // q k v o gate up down per layer
  for (const auto& t : g.no_decay) CHECK((t.dim() == 1 || t.size(0) == 64));
}

TEST_CASE("an untied lm_head is an ordinary matrix and is decayed", "[train]") {
  model::Llama m(tiny(false));
  train::ParamGroups g = train::split_param_groups(*m);
  CHECK(contains(g.decay_names, "lm_head.weight"));
  CHECK(contains(g.no_decay_names, "model.embed_tokens.weight"));
}
