// A bias-free linear map, y = x W^T, that can carry a LoRA adapter. The decoder's attention
// and MLP projections are Projections instead of torch::nn::Linear because LibTorch C++ cannot
// hook a Linear's forward. The weight is registered as "weight" (HF names unchanged); an
// adapter adds "lora_A" and "lora_B" next to it. Includes torch: include it only from
// torch-heavy files.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace plinth::model {

class ProjectionImpl : public torch::nn::Module {
 public:
  // weight (out, in), initialised as torch::nn::Linear does (kaiming-uniform, a = sqrt(5)), so
  // the RNG stream consumed by a model's construction is the same as with Linear.
  ProjectionImpl(int64_t in, int64_t out);

  // (..., in) -> (..., out): F::linear(x, W), plus, with an adapter,
  // F::linear(F::linear(dropout(x), A), B) * alpha / rank (dropout in training mode only).
  torch::Tensor forward(const torch::Tensor& x);

  // Registers lora_A (rank, in) ~ U(-1/sqrt(in), 1/sqrt(in)) (PEFT's kaiming-uniform, a =
  // sqrt(5)), drawn on the CPU from `generator` then moved to the weight's dtype and device,
  // and lora_B (out, rank) = 0, so the output is unchanged until B trains. The caller checks
  // the options (model/lora.h); attaching twice throws Failure.
  void attach_adapter(int64_t rank, double alpha, double dropout, torch::Generator& generator);
  // W += (alpha / rank) * B A, computed in float32 and cast to W's dtype; then drops the adapter.
  void merge_adapter();
  // Unregisters lora_A / lora_B (named_parameters() no longer lists them) without merging.
  void remove_adapter();
  bool has_adapter() const { return lora_A.defined(); }
  // While off, forward skips the adapter: the projection computes as its base (distillation's
  // reference pass, lora.h LoraAdaptersOff). On by default.
  void set_adapter_enabled(bool on) { adapter_enabled_ = on; }
  int64_t rank() const { return has_adapter() ? lora_A.size(0) : 0; }
  double alpha() const { return alpha_; }
  double dropout() const { return dropout_; }
  int64_t in_features() const { return weight.size(1); }
  int64_t out_features() const { return weight.size(0); }

  torch::Tensor weight;          // (out, in)
  torch::Tensor lora_A, lora_B;  // (rank, in), (out, rank); undefined without an adapter

 private:
  double alpha_ = 0, dropout_ = 0;
  bool adapter_enabled_ = true;
};
TORCH_MODULE(Projection);

}  // namespace plinth::model
