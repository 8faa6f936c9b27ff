// The precision a model computes in, as recipes, flags, checkpoints and reports name it
// ("fp32", "bf16"). bf16 means two things, by where it is set:
//   training (train.precision): autocast: the master weights, AdamW and the loss stay float32,
//     the matmuls run in bf16 (model/autocast_guard.h); TrainSpec::autocast_bf16().
//   inference (eval.precision, plinth generate --precision): the weights themselves are cast to
//     bf16, the softmax still runs in float32 (model/device.h weight_dtype).
// train.precision also takes "auto", settled per machine before training
// (train/precision_choice.h).
#pragma once

#include <optional>
#include <string_view>

namespace plinth {

enum class Precision { fp32, bf16 };

// "fp32" | "bf16".
const char* precision_name(Precision p);
// The precision a word names; nullopt for any other word.
std::optional<Precision> parse_precision(std::string_view word);

}  // namespace plinth
