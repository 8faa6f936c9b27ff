#include "model/model_config.h"

#include <fmt/format.h>

#include <vector>

#include "util/error.h"

namespace plinth::model {

void check_config(const ModelConfig& c) {
  std::vector<Problem> problems;
  auto bad = [&](std::string message, std::string hint) {
    Problem p;  // no location: the config may come from a checkpoint, not a recipe line
    p.key = "model";
    p.message = std::move(message);
    p.hint = std::move(hint);
    problems.push_back(std::move(p));
  };
  if (c.vocab_size <= 0)
    bad(fmt::format("vocab_size is {}", c.vocab_size),
        "set model.vocab_size, or build the model after taking it from the tokenizer");
  if (c.dim <= 0 || c.layers <= 0 || c.heads <= 0 || c.kv_heads < 0 || c.ffn < 0 || c.context <= 0)
    bad(fmt::format("dim {}, layers {}, heads {}, kv_heads {}, ffn {}, context {}: sizes must be positive",
                    c.dim, c.layers, c.heads, c.kv_heads, c.ffn, c.context),
        "check the model section");
  else if (c.dim % c.heads != 0 || c.head_dim() % 2 != 0)
    bad(fmt::format("heads ({}) must divide dim ({}) into an even head size", c.heads, c.dim),
        "choose dim and heads so that dim / heads is even");
  else if (c.heads % c.resolved_kv_heads() != 0)
    bad(fmt::format("kv_heads ({}) does not divide heads ({})", c.kv_heads, c.heads),
        "use a divisor of heads");
  if (!(c.rope_theta > 0) || !(c.norm_eps > 0) || !(c.init_std > 0))
    bad("rope_theta, norm_eps and init_std must be positive", "check the model section");
  if (!problems.empty()) throw BadInput(std::move(problems));
}

int ModelConfig::resolved_ffn() const {
  if (ffn > 0) return ffn;
  // ref_llama.py: int(256 * ceil(8 * dim / 3 / 256)), i.e. 8/3 * dim rounded up to 256.
  return 256 * ((8 * dim + 767) / 768);
}

int64_t ModelConfig::parameter_count() const {
  const int64_t d = dim, hd = head_dim(), h = heads, kvh = resolved_kv_heads(), f = resolved_ffn();
  const int64_t attention = d * h * hd + 2 * d * kvh * hd + h * hd * d;  // q, k, v, o
  const int64_t per_layer = attention + 3 * d * f + 2 * d;               // + gate/up/down, 2 norms
  int64_t n = int64_t{vocab_size} * d + layers * per_layer + d;          // + embeddings, final norm
  if (!tie_embeddings) n += int64_t{vocab_size} * d;
  return n;
}

double ModelConfig::flops_per_token() const {
  const double d = dim, hd = head_dim(), h = heads, kvh = resolved_kv_heads(), f = resolved_ffn();
  // Matmul weights only (lm_head counted whether tied or not; the embedding lookup is free).
  const double n = layers * (d * h * hd + 2 * d * kvh * hd + h * hd * d + 3 * d * f) + double(vocab_size) * d;
  return 6 * n + 12.0 * layers * h * hd * context;
}

void bind(ConfigSection& s, ModelConfig& config) {
  s.read("vocab_size", config.vocab_size, Range<int64_t>::at_least(0));
  const bool dim_ok = s.read("dim", config.dim, Range<int64_t>::between(2, 1 << 16)) || !s.has("dim");
  s.read("layers", config.layers, Range<int64_t>::between(1, 1024));
  const bool heads_ok = s.read("heads", config.heads, Range<int64_t>::between(1, 1024)) || !s.has("heads");
  const bool kv_ok =
      s.read("kv_heads", config.kv_heads, Range<int64_t>::between(0, 1024)) || !s.has("kv_heads");
  s.read("ffn", config.ffn, Range<int64_t>::between(0, 1 << 20));
  s.read("context", config.context, Range<int64_t>::between(1, 1 << 20));
  s.read("tie_embeddings", config.tie_embeddings);
  s.read("rope_theta", config.rope_theta, Range<double>::positive());
  s.read("norm_eps", config.norm_eps, Range<double>::positive());
  s.read("init_std", config.init_std, Range<double>::positive());

  // Cross-field checks only on values that were valid on their own, so one mistake is
  // reported once.
  if (dim_ok && heads_ok) {
    if (config.dim % config.heads != 0) {
      s.error(
          "heads", fmt::format("heads ({}) does not divide dim ({})", config.heads, config.dim),
          "pick heads so that dim / heads is a whole (and even) head size, e.g. dim 256 with 4 or 8 heads");
    } else if (config.head_dim() % 2 != 0) {
      s.error("heads",
              fmt::format("head size dim / heads = {} / {} = {} is odd; RoPE rotates pairs of dimensions",
                          config.dim, config.heads, config.head_dim()),
              "choose dim and heads so that dim / heads is even");
    }
    if (kv_ok && config.kv_heads > 0 && config.heads % config.kv_heads != 0) {
      s.error("kv_heads",
              fmt::format("kv_heads ({}) does not divide heads ({})", config.kv_heads, config.heads),
              "use a divisor of heads (kv_heads: 0 means one key/value head per query head)");
    }
  }
  s.finish();
}

}  // namespace plinth::model
