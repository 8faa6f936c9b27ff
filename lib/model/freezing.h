// Freezing for fine-tuning: stop chosen parameters from training (requires_grad = false) —
// the vocabulary matrices, the first k decoder layers, or parameters matched by regex.
// Includes torch: include it only from torch-heavy files.
#pragma once

#include <cstdint>

#include "model/finetune_options.h"
#include "model/llama.h"

namespace plinth::model {

// Sets requires_grad = false on every parameter that options choose (see FreezeOptions) and
// leaves the others as they are. Returns the number of parameter elements (scalars, as
// ModelConfig::parameter_count counts them) that the options choose, whether or not they were
// already frozen. Call it before building the optimizer. Throws BadInput, listing every problem
// at once, for first_layers < 0 or > layers, a pattern that does not parse or matches no
// parameter (the message shows the names patterns are searched in), or options that would
// leave no parameter to train.
int64_t freeze_parameters(LlamaImpl& model, const FreezeOptions& options);

}  // namespace plinth::model
