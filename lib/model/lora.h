// LoRA on the decoder: attach low-rank adapters to projections chosen by name, train only
// them, then merge them into the base weights for export, or keep them apart as an
// adapter-only file. Includes torch: include it only from torch-heavy files.
//
// Adapter parameters sit next to the projection's weight, so their full names are e.g.
// "model.layers.0.self_attn.q_proj.lora_A" (rank, in) and "...q_proj.lora_B" (out, rank).
// While adapters are attached, named_parameters() lists them too: attach before building the
// optimizer, and load base weights (checkpoint, HF) before attaching; merge_lora before
// export_hf so the file holds plain Llama weights.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/finetune_options.h"
#include "model/llama.h"

namespace plinth::model {

// Adds an adapter (model/projection.h: A ~ kaiming-uniform drawn from `seed`, B = 0, so the
// output is unchanged) to every projection whose full module name matches one of
// options.targets, and sets requires_grad = false on every other parameter. Returns the
// adapted module names in model order. Throws BadInput, listing every problem at once, for
// rank < 1, alpha <= 0, dropout outside [0, 1), no targets, a regex that does not parse, a
// target that matches no projection (the message lists the module names that exist), or a
// model that already has adapters.
std::vector<std::string> attach_lora(LlamaImpl& model, const LoraOptions& options, uint64_t seed);

// W += (alpha / rank) * B A for every adapted projection, then removes the adapters:
// named_parameters() is the plain model's again and every parameter has requires_grad = true
// (freezing applied before attach_lora is not remembered; apply it again if wanted).
// No-op without adapters.
void merge_lora(LlamaImpl& model);

// Drops the adapters without merging (the base model as it was before attach_lora) and sets
// requires_grad = true on every parameter.
void remove_lora(LlamaImpl& model);

bool has_lora(const LlamaImpl& model);

// While alive, every adapter of `model` is skipped: the model computes as its base, with no
// second copy of the weights (distillation to the base of a LoRA fine-tune). Restores on exit.
class LoraAdaptersOff {
 public:
  explicit LoraAdaptersOff(LlamaImpl& model);
  ~LoraAdaptersOff();
  LoraAdaptersOff(const LoraAdaptersOff&) = delete;
  LoraAdaptersOff& operator=(const LoraAdaptersOff&) = delete;

 private:
  LlamaImpl& model_;
};

// The adapter tensors (the live parameters, not copies) with their full names, in model
// order (each projection's lora_A then lora_B): what an adapter-only checkpoint holds.
std::vector<std::pair<std::string, torch::Tensor>> lora_parameters(LlamaImpl& model);

// Copies adapter tensors (e.g. read back from an adapter-only file) into the attached adapters
// (attach_lora with the same options first). Every adapter must be given exactly once with its
// shape; `source` (a file name, may be empty) goes into the errors. Throws BadInput listing
// missing, unknown and mis-shaped tensors, or when the model has no adapters.
void load_lora_parameters(LlamaImpl& model, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                          const std::string& source = {});

}  // namespace plinth::model
