// The Llama-style decoder (docs/architecture.md, "The model"): RMSNorm, RoPE (rotate-half),
// grouped-query attention through causal_attention(), SiLU-gated MLP, no biases, optional tied
// embeddings.
// Submodules are registered so that named_parameters() gives the HF Llama names
// ("model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", ..., "lm_head.weight"
// only when untied). The seven attention / MLP projections are Projections (model/projection.h),
// which can carry LoRA adapters (model/lora.h). Includes torch: include it only from torch-heavy files.
//
// Precision: the model runs in whatever dtype its parameters have; training keeps them float32
// and runs the matmuls in bf16 under autocast. RMSNorm always normalises in float32 and rounds
// once to the dtype the next matmuls take (autocast's, else the input's); the residual stream
// stays in the parameters' dtype. RMSNorm and the SwiGLU gate are single nodes with CPU kernels
// (model/fused_ops.h); logits are returned in float32, so the softmax over the vocabulary
// never runs in bf16.
#pragma once

#include <torch/torch.h>

#include "model/model_config.h"
#include "model/projection.h"

namespace plinth::model {

// Keys and values of every layer for incremental decoding.
struct KVCache {
  std::vector<torch::Tensor> k, v;  // per layer: (B, kv_heads, t, head_dim), RoPE already applied
  int64_t length() const { return k.empty() || !k[0].defined() ? 0 : k[0].size(2); }
};

// y = x / rms(x) * weight, the normalisation in float32 whatever x's dtype (as HF and
// ref_llama.py: cast back to x's dtype before the weight multiplies).
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);  // (..., C) -> (..., C)

  torch::Tensor weight;  // (C)

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

// Where a forward's tokens sit: rotary tables for positions [start, start + t), each (t, head_dim)
// float32; for packed rows (PackedLayout) per token, (B, 1, t, head_dim), and `blocked`,
// (B, 1, t, t) bool, true where a query may not attend to a key (undefined: the causal mask).
struct RopeSlice {
  torch::Tensor cos, sin;
  torch::Tensor blocked;
};

// Several sequences that share a prefix, packed into one row so the prefix is computed once
// (a multiple-choice question's context and its choices, eval/suite_scorer.cpp): the prefix,
// then each continuation after it. positions (B, T) int64 in [0, context): each token's place in
// its own sequence (the RoPE angle); segments (B, T) int64: 0 for the prefix, k != 0 for the k-th
// continuation. A token attends to the earlier tokens of its row that are in the prefix or in its
// own segment, so each continuation's hidden states are those of prefix + continuation read
// alone. Padding after a row's tokens: any segment of its own.
struct PackedLayout {
  torch::Tensor positions, segments;
};

class LlamaAttentionImpl : public torch::nn::Module {
 public:
  explicit LlamaAttentionImpl(const ModelConfig& config);
  // x (B, t, C) at positions [past, past + t) -> (B, t, C). With k_cache / v_cache (each
  // (B, kv_heads, past, hd) or undefined) the new keys/values are appended to them.
  torch::Tensor forward(const torch::Tensor& x, const RopeSlice& rope, torch::Tensor* k_cache = nullptr,
                        torch::Tensor* v_cache = nullptr);

  Projection q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};  // LoRA-targetable

 private:
  int64_t heads_, kv_heads_, head_dim_;
};
TORCH_MODULE(LlamaAttention);

// down(silu(gate(x)) * up(x)).
class LlamaMLPImpl : public torch::nn::Module {
 public:
  explicit LlamaMLPImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x);  // (B, T, C) -> (B, T, C)

  Projection gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};  // LoRA-targetable
};
TORCH_MODULE(LlamaMLP);

// Pre-norm block: x + attn(norm(x)), then x + mlp(norm(x)).
class LlamaDecoderLayerImpl : public torch::nn::Module {
 public:
  explicit LlamaDecoderLayerImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const RopeSlice& rope, torch::Tensor* k_cache = nullptr,
                        torch::Tensor* v_cache = nullptr);  // (B, t, C) -> (B, t, C)

  LlamaAttention self_attn{nullptr};
  LlamaMLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(LlamaDecoderLayer);

// HF's LlamaModel: everything but the lm_head.
class LlamaModelImpl : public torch::nn::Module {
 public:
  explicit LlamaModelImpl(const ModelConfig& config);

  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  std::vector<LlamaDecoderLayer> blocks;  // the same modules as `layers`, typed
  RMSNorm norm{nullptr};
};
TORCH_MODULE(LlamaModel);

class LlamaImpl : public torch::nn::Module {
 public:
  // Throws BadInput when the config cannot describe a model (vocab_size 0, heads not dividing
  // dim, ...): configs also come from checkpoints, not only from bind().
  explicit LlamaImpl(const ModelConfig& config);

  // idx (B, T) int64, T <= context -> logits (B, T, V) float32.
  torch::Tensor forward(const torch::Tensor& idx);
  // Mean next-token cross-entropy in float32 over targets (B, T); targets < 0 are ignored
  // (PyTorch's ignore_index = -100 convention, any negative value works). When every target
  // is ignored the mean is NaN, as in PyTorch.
  torch::Tensor loss(const torch::Tensor& idx, const torch::Tensor& targets);
  // Incremental forward: idx (B, t) continues the sequence in `cache` -> logits (B, t, V).
  // An empty cache starts a new sequence. Throws BadInput when past + t > context.
  torch::Tensor forward_cached(const torch::Tensor& idx, KVCache& cache);

  // The final-norm hidden states (B, T, C) in the parameters' dtype, before the lm_head:
  // for callers that compute the vocabulary projection themselves (e.g. in chunks).
  torch::Tensor hidden_states(const torch::Tensor& idx);
  // The same for packed rows: idx (B, T) laid out as `layout` says. T may exceed the context;
  // no position may. Throws BadInput on shapes or positions that do not fit.
  torch::Tensor hidden_states(const torch::Tensor& idx, const PackedLayout& layout);
  // (V, C): embed_tokens' weight when tied, else lm_head's.
  torch::Tensor lm_head_weight() const;

  const ModelConfig& config() const { return config_; }
  // Normal(0, init_std) matrices, residual output projections scaled by 1/sqrt(2 layers),
  // norms at 1. Called by the constructor; deterministic for a given torch::manual_seed.
  void reset_parameters();

  LlamaModel model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tie_embeddings; not a LoRA target

 private:
  torch::Tensor run(const torch::Tensor& idx, KVCache* cache);  // (B, t) -> (B, t, C)
  torch::Tensor blocks(torch::Tensor x, const RopeSlice& rope, KVCache* cache);  // (B, t, C) -> (B, t, C)
  RopeSlice rope(const torch::Device& device, int64_t start, int64_t t);

  ModelConfig config_;
  // (context, head_dim) float32, built once; not buffers, so they stay float32 when the
  // parameters go to bf16 and do not enter checkpoints. Moved to the input's device on use.
  torch::Tensor rope_cos_, rope_sin_;
};
TORCH_MODULE(Llama);

}  // namespace plinth::model
