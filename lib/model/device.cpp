#include "model/device.h"

#include <fmt/format.h>

#include "model/torch_runtime.h"
#include "util/error.h"

namespace plinth::model {

torch::Device resolve_device(const std::string& choice, const std::string& key) {
  if (choice == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::kCPU;
  if (choice == "cpu") return torch::kCPU;
  if (choice == "cuda" || choice.rfind("cuda:", 0) == 0) {
    if (!torch::cuda::is_available())
      throw BadInput(
          fmt::format("{} is {}, but no CUDA device is available to this LibTorch ({})", key, choice,
                      torch_version()),
          fmt::format("use {}=auto or cpu, or build plinth against a CUDA LibTorch on a CUDA machine "
                      "(docs/install.md, \"Building against LibTorch 2.x (CUDA)\")",
                      key));
    try {
      torch::Device d(choice);
      if (d.has_index() && d.index() >= static_cast<int>(torch::cuda::device_count()))
        throw BadInput(fmt::format("{} is {}, but there are only {} CUDA devices", key, choice,
                                   torch::cuda::device_count()),
                       fmt::format("use cuda:0 to cuda:{}", torch::cuda::device_count() - 1));
      return d;
    } catch (const c10::Error&) {
    }
  }
  throw BadInput(fmt::format("{}: '{}' is not a device", key, choice), "use auto, cpu, cuda or cuda:N");
}

torch::Dtype weight_dtype(Precision precision) {
  return precision == Precision::bf16 ? torch::kBFloat16 : torch::kFloat32;
}

}  // namespace plinth::model
