// Sums the trainable parameters' gradients over the data-parallel ranks, overlapped with the
// backward pass of the step's last micro-batch.
//
// How: a post-hook on each trainable parameter's gradient accumulator (the autograd node that
// adds a backward's gradient into .grad) tells when that gradient is final for the step. The
// parameters are packed into buckets of about 25 MiB in reverse model order, the order backward
// reaches them; a bucket whose gradients are all final is flattened into one buffer and its
// all-reduce starts on the backend's threads while backward goes on. Buckets start strictly in
// order (a later one waits for the earlier ones), so every rank issues the same collectives in
// the same sequence. finish() starts what is left (parameters no backward reached count as
// zeros), waits, and copies the sums back into .grad.
//
// Why not c10d::Reducer, which does the same for PyTorch's DDP: its C++ constructor is not a
// stable interface (its arguments changed between LibTorch 1.13 and 2.x), and it is driven by
// DDP's Python-side state machine (prepare_for_backward, bucket rebuilding, no_sync), where the
// trainer already knows which backward is the step's last. The hook is the mechanism Reducer
// itself uses.
//
// Sums, not means: each rank's loss is already scaled by the whole step's scored-target count
// (step_gradients.h), so the sum over ranks is the gradient one process would have computed.
// The sums run in the gradients' dtype, fp32 (master weights are fp32; bf16 is autocast only).
// Frozen parameters have no gradient and are not reduced: LoRA reduces only the adapters.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "train/data_parallel.h"

namespace plinth::train {

class GradientSync {
 public:
  GradientSync(std::shared_ptr<DataParallel> dp, std::vector<torch::Tensor> params,
               int64_t bucket_bytes = int64_t{25} << 20);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // The next backward is this rank's last of the step: start buckets as their gradients become final.
  void arm();
  // Every trainable gradient summed over the ranks (a collective: every rank calls it once a step).
  void finish();

  size_t buckets() const;

  struct State;  // shared with the hooks, which outlive it inert

 private:
  std::shared_ptr<State> state_;
};

}  // namespace plinth::train
