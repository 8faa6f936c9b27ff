// Where and in what precision a model runs, from the recipe's words: the one resolution of
// `train.device`, `eval.device` and `plinth generate --device`. Includes torch.
#pragma once

#include <string>

#include <torch/torch.h>

namespace plinth::model {

// "auto" (CUDA when present, else the CPU), "cpu", "cuda", "cuda:N". BadInput naming `key`
// (e.g. "train.device") for anything else, for CUDA on a machine or a LibTorch without it,
// and for a CUDA index past the last device.
torch::Device resolve_device(const std::string& choice, const std::string& key = "device");
// "fp32" | "bf16"; BadInput naming `key` for anything else.
torch::Dtype resolve_precision(const std::string& precision, const std::string& key = "precision");

}  // namespace plinth::model
