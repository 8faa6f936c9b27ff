#include "model/llama.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <limits>

#include "model/fused_ops.h"
#include "model/torch_compat.h"
#include "util/error.h"

namespace plinth::model {

namespace F = torch::nn::functional;

namespace {

torch::nn::Linear linear(int64_t in, int64_t out) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
}

// (B, kvh, S, hd) -> (B, kvh * rep, S, hd), each kv head repeated `rep` times in place
// (= repeat_interleave(rep, 1)), so query head j reads kv head j / rep.
torch::Tensor repeat_kv(const torch::Tensor& x, int64_t rep) {
  if (rep == 1) return x;
  const auto B = x.size(0), kvh = x.size(1), S = x.size(2), hd = x.size(3);
  return x.unsqueeze(2).expand({B, kvh, rep, S, hd}).reshape({B, kvh * rep, S, hd});
}

// q (B, H, t, hd), k/v (B, H, S, hd) -> (B, H, t, hd); `blocked` (broadcast to (B, H, t, S)
// bool, or undefined) marks the keys a query may not see. The softmax runs in float32.
torch::Tensor masked_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const torch::Tensor& blocked) {
  auto scores = torch::matmul(q, k.transpose(-2, -1)).to(torch::kFloat32);  // (B, H, t, S)
  scores = scores / std::sqrt(static_cast<double>(q.size(3)));
  if (blocked.defined()) scores = scores.masked_fill(blocked, -std::numeric_limits<float>::infinity());
  auto weights = scores.softmax(-1).to(v.scalar_type());  // (B, H, t, S)
  return torch::matmul(weights, v);
}

// q (B, H, t, hd) at positions [past, past + t), k/v (B, H, past + t, hd) -> (B, H, t, hd).
// Used when continuing a cached sequence: the fused op's is_causal mask is aligned to the
// top-left corner, which is wrong once queries start after position 0.
torch::Tensor attention_after(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                              int64_t past) {
  const auto t = q.size(2), S = k.size(2);
  // query i (absolute past + i) may not see key j > past + i
  const torch::Tensor future =
      t > 1
          ? torch::ones({t, S}, torch::TensorOptions().dtype(torch::kBool).device(q.device())).triu(past + 1)
          : torch::Tensor();  // (t, S)
  return masked_attention(q, k, v, future);
}

}  // namespace

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  // Under autocast the projections after the norm run in autocast's dtype: cast once, here.
  const auto type = x.device().type();
  return rms_norm(x, weight, eps_, autocast_enabled(type) ? autocast_dtype(type) : x.scalar_type());
}

LlamaAttentionImpl::LlamaAttentionImpl(const ModelConfig& c)
    : heads_(c.heads), kv_heads_(c.resolved_kv_heads()), head_dim_(c.head_dim()) {
  q_proj = register_module("q_proj", Projection(c.dim, heads_ * head_dim_));
  k_proj = register_module("k_proj", Projection(c.dim, kv_heads_ * head_dim_));
  v_proj = register_module("v_proj", Projection(c.dim, kv_heads_ * head_dim_));
  o_proj = register_module("o_proj", Projection(heads_ * head_dim_, c.dim));
}

torch::Tensor LlamaAttentionImpl::forward(const torch::Tensor& x, const RopeSlice& rope,
                                          torch::Tensor* k_cache, torch::Tensor* v_cache) {
  const auto B = x.size(0), t = x.size(1);
  auto q = rope_heads(q_proj(x), heads_, rope.cos, rope.sin);             // (B, H, t, hd)
  auto k = rope_heads(k_proj(x), kv_heads_, rope.cos, rope.sin);          // (B, kvh, t, hd)
  auto v = v_proj(x).view({B, t, kv_heads_, head_dim_}).transpose(1, 2);  // (B, kvh, t, hd)

  int64_t past = 0;
  if (k_cache && v_cache) {
    if (k_cache->defined() && k_cache->size(2) > 0) {
      past = k_cache->size(2);
      k = torch::cat({*k_cache, k}, 2);  // (B, kvh, past + t, hd)
      v = torch::cat({*v_cache, v}, 2);
    }
    *k_cache = k;
    *v_cache = v;
  }
  const int64_t rep = heads_ / kv_heads_;
  auto kr = repeat_kv(k, rep);  // (B, H, past + t, hd)
  auto vr = repeat_kv(v, rep);
  auto y = rope.blocked.defined() ? masked_attention(q, kr, vr, rope.blocked)
           : past == 0            ? causal_attention(q, kr, vr)
                                  : attention_after(q, kr, vr, past);                              // (B, H, t, hd)
  return o_proj(y.transpose(1, 2).reshape({B, t, heads_ * head_dim_}));                 // (B, t, C)
}

