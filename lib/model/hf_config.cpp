#include "model/hf_config.h"

#include <fmt/format.h>

#include <climits>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "util/error.h"

namespace plinth::model {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

std::string hf_config_json(const ModelConfig& c, const HfTokenIds& ids) {
  auto token = [](int64_t id) { return id < 0 ? ordered_json(nullptr) : ordered_json(id); };
  ordered_json j = {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.dim},
      {"intermediate_size", c.resolved_ffn()},
      {"num_hidden_layers", c.layers},
      {"num_attention_heads", c.heads},
      {"num_key_value_heads", c.resolved_kv_heads()},
      {"head_dim", c.head_dim()},
      {"max_position_embeddings", c.context},
      {"rms_norm_eps", c.norm_eps},
      {"rope_theta", c.rope_theta},
      {"rope_scaling", nullptr},
      {"hidden_act", "silu"},
      {"attention_bias", false},
      {"mlp_bias", false},
      {"attention_dropout", 0.0},
      {"tie_word_embeddings", c.tie_embeddings},
      {"initializer_range", c.init_std},
      {"bos_token_id", token(ids.bos)},
      {"eos_token_id", token(ids.eos)},
      {"torch_dtype", "float32"},
      {"use_cache", true},
  };
  return j.dump(2) + "\n";
}

namespace {

const char* const kSupported = "plinth reads Llama-family models: LlamaForCausalLM, MistralForCausalLM";

// Reads config.json's keys, collecting every problem (the user fixes or gives up once).
class HfConfigReader {
 public:
  HfConfigReader(const ordered_json& j, const fs::path& file) : j_(j), file_(file) {}

  // A whole number in [lo, hi]; `fallback` when absent (nullopt: required).
  int integer(const char* key, int lo, int hi, std::optional<int> fallback = std::nullopt) {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) {
      if (!fallback) problem(key, "is missing", "a Llama config.json has it; is this a model folder?");
      return fallback.value_or(lo);
    }
    const bool whole = it->is_number_unsigned() ? it->get<uint64_t>() <= uint64_t{INT_MAX}
                                                : it->is_number_integer() && it->get<int64_t>() >= INT_MIN &&
                                                      it->get<int64_t>() <= INT_MAX;
    if (!whole || it->get<int64_t>() < lo || it->get<int64_t>() > hi) {
      problem(key, fmt::format("{} is not a whole number in [{}, {}]", it->dump(), lo, hi), "");
      return lo;
    }
    return static_cast<int>(it->get<int64_t>());
  }

  double positive(const char* key, double fallback) {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return fallback;
    if (!it->is_number() || !(it->get<double>() > 0)) {
      problem(key, fmt::format("{} is not a positive number", it->dump()), "");
      return fallback;
    }
    return it->get<double>();
  }

  bool boolean(const char* key, bool fallback) {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) {
      problem(key, fmt::format("{} is not true or false", it->dump()), "");
      return fallback;
    }
    return it->get<bool>();
  }

  std::string text(const char* key) {
    auto it = j_.find(key);
    return it != j_.end() && it->is_string() ? it->get<std::string>() : std::string();
  }

  // bos_token_id / eos_token_id: a number, null, or (Llama 3) a list whose first entry is used.
  int64_t token_id(const char* key, int64_t fallback) {
    auto it = j_.find(key);
    if (it == j_.end()) return fallback;
    const ordered_json* v = &*it;
    if (v->is_array() && !v->empty()) v = &v->front();
    if (v->is_null()) return -1;
    if (!v->is_number_integer() || v->get<int64_t>() < 0) {
      problem(key, fmt::format("{} is not a token id", it->dump()), "");
      return -1;
    }
    return v->get<int64_t>();
  }

  void problem(const std::string& key, std::string message, std::string hint) {
    problems_.push_back(Problem{Location{file_.string()}, key, std::move(message), std::move(hint)});
  }

  const ordered_json& j() const { return j_; }
  void throw_if_any() {
    if (!problems_.empty()) throw BadInput(std::move(problems_));
  }

 private:
  const ordered_json& j_;
  fs::path file_;
  std::vector<Problem> problems_;
};

