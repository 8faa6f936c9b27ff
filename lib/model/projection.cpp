#include "model/projection.h"

#include <cmath>

#include "util/error.h"

namespace plinth::model {

namespace F = torch::nn::functional;

ProjectionImpl::ProjectionImpl(int64_t in, int64_t out) {
  weight = register_parameter("weight", torch::empty({out, in}));
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));  // as torch::nn::Linear
}

torch::Tensor ProjectionImpl::forward(const torch::Tensor& x) {
  auto y = F::linear(x, weight);  // (..., out), the same op torch::nn::Linear runs
  if (!has_adapter() || !adapter_enabled_) return y;
  auto h = dropout_ > 0 ? F::dropout(x, F::DropoutFuncOptions().p(dropout_).training(is_training())) : x;
  auto update = F::linear(F::linear(h, lora_A), lora_B);  // (..., rank) -> (..., out)
  return y + update * (alpha_ / static_cast<double>(rank()));
}

void ProjectionImpl::attach_adapter(int64_t rank, double alpha, double dropout, torch::Generator& generator) {
  if (has_adapter()) throw Failure("attach_adapter: this projection already has a LoRA adapter");
  const int64_t in = in_features(), out = out_features();
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  auto a = torch::empty({rank, in}, torch::kFloat32).uniform_(-bound, bound, generator);  // (rank, in)
  const auto options = torch::TensorOptions().dtype(weight.scalar_type()).device(weight.device());
  lora_A = register_parameter("lora_A", a.to(options));
  lora_B = register_parameter("lora_B", torch::zeros({out, rank}, options));  // (out, rank)
  alpha_ = alpha;
  dropout_ = dropout;
}

void ProjectionImpl::merge_adapter() {
  if (!has_adapter()) return;
  {
    torch::NoGradGuard no_grad;
    const double scale = alpha_ / static_cast<double>(rank());
    auto delta = torch::matmul(lora_B.to(torch::kFloat32), lora_A.to(torch::kFloat32)) * scale;  // (out, in)
    weight.copy_((weight.to(torch::kFloat32) + delta).to(weight.scalar_type()));
  }
  remove_adapter();
}

void ProjectionImpl::remove_adapter() {
  // parameters_ is Module's protected registry (LibTorch 1.13 and 2.x); erasing from it is
  // the only way to unregister a parameter, as Module has no unregister_parameter.
  if (parameters_.contains("lora_A")) parameters_.erase("lora_A");
  if (parameters_.contains("lora_B")) parameters_.erase("lora_B");
  lora_A = torch::Tensor();
  lora_B = torch::Tensor();
  alpha_ = 0;
  dropout_ = 0;
}

}  // namespace plinth::model
