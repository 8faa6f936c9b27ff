#include "model/hf_export.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "model/safetensors.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace plinth::model {

namespace fs = std::filesystem;

void export_hf(const Llama& model, const fs::path& dir, const HfTokenIds& ids) {
  export_hf(*model, dir, ids);
}

void export_hf(const LlamaImpl& model, const fs::path& dir, const HfTokenIds& ids) {
  NamedTensors tensors;
  for (const auto& item : model.named_parameters())
    tensors.emplace_back(item.key(), item.value().detach().to(torch::kCPU, torch::kFloat32));
  fs::create_directories(dir);
  write_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
  write_file_atomic(dir / "config.json", hf_config_json(model.config(), ids));
}

}  // namespace plinth::model
