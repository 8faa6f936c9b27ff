// The recipe's model section: what a user sees for shapes that cannot work, with the
// file:line:col of the offending value, and the sizes derived from a config.
#include "model/model_config.h"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "util/config_section.h"

using Catch::Matchers::Contains;
using plinth::ConfigNode;
using plinth::ConfigSection;
using plinth::Diagnostics;
using plinth::Location;
using plinth::model::bind;
using plinth::model::ModelConfig;

namespace {

// A `model:` mapping as the recipe loader would build it from "recipe.yaml", one key a line
// starting at line 2, each value at column 10.
ConfigNode model_section(const std::vector<std::pair<std::string, std::string>>& keys) {
  ConfigNode map = ConfigNode::map(Location{"recipe.yaml", 1, 1});
  int line = 2;
  for (const auto& [k, v] : keys) map.set(k, ConfigNode::scalar(v, Location{"recipe.yaml", line++, 10}));
  return map;
}

}  // namespace

TEST_CASE("bind reads every model key", "[model][config]") {
  ConfigNode node = model_section({{"vocab_size", "512"},
                                   {"dim", "64"},
                                   {"layers", "2"},
                                   {"heads", "4"},
                                   {"kv_heads", "2"},
                                   {"ffn", "192"},
                                   {"context", "32"},
                                   {"tie_embeddings", "false"},
                                   {"rope_theta", "500000"},
                                   {"norm_eps", "1e-6"},
                                   {"init_std", "0.01"}});
  Diagnostics diag;
  ConfigSection s(&node, "model", diag);
  ModelConfig c;
  bind(s, c);
  REQUIRE(diag.empty());
  CHECK(c.vocab_size == 512);
  CHECK(c.dim == 64);
  CHECK(c.layers == 2);
  CHECK(c.heads == 4);
  CHECK(c.kv_heads == 2);
  CHECK(c.ffn == 192);
  CHECK(c.context == 32);
  CHECK_FALSE(c.tie_embeddings);
  CHECK(c.rope_theta == 500000.0);
  CHECK(c.norm_eps == 1e-6);
  CHECK(c.init_std == 0.01);
  CHECK(c.head_dim() == 16);
}

TEST_CASE("bind reports heads that do not divide dim at the heads value", "[model][config]") {
  ConfigNode node = model_section({{"dim", "256"}, {"heads", "6"}});
  Diagnostics diag;
  ConfigSection s(&node, "model", diag);
  ModelConfig c;
  bind(s, c);
  REQUIRE(diag.problems().size() == 1);
  const auto& p = diag.problems()[0];
  CHECK(p.key == "model.heads");
  CHECK(p.message == "heads (6) does not divide dim (256)");
  CHECK(p.where.str() == "recipe.yaml:3:10");
  CHECK_FALSE(p.hint.empty());
}

TEST_CASE("bind reports kv_heads that do not divide heads, and odd head sizes", "[model][config]") {
  SECTION("kv_heads") {
    ConfigNode node = model_section({{"heads", "4"}, {"kv_heads", "3"}});
    Diagnostics diag;
    ConfigSection s(&node, "model", diag);
    ModelConfig c;
    bind(s, c);
    REQUIRE(diag.problems().size() == 1);
    CHECK(diag.problems()[0].key == "model.kv_heads");
    CHECK(diag.problems()[0].message == "kv_heads (3) does not divide heads (4)");
    CHECK(diag.problems()[0].where.str() == "recipe.yaml:3:10");
  }
  SECTION("odd head_dim") {
    ConfigNode node = model_section({{"dim", "36"}, {"heads", "4"}});
    Diagnostics diag;
    ConfigSection s(&node, "model", diag);
    ModelConfig c;
    bind(s, c);
    REQUIRE(diag.problems().size() == 1);
    CHECK_THAT(diag.problems()[0].message, Contains("= 9 is odd"));
    CHECK(diag.problems()[0].where.line == 3);
  }
}

TEST_CASE("bind collects range errors and unknown keys together", "[model][config]") {
  ConfigNode node = model_section({{"vocab_size", "-1"}, {"layers", "0"}, {"norm_eps", "0"}, {"dims", "64"}});
  Diagnostics diag;
  ConfigSection s(&node, "model", diag);
  ModelConfig c;
  bind(s, c);
  const auto& p = diag.problems();
  REQUIRE(p.size() == 4);
  CHECK(p[0].key == "model.vocab_size");
  CHECK(p[1].key == "model.layers");
  CHECK(p[2].key == "model.norm_eps");
  CHECK(p[3].key == "model.dims");
  CHECK(p[3].hint == "did you mean 'dim'?");
  CHECK(p[3].where.line == 5);
}

TEST_CASE("derived sizes follow ref_llama.py", "[model][config]") {
  ModelConfig c;
  c.vocab_size = 512;
  c.dim = 64;
  c.layers = 2;
  c.heads = 4;
  c.kv_heads = 2;
  c.context = 32;
  CHECK(c.resolved_ffn() == 256);  // 256 * ceil(8 * 64 / 3 / 256)
  c.dim = 96;
  CHECK(c.resolved_ffn() == 256);  // 8 * 96 / 3 = 256 exactly
  c.dim = 768;
  CHECK(c.resolved_ffn() == 2048);
  c.dim = 64;
  // embed 512*64 + 2 layers * (q 64*64 + k,v 2*64*32 + o 64*64 + mlp 3*64*256 + norms 2*64) + norm 64
  const int64_t tied = 512 * 64 + 2 * (4096 + 4096 + 4096 + 3 * 64 * 256 + 128) + 64;
  CHECK(c.parameter_count() == tied);
  c.tie_embeddings = false;
  CHECK(c.parameter_count() == tied + 512 * 64);
  const double matmul = 2 * (4096 + 4096 + 4096 + 3 * 64 * 256) + 512 * 64;
  CHECK(c.flops_per_token() == Approx(6 * matmul + 12.0 * 2 * 4 * 16 * 32));
}