// Refuses what plinth's model does not compute; each check names its key.
void check_family(HfConfigReader& r, HfConfig& out) {
  const ordered_json& j = r.j();
  auto archs = j.find("architectures");
  if (archs != j.end() && archs->is_array() && !archs->empty() && archs->front().is_string())
    out.architecture = archs->front().get<std::string>();
  const std::string type = r.text("model_type");
  const bool known_arch = out.architecture.empty() || out.architecture == "LlamaForCausalLM" ||
                          out.architecture == "MistralForCausalLM";
  const bool known_type = type.empty() || type == "llama" || type == "mistral";
  if (!known_arch)
    r.problem("architectures", fmt::format("'{}' is not a model plinth can run", out.architecture),
              kSupported);
  else if (!known_type)
    r.problem("model_type", fmt::format("'{}' is not a model type plinth can run", type), kSupported);
  if (out.architecture.empty() && type.empty())
    r.problem("model_type", "neither architectures nor model_type says what the model is", kSupported);

  const std::string act = j.contains("hidden_act") ? r.text("hidden_act") : "silu";
  if (act != "silu")
    r.problem("hidden_act",
              fmt::format("activation '{}' is not implemented (plinth's MLP is SwiGLU: silu)",
                          j.value("hidden_act", ordered_json()).dump()),
              "use a model whose hidden_act is silu");

  // RoPE variants: transformers 4 wrote rope_scaling: {type | rope_type, factor, ...}; 5 writes
  // rope_parameters: {rope_type, rope_theta, ...}. Only the plain one ("default") is computed.
  for (const char* key : {"rope_scaling", "rope_parameters"}) {
    auto rope = j.find(key);
    if (rope == j.end() || rope->is_null()) continue;
    std::string kind = "?";
    if (rope->is_object())
      for (const char* k : {"rope_type", "type"})
        if (rope->contains(k) && (*rope)[k].is_string()) kind = (*rope)[k].get<std::string>();
    if (kind == "default" || (kind == "?" && std::string(key) == "rope_parameters" && rope->is_object() &&
                              !rope->contains("factor")))
      continue;
    r.problem(key, fmt::format("RoPE scaling of type '{}' is not implemented", kind),
              "plinth implements plain RoPE (rope_theta); use a model without RoPE scaling");
  }
  for (const char* bias : {"attention_bias", "mlp_bias"})
    if (r.boolean(bias, false))
      r.problem(bias, "biases are not implemented (plinth's projections have none)",
                "use a model without biases");
}

}  // namespace

HfConfig hf_config_from_json(const std::string& text, const fs::path& file) {
  ordered_json j;
  try {
    j = ordered_json::parse(text);
  } catch (const ordered_json::exception& e) {
    throw BadInput(fmt::format("{}: not JSON: {}", file.string(), e.what()),
                   "a Hugging Face model folder holds the config.json transformers wrote");
  }
  if (!j.is_object())
    throw BadInput(fmt::format("{}: expected a JSON object, got {}", file.string(), j.type_name()),
                   "a Hugging Face model folder holds the config.json transformers wrote");

  HfConfig out;
  HfConfigReader r(j, file);
  check_family(r, out);

  ModelConfig& c = out.model;
  c.vocab_size = r.integer("vocab_size", 1, INT_MAX);
  c.dim = r.integer("hidden_size", 2, 1 << 16);
  c.layers = r.integer("num_hidden_layers", 1, 1024);
  c.heads = r.integer("num_attention_heads", 1, 1024);
  c.kv_heads = r.integer("num_key_value_heads", 1, 1024, c.heads);
  c.ffn = r.integer("intermediate_size", 1, 1 << 20);
  c.context = r.integer("max_position_embeddings", 1, 1 << 20);
  c.tie_embeddings = r.boolean("tie_word_embeddings", false);
  c.rope_theta = r.positive("rope_theta", 10000.0);
  if (auto rope = j.find("rope_parameters");
      rope != j.end() && rope->is_object() && rope->contains("rope_theta")) {
    const ordered_json& theta = (*rope)["rope_theta"];
    if (theta.is_number() && theta.get<double>() > 0)
      c.rope_theta = theta.get<double>();
    else
      r.problem("rope_parameters.rope_theta", fmt::format("{} is not a positive number", theta.dump()), "");
  }
  c.norm_eps = r.positive("rms_norm_eps", 1e-6);
  c.init_std = r.positive("initializer_range", 0.02);
  out.ids.bos = r.token_id("bos_token_id", -1);
  out.ids.eos = r.token_id("eos_token_id", -1);
  out.dtype = j.contains("torch_dtype") ? r.text("torch_dtype") : r.text("dtype");

  if (c.heads > 0 && c.dim % c.heads != 0) {
    r.problem("num_attention_heads", fmt::format("{} heads do not divide hidden_size {}", c.heads, c.dim),
              "plinth's heads are hidden_size / num_attention_heads wide");
  } else if (c.heads > 0) {
    const int head_dim = r.integer("head_dim", 1, 1 << 16, c.head_dim());
    if (head_dim != c.head_dim())
      r.problem("head_dim",
                fmt::format("{} differs from hidden_size / num_attention_heads = {}", head_dim, c.head_dim()),
                "plinth's heads are hidden_size / num_attention_heads wide");
    else if (head_dim % 2 != 0)
      r.problem("head_dim", fmt::format("{} is odd; RoPE rotates pairs of dimensions", head_dim), "");
  }
  if (c.kv_heads > 0 && c.heads % c.kv_heads != 0)
    r.problem("num_key_value_heads",
              fmt::format("{} does not divide num_attention_heads {}", c.kv_heads, c.heads), "");
  auto window = j.find("sliding_window");
  if (window != j.end() && !window->is_null() &&
      !(window->is_number_integer() && window->get<int64_t>() >= c.context))
    r.problem("sliding_window",
              fmt::format("sliding-window attention ({}) is not implemented", window->dump()),
              "plinth attends to the whole context; use a model without a sliding window");
  r.throw_if_any();
  return out;
}

HfConfig read_hf_config(const fs::path& path) {
  const fs::path file = fs::is_directory(path) ? path / "config.json" : path;
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw BadInput(fmt::format("cannot read {}", file.string()),
                   "give a Hugging Face model folder: config.json beside model.safetensors");
  return hf_config_from_json(std::string(std::istreambuf_iterator<char>(in), {}), file);
}

bool is_hf_model_dir(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec) &&
         std::filesystem::is_regular_file(path / "config.json", ec);
}

}  // namespace plinth::model
