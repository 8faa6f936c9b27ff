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
#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "model/llama.h"
#include "train/batch_source.h"

namespace plinth::train {

struct StepLoss {
  double loss = 0;        // mean token loss over the step's scored targets (NaN when none)
  int64_t scored = 0;     // scored targets in the step
  int64_t replayed = -1;  // of those, the ones from replayed pretraining rows; -1 = no replay source
};

// Draws `grad_accum` micro-batches of `rows` rows from `batches`, runs them through `model`
// (autocast to bf16 when `bf16`) and adds the step's gradient into the parameters' .grad
// (which the caller clears first).
StepLoss accumulate_gradients(model::LlamaImpl& model, BatchSource& batches, int64_t rows, int grad_accum,
                              const torch::Device& device, bool bf16);

}  // namespace plinth::train
