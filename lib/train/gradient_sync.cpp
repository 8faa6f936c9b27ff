#include "train/gradient_sync.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <mutex>

#include "util/error.h"

namespace plinth::train {

namespace {
// The accumulator node: a shared_ptr in 1.13, an intrusive_ptr in 2.x.
using Accumulator = decltype(torch::autograd::impl::grad_accumulator(std::declval<const torch::Tensor&>()));
}  // namespace

struct GradientSync::State {
  std::shared_ptr<DataParallel> dp;
  std::vector<torch::Tensor> params;
  std::vector<Accumulator> accumulators;     // held: a parameter keeps only a weak reference
  std::vector<std::vector<size_t>> buckets;  // parameter indices, in the order buckets start
  std::vector<size_t> bucket_of;
  std::mutex mutex;
  bool armed = false;
  std::vector<size_t> waiting;  // per bucket: its gradients not final yet
  size_t next = 0;              // the next bucket to start
  std::vector<std::shared_ptr<DataParallel::Pending>> started;

  void reset() {
    armed = false;
    next = 0;
    started.clear();
    waiting.assign(buckets.size(), 0);
    for (size_t b = 0; b < buckets.size(); ++b) waiting[b] = buckets[b].size();
  }

  // Flattens bucket b's gradients (zeros for a parameter without one) and starts its sum.
  void start(size_t b) {
    std::vector<torch::Tensor> flat;
    for (size_t i : buckets[b]) {
      const torch::Tensor& g = params[i].grad();
      flat.push_back(g.defined() ? g.reshape(-1) : torch::zeros({params[i].numel()}, params[i].options()));
    }
    started.push_back(dp->start_sum(torch::cat(flat)));
  }

  void ready(size_t i) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!armed) return;
    --waiting[bucket_of[i]];
    while (next < buckets.size() && waiting[next] == 0) start(next++);
  }
};

namespace {

struct ReadyHook : torch::autograd::FunctionPostHook {
  ReadyHook(std::weak_ptr<GradientSync::State> s, size_t i) : state(std::move(s)), index(i) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    if (auto s = state.lock()) s->ready(index);
    return outputs;
  }
  std::weak_ptr<GradientSync::State> state;
  size_t index;
};

}  // namespace

GradientSync::GradientSync(std::shared_ptr<DataParallel> dp, std::vector<torch::Tensor> params,
                           int64_t bucket_bytes)
    : state_(std::make_shared<State>()) {
  State& s = *state_;
  s.dp = std::move(dp);
  s.params = std::move(params);
  s.bucket_of.resize(s.params.size());
  // Reverse model order; a bucket holds one dtype and closes at bucket_bytes.
  int64_t bytes = 0;
  for (size_t k = s.params.size(); k-- > 0;) {
    const torch::Tensor& p = s.params[k];
    if (!p.requires_grad()) throw Failure("GradientSync: a parameter without requires_grad");
    const bool fits = !s.buckets.empty() && bytes < bucket_bytes &&
                      s.params[s.buckets.back().front()].scalar_type() == p.scalar_type();
    if (!fits) {
      s.buckets.emplace_back();
      bytes = 0;
    }
    s.buckets.back().push_back(k);
    s.bucket_of[k] = s.buckets.size() - 1;
    bytes += p.numel() * static_cast<int64_t>(p.element_size());
  }
  for (size_t k = 0; k < s.params.size(); ++k) {
    Accumulator acc = torch::autograd::impl::grad_accumulator(s.params[k]);
    acc->add_post_hook(std::make_unique<ReadyHook>(state_, k));
    s.accumulators.push_back(std::move(acc));
  }
  s.reset();
}

GradientSync::~GradientSync() = default;  // the hooks stay on the nodes, inert (weak state)

void GradientSync::arm() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->armed = true;
}

void GradientSync::finish() {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  while (s.next < s.buckets.size()) s.start(s.next++);
  torch::NoGradGuard no_grad;
  for (size_t b = 0; b < s.buckets.size(); ++b) {
    const torch::Tensor flat = s.dp->wait(*s.started[b]);
    int64_t offset = 0;
    for (size_t i : s.buckets[b]) {
      torch::Tensor& p = s.params[i];
      torch::Tensor sum = flat.narrow(0, offset, p.numel()).view(p.sizes());
      offset += p.numel();
      if (p.grad().defined())
        p.mutable_grad().copy_(sum);
      else
        p.mutable_grad() = sum.clone();
    }
  }
  s.reset();
}

size_t GradientSync::buckets() const {
  return state_->buckets.size();
}

}  // namespace plinth::train