LlamaMLPImpl::LlamaMLPImpl(const ModelConfig& c) {
  const int64_t f = c.resolved_ffn();
  gate_proj = register_module("gate_proj", Projection(c.dim, f));
  up_proj = register_module("up_proj", Projection(c.dim, f));
  down_proj = register_module("down_proj", Projection(f, c.dim));
}

torch::Tensor LlamaMLPImpl::forward(const torch::Tensor& x) {
  return down_proj(swiglu(gate_proj(x), up_proj(x)));  // (B, T, ffn) -> (B, T, C)
}

// Registration order is HF's (self_attn, mlp, input_layernorm, post_attention_layernorm):
// it fixes the order of named_parameters() and of initialisation.
LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const ModelConfig& c) {
  self_attn = register_module("self_attn", LlamaAttention(c));
  mlp = register_module("mlp", LlamaMLP(c));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.dim, c.norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.dim, c.norm_eps));
}

torch::Tensor LlamaDecoderLayerImpl::forward(const torch::Tensor& x, const RopeSlice& rope,
                                             torch::Tensor* k_cache, torch::Tensor* v_cache) {
  auto h = x + self_attn(input_layernorm(x), rope, k_cache, v_cache);  // (B, t, C)
  return h + mlp(post_attention_layernorm(h));                         // (B, t, C)
}

LlamaModelImpl::LlamaModelImpl(const ModelConfig& c) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.dim));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < c.layers; ++i) {
    blocks.emplace_back(c);
    layers->push_back(blocks.back());
  }
  norm = register_module("norm", RMSNorm(c.dim, c.norm_eps));
}

LlamaImpl::LlamaImpl(const ModelConfig& config) : config_(config) {
  check_config(config_);
  model = register_module("model", LlamaModel(config_));
  if (!config_.tie_embeddings) lm_head = register_module("lm_head", linear(config_.dim, config_.vocab_size));

  // As ref_llama.py: inv_freq = 1 / theta^(2i / hd); angles (context, hd / 2) repeated to hd.
  const int64_t hd = config_.head_dim();
  auto inv_freq = torch::pow(config_.rope_theta, torch::arange(0, hd, 2, torch::kFloat32) / hd).reciprocal();
  auto angles = torch::outer(torch::arange(config_.context, torch::kFloat32), inv_freq);  // (T, hd/2)
  auto emb = torch::cat({angles, angles}, -1);                                            // (T, hd)
  rope_cos_ = emb.cos();
  rope_sin_ = emb.sin();

  reset_parameters();
}

void LlamaImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  const double std = config_.init_std;
  const double residual_std = std / std::sqrt(2.0 * config_.layers);
  auto ends_with = [](const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  for (auto& item : named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& p = item.value();
    if (ends_with(name, ".lora_A") || ends_with(name, ".lora_B"))
      continue;  // adapters keep their own initialisation (model/lora.h)
    else if (ends_with(name, "norm.weight"))
      p.fill_(1.0);
    else if (ends_with(name, "o_proj.weight") || ends_with(name, "down_proj.weight"))
      p.normal_(0.0, residual_std);
    else
      p.normal_(0.0, std);
  }
}

RopeSlice LlamaImpl::rope(const torch::Device& device, int64_t start, int64_t t) {
  if (rope_cos_.device() != device) {
    rope_cos_ = rope_cos_.to(device);
    rope_sin_ = rope_sin_.to(device);
  }
  return {rope_cos_.narrow(0, start, t), rope_sin_.narrow(0, start, t), torch::Tensor()};  // (t, hd), causal
}

torch::Tensor LlamaImpl::run(const torch::Tensor& idx, KVCache* cache) {
  if (idx.dim() != 2)
    throw BadInput(
        fmt::format("the model takes token ids of shape (batch, time), got {} dimension(s)", idx.dim()));
  const int64_t t = idx.size(1);
  const int64_t past = cache ? cache->length() : 0;
  if (t == 0) throw BadInput("the model was given an empty sequence (0 tokens)");
  if (past + t > config_.context)
    throw BadInput(
        cache ? fmt::format("{} cached + {} new tokens exceed the model's context of {} tokens", past, t,
                            config_.context)
              : fmt::format("a sequence of {} tokens exceeds the model's context of {} tokens", t,
                            config_.context),
        fmt::format("feed at most {} tokens at a time (split longer inputs into windows), or train a "
                    "model with a larger model.context",
                    config_.context));

  return blocks(model->embed_tokens(idx), rope(idx.device(), past, t), cache);  // (B, t, C)
}

