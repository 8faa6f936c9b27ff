// Where and in what precision a model runs, from the recipe's words: the one resolution of
// `train.device`, `eval.device` and `plinth generate --device`, and the weights' dtype of an
// inference precision. Includes torch.
#pragma once

#include <string>

#include <torch/torch.h>

#include "util/precision.h"

namespace plinth::model {

// "auto" (CUDA when present, else the CPU), "cpu", "cuda", "cuda:N". BadInput naming `key`
// (e.g. "train.device") for anything else, for CUDA on a machine or a LibTorch without it,
// and for a CUDA index past the last device.
torch::Device resolve_device(const std::string& choice, const std::string& key = "device");
// The dtype an inference precision casts the weights to (util/precision.h: bf16 weights).
torch::Dtype weight_dtype(Precision precision);

}  // namespace plinth::model
