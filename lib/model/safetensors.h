// The safetensors format (huggingface/safetensors): 8-byte little-endian header length, a
// JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}} padded
// with spaces to a multiple of 8, then the raw little-endian tensor bytes. Readable by
// transformers, llama.cpp's converters and ref_llama.py. Dtypes: F32, BF16, F16, I64, I32.
// Includes torch: include it only from torch-heavy files.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace plinth::model {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Writes the tensors in the given order (any device; copied to the CPU), atomically.
// Throws BadInput for an unsupported dtype or a duplicate / reserved name, Failure on I/O errors.
void write_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  NamedTensors tensors;  // in file order, CPU tensors in their stored dtype
  std::map<std::string, std::string> metadata;
};

// Throws BadInput naming the file (and the tensor, where one is at fault) when it is missing,
// truncated, not safetensors, or holds a dtype plinth does not read.
SafetensorsFile read_safetensors_file(const std::filesystem::path& path);
std::map<std::string, torch::Tensor> read_safetensors(const std::filesystem::path& path);

// The same, with the file mapped into memory instead of read: each tensor views the mapping
// (which lives as long as any of them), so loading a model copies each weight once, into its
// parameter, and a multi-gigabyte file is never held twice. The same BadInput as above.
SafetensorsFile map_safetensors_file(const std::filesystem::path& path);

}  // namespace plinth::model