torch::Tensor LlamaImpl::blocks(torch::Tensor x, const RopeSlice& rope, KVCache* cache) {
  if (cache && cache->k.size() != model->blocks.size()) {
    cache->k.assign(model->blocks.size(), torch::Tensor());
    cache->v.assign(model->blocks.size(), torch::Tensor());
  }
  for (size_t i = 0; i < model->blocks.size(); ++i)
    x = model->blocks[i](x, rope, cache ? &cache->k[i] : nullptr, cache ? &cache->v[i] : nullptr);
  return model->norm(x);  // (B, t, C)
}

torch::Tensor LlamaImpl::lm_head_weight() const {
  return config_.tie_embeddings ? model->embed_tokens->weight : lm_head->weight;  // (V, C)
}

torch::Tensor LlamaImpl::hidden_states(const torch::Tensor& idx) {
  return run(idx, nullptr);
}

torch::Tensor LlamaImpl::hidden_states(const torch::Tensor& idx, const PackedLayout& layout) {
  if (idx.dim() != 2 || idx.size(1) == 0 || layout.positions.sizes() != idx.sizes() ||
      layout.segments.sizes() != idx.sizes())
    throw BadInput(
        fmt::format("packed rows: token ids of shape {}, positions {}, segments {}; all three must be "
                    "the same (batch, time) with time > 0",
                    fmt::join(idx.sizes(), "x"), fmt::join(layout.positions.sizes(), "x"),
                    fmt::join(layout.segments.sizes(), "x")));
  const auto [low, high] = torch::aminmax(layout.positions);
  if (low.item<int64_t>() < 0 || high.item<int64_t>() >= config_.context)
    throw BadInput(
        fmt::format("packed rows: positions from {} to {} do not fit the model's context of {} tokens",
                    low.item<int64_t>(), high.item<int64_t>(), config_.context),
        "pack sequences of at most model.context tokens");
  const torch::Device device = idx.device();
  const int64_t t = idx.size(1);
  const RopeSlice table = rope(device, 0, config_.context);  // (context, hd)
  const torch::Tensor at = layout.positions.to(device);      // (B, t)
  auto per_token = [&](const torch::Tensor& angles) {
    return angles.index({at}).unsqueeze(1);
  };                                                     // (B, 1, t, hd)
  const torch::Tensor seg = layout.segments.to(device);  // (B, t)
  const torch::Tensor earlier = torch::ones({t, t}, torch::TensorOptions().dtype(torch::kBool).device(device))
                                    .tril();                        // (t, t): key j <= query i
  const torch::Tensor kin = seg.unsqueeze(1);                       // (B, 1, t): the key's segment
  const torch::Tensor same = kin.eq(0) | kin.eq(seg.unsqueeze(2));  // (B, t, t)
  const RopeSlice packed{per_token(table.cos), per_token(table.sin),
                         (same & earlier).logical_not().unsqueeze(1)};
  return blocks(model->embed_tokens(idx), packed, nullptr);  // (B, t, C)
}

torch::Tensor LlamaImpl::forward(const torch::Tensor& idx) {
  return F::linear(run(idx, nullptr), lm_head_weight()).to(torch::kFloat32);  // (B, T, V)
}

torch::Tensor LlamaImpl::forward_cached(const torch::Tensor& idx, KVCache& cache) {
  return F::linear(run(idx, &cache), lm_head_weight()).to(torch::kFloat32);  // (B, t, V)
}

torch::Tensor LlamaImpl::loss(const torch::Tensor& idx, const torch::Tensor& targets) {
  if (targets.sizes() != idx.sizes())
    throw BadInput(fmt::format("targets of shape {} do not match the input's shape {}",
                               fmt::join(targets.sizes(), "x"), fmt::join(idx.sizes(), "x")));
  auto logits = forward(idx);  // (B, T, V) float32
  // Every negative target becomes -1, the ignored index, so -100 (PyTorch's habit) works too.
  return F::cross_entropy(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}).clamp_min(-1),
                          F::CrossEntropyFuncOptions().ignore_index(-1));
}

}  // namespace plinth::model
