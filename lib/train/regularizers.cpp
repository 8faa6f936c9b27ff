#include "train/regularizers.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <vector>

#include "util/error.h"

namespace plinth::train {

namespace {

// One anchored parameter: its base value theta0 and, for EWC, its weight F (float32, its shape).
// Tensors move to the parameter's device on first use (the Trainer moves the model after the
// regularizer is made); hence mutable.
struct Anchor {
  std::string name;
  mutable torch::Tensor theta0, weight;
};

// sum over anchors of [weight *] (theta - theta0)^2, in float32, as a scalar on the parameters'
// device. Throws Failure when an anchored parameter has left the model (a programming error).
torch::Tensor weighted_distance(const std::vector<Anchor>& anchors, const model::LlamaImpl& model) {
  const auto params = model.named_parameters();
  torch::Tensor total;
  for (const Anchor& a : anchors) {
    const torch::Tensor* p = params.find(a.name);
    if (!p) throw Failure("regularizer: the model has no parameter " + a.name);
    if (a.theta0.device() != p->device()) {
      a.theta0 = a.theta0.to(p->device());
      if (a.weight.defined()) a.weight = a.weight.to(p->device());
    }
    torch::Tensor d = (p->to(torch::kFloat32) - a.theta0).square();  // the parameter's shape
    torch::Tensor term = a.weight.defined() ? (d * a.weight).sum() : d.sum();
    total = total.defined() ? total + term : term;
  }
  if (!total.defined()) {
    const auto all = model.parameters();
    total = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat32).device(
                                 all.empty() ? torch::Device(torch::kCPU) : all.front().device()));
  }
  return total;
}

torch::Tensor snapshot(const torch::Tensor& p) {
  return p.detach().to(torch::kFloat32).clone();
}

// strength / 2 * weighted_distance: L2-SP (strength alpha, no weights) and EWC (strength lambda,
// the Fisher diagonal as weights) differ only in their anchors' weights.
class AnchorPenalty : public Regularizer {
 public:
  AnchorPenalty(std::string name, std::vector<Anchor> anchors, double strength)
      : name_(std::move(name)), anchors_(std::move(anchors)), strength_(strength) {}
  std::string name() const override { return name_; }
  torch::Tensor penalty(const model::LlamaImpl& model) const override {
    return weighted_distance(anchors_, model) * (strength_ / 2);
  }

 private:
  std::string name_;
  std::vector<Anchor> anchors_;
  double strength_;
};

void check_strength(double v, const char* what) {
  if (!(v >= 0)) throw Failure(fmt::format("regularizer: {} must be >= 0 (got {})", what, v));
}

}  // namespace

Regularizer::~Regularizer() = default;

bool anchorable(const std::string& name, const torch::Tensor& parameter) {
  return parameter.requires_grad() && name.find("lora_") == std::string::npos;
}

std::shared_ptr<Regularizer> make_l2sp(const model::LlamaImpl& model, double alpha) {
  check_strength(alpha, "L2-SP alpha");
  std::vector<Anchor> anchors;
  for (const auto& item : model.named_parameters())
    if (anchorable(item.key(), item.value())) anchors.push_back({item.key(), snapshot(item.value()), {}});
  return std::make_shared<AnchorPenalty>("l2sp", std::move(anchors), alpha);
}

std::shared_ptr<Regularizer> make_ewc(const FisherDiagonal& fisher, const model::LlamaImpl& model, double lambda) {
  check_strength(lambda, "EWC lambda");
  std::vector<Anchor> anchors;
  std::vector<std::string> wrong_shape;
  for (const auto& item : model.named_parameters()) {
    if (!anchorable(item.key(), item.value())) continue;
    auto f = fisher.values.find(item.key());
    if (f == fisher.values.end()) continue;
    if (f->second.sizes() != item.value().sizes()) {
      wrong_shape.push_back(fmt::format("{} [{}] vs [{}] in the model", item.key(), fmt::join(f->second.sizes(), ", "),
                                        fmt::join(item.value().sizes(), ", ")));
      continue;
    }
    anchors.push_back(
        {item.key(), snapshot(item.value()), f->second.detach().to(item.value().device(), torch::kFloat32)});
  }
  const std::string hint = fmt::format(
      "the Fisher diagonal was estimated for another model (base {}): delete its file so that it is estimated "
      "again for this base",
      fisher.base_checkpoint.empty() ? "unknown" : fisher.base_checkpoint);
  if (!wrong_shape.empty())
    throw BadInput(fmt::format("the Fisher diagonal does not fit the model: {}", fmt::join(wrong_shape, ", ")), hint);
  if (anchors.empty())
    throw BadInput("the Fisher diagonal covers none of the model's trainable parameters", hint);
  return std::make_shared<AnchorPenalty>("ewc", std::move(anchors), lambda);
}

}  // namespace plinth::train
