#include "model/hf_config.h"

#include <catch2/catch.hpp>
#include <string>

#include "util/error.h"

using plinth::BadInput;
using plinth::model::hf_config_from_json;
using plinth::model::hf_config_json;
using plinth::model::HfConfig;
using plinth::model::ModelConfig;

namespace {

// TinyLlama-1.1B's config.json as transformers wrote it (grouped-query attention, untied head).
const char* const kTinyLlama = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 1,
  "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
  "intermediate_size": 5632, "max_position_embeddings": 2048, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 22, "num_key_value_heads": 4,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 10000.0,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.35.0",
  "use_cache": true, "vocab_size": 32000})";

// The config with `key` set to `value` (JSON text), replacing the key where it is.
std::string with(const std::string& key, const std::string& value) {
  std::string text = kTinyLlama;
  const std::string quoted = "\"" + key + "\": ";
  size_t at = text.find(quoted);
  if (at == std::string::npos) return "{" + quoted + value + ", " + text.substr(1);
  size_t end = text.find_first_of(",}", at);
  if (text[at + quoted.size()] == '[') end = text.find(']', at) + 1;
  return text.substr(0, at) + quoted + value + text.substr(end);
}

HfConfig parse(const std::string& text) {
  return hf_config_from_json(text, "m/config.json");
}

}  // namespace

TEST_CASE("HF config.json: a Llama config maps to plinth's model shape", "[model][hf]") {
  HfConfig c = parse(kTinyLlama);
  CHECK(c.architecture == "LlamaForCausalLM");
  CHECK(c.dtype == "bfloat16");
  CHECK(c.model.vocab_size == 32000);
  CHECK(c.model.dim == 2048);
  CHECK(c.model.layers == 22);
  CHECK(c.model.heads == 32);
  CHECK(c.model.kv_heads == 4);
  CHECK(c.model.ffn == 5632);
  CHECK(c.model.context == 2048);
  CHECK_FALSE(c.model.tie_embeddings);
  CHECK(c.model.rope_theta == 10000.0);
  CHECK(c.model.norm_eps == 1e-5);
  CHECK(c.ids.bos == 1);
  CHECK(c.ids.eos == 2);
  CHECK(c.model.parameter_count() == 1100048384);  // TinyLlama's published count

  // Absent keys take transformers' LlamaConfig defaults; Llama 3 lists several EOS ids.
  HfConfig d = parse(R"({"model_type": "llama", "vocab_size": 100, "hidden_size": 64,
      "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
      "max_position_embeddings": 32, "eos_token_id": [7, 9], "bos_token_id": null})");
  CHECK(d.model.kv_heads == 4);
  CHECK_FALSE(d.model.tie_embeddings);
  CHECK(d.model.norm_eps == 1e-6);
  CHECK(d.model.rope_theta == 10000.0);
  CHECK(d.ids.eos == 7);
  CHECK(d.ids.bos == -1);
}

TEST_CASE("HF config.json: what plinth writes, it reads back", "[model][hf]") {
  ModelConfig m;
  m.vocab_size = 512;
  m.dim = 96;
  m.layers = 3;
  m.heads = 6;
  m.kv_heads = 2;
  m.context = 128;
  m.tie_embeddings = true;
  m.rope_theta = 500000;
  m.norm_eps = 1e-6;
  HfConfig c = parse(hf_config_json(m, {5, -1}));
  CHECK(c.model.vocab_size == m.vocab_size);
  CHECK(c.model.dim == m.dim);
  CHECK(c.model.layers == m.layers);
  CHECK(c.model.heads == m.heads);
  CHECK(c.model.kv_heads == m.kv_heads);
  CHECK(c.model.ffn == m.resolved_ffn());
  CHECK(c.model.context == m.context);
  CHECK(c.model.tie_embeddings);
  CHECK(c.model.rope_theta == m.rope_theta);
  CHECK(c.model.norm_eps == m.norm_eps);
  CHECK(c.ids.bos == 5);
  CHECK(c.ids.eos == -1);
}

TEST_CASE("HF config.json: what plinth's model does not compute is refused by name", "[model][hf]") {
  using Catch::Contains;
  CHECK_THROWS_WITH(parse(with("rope_scaling", R"({"rope_type": "llama3", "factor": 8.0})")),
                    Contains("m/config.json") && Contains("rope_scaling") && Contains("'llama3'"));
  CHECK_THROWS_WITH(parse(with("rope_scaling", R"({"type": "linear", "factor": 2.0})")),
                    Contains("'linear'"));
  // transformers 5 writes rope_parameters: the plain type is read (with its theta), others refused.
  CHECK(parse(with("rope_parameters", R"({"rope_type": "default", "rope_theta": 500000.0})"))
            .model.rope_theta == 500000.0);
  CHECK(parse(with("rope_scaling", R"({"rope_type": "default"})")).model.rope_theta == 10000.0);
  CHECK_THROWS_WITH(
      parse(with("rope_parameters", R"({"rope_type": "yarn", "rope_theta": 1e6, "factor": 4})")),
      Contains("rope_parameters") && Contains("'yarn'"));
  CHECK_THROWS_WITH(
      parse(with("architectures", R"(["GPT2LMHeadModel"])")),
      Contains("'GPT2LMHeadModel' is not a model plinth can run") && Contains("LlamaForCausalLM"));
  CHECK_THROWS_WITH(parse(with("model_type", R"("qwen2")")), Contains("'qwen2'"));
  CHECK_THROWS_WITH(parse(with("attention_bias", "true")), Contains("attention_bias") && Contains("biases"));
  CHECK_THROWS_WITH(parse(with("hidden_act", R"("gelu")")), Contains("hidden_act") && Contains("gelu"));
  CHECK_THROWS_WITH(parse(with("head_dim", "128")), Contains("head_dim") && Contains("64"));
  CHECK_THROWS_WITH(parse(with("sliding_window", "1024")), Contains("sliding-window"));
  CHECK_NOTHROW(parse(with("sliding_window", "null")));
  CHECK_NOTHROW(parse(with("sliding_window", "4096")));  // no shorter than the context: no effect
  CHECK_THROWS_WITH(parse(with("num_key_value_heads", "5")), Contains("does not divide"));
  CHECK_THROWS_WITH(parse(with("hidden_size", "2047.5")), Contains("hidden_size"));
  CHECK_THROWS_WITH(parse("[1, 2]"), Contains("expected a JSON object"));
  CHECK_THROWS_WITH(parse("{"), Contains("not JSON"));

  // Every problem at once, each naming its key.
  try {
    parse(R"({"model_type": "llama", "rope_scaling": {"type": "yarn"}, "mlp_bias": true})");
    FAIL("no error");
  } catch (const BadInput& e) {
    const std::string what = e.what();
    for (const char* key : {"rope_scaling", "mlp_bias", "vocab_size", "hidden_size", "num_hidden_layers",
                            "num_attention_heads", "intermediate_size", "max_position_embeddings"})
      CHECK_THAT(what, Contains(key));
  }
}
