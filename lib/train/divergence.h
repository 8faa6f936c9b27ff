// What train.on_divergence (train_spec.h) says about a step that was not applied: the step's
// description and the hint every divergence message ends with; and the failpoint that makes a
// step diverge on purpose, so that the policies are tested without a model that blows up.
// No torch here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace plinth::train {

// How to avoid the divergence, or live with it: the last line of each divergence message.
inline constexpr const char* kDivergenceHint =
    "lower train.lr, raise train.warmup_steps or set train.grad_clip (fine-tuning: or lower "
    "finetune.ewc.lambda / finetune.l2sp.alpha), or set train.on_divergence: skip or rollback; then "
    "resume from the last checkpoint (--resume) or start again";

// "step 7: loss nan, penalty 0.3, gradient norm 3.2 (batch from alpha, beta)"; the penalty only
// when the run has regularizers, `sources` what the step's batches drew from.
std::string divergence_text(int64_t step, double loss, std::optional<double> penalty, double grad_norm,
                            const std::vector<std::string>& sources);

// PLINTH_INJECT_NAN_AT_STEP=5,9: true on the first attempt of steps 5 and 9 (first since the
// variable took this value, in this process); the Trainer then makes that step's loss NaN.
bool inject_nan_at(int64_t step);

}  // namespace plinth::train
