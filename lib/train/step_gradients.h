// The gradient of one optimizer step, accumulated over micro-batches.
//
// A step's loss is the mean over every scored target of all its micro-batches (targets >= 0),
// not the mean of the micro-batches' means: task rows score only their completions, so
// micro-batches of the same number of rows score different numbers of tokens, and a mean of
// means would weight a token of a sparse micro-batch more than one of a dense one. So the
// step draws its micro-batches first, counts the scored targets N of the whole step, and
// backpropagates each micro-batch's mean loss scaled by (its scored targets / N): the
// gradient of grad_accum micro-batches of B rows equals that of one batch of grad_accum * B
// rows, up to float rounding. (Pretraining windows score every target, so there the scale is
// 1 / grad_accum, as before.) A micro-batch that scores nothing is skipped.
//
// Data-parallel (RankShare): every rank draws the whole micro-batch, as one process would, and
// computes on its own contiguous share of the rows (rank r of W: rows [r B/W, (r+1) B/W)),
// with N still the whole step's count over all rows. The sum over the ranks of their gradients
// (GradientSync) and of their losses is then what one process computes on the whole batch: a
// run on W ranks sees the same examples in the same steps as on one, and the sampler's cursor
// stays one number. Drawing rows a rank does not train on costs reading them from the mapped
// shards, nothing next to the forward pass.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "model/llama.h"
#include "train/batch_source.h"

namespace plinth::train {

class DataParallel;
class GradientSync;

struct RankShare {
  DataParallel* dp = nullptr;
  GradientSync* sync = nullptr;
};

struct StepLoss {
  double loss = 0;        // mean token loss over the step's scored targets (NaN when none)
  int64_t scored = 0;     // scored targets in the step
  int64_t replayed = -1;  // of those, the ones from replayed pretraining rows; -1 = no replay source
  // Distillation (DistillTerm): the mean KL(p_ref ‖ p) over the step's distilled positions,
  // before the weight (NaN without distillation or positions), and those positions' count.
  double distill_kl = std::numeric_limits<double>::quiet_NaN();
  int64_t distilled = 0;
};

// Distillation to a reference (finetune.distill, Li and Hoiem's Learning without Forgetting):
// the step's objective gains weight · KL(p_ref ‖ p), averaged over every distilled position of
// the step (all micro-batches, all ranks, as the loss averages its targets): the task rows'
// positions, prompts included, or the replayed rows' (BatchSource::last_*_positions). The
// reference reads the same rows under NoGradGuard in eval mode (no dropout, no random draws:
// resumes stay bit-exact); its head is applied chunk by chunk with the model's (linear_kl.h).
struct DistillTerm {
  double weight = 0;                      // beta > 0
  bool on_replay = false;                 // false: the task rows' positions
  model::LlamaImpl* reference = nullptr;  // the frozen base; null: the model with its LoRA adapters off
};

// Draws `grad_accum` micro-batches of `rows` rows from `batches`, runs them through `model`
// (autocast to bf16 when `bf16`) and adds the step's gradient into the parameters' .grad
// (which the caller clears first). With `share`, rows is the whole micro-batch of all ranks (a
// multiple of the world size), and the gradients and the loss come back summed over the ranks.
StepLoss accumulate_gradients(model::LlamaImpl& model, BatchSource& batches, int64_t rows, int grad_accum,
                              const torch::Device& device, bool bf16, const RankShare* share = nullptr,
                              const DistillTerm* distill = nullptr);

// The global L2 norm of the gradients of `params` that train and have one (frozen parameters,
// and trainable ones the loss did not reach, have none), before clipping; scales those gradients
// down to `max_norm` when the norm is above it (max_norm <= 0: never).
double clip_gradient_norm(const std::vector<std::pair<std::string, torch::Tensor>>& params, double max_norm);

}  // namespace plinth::train
