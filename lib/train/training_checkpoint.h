// What a training checkpoint (model/checkpoint_file.h) holds beside the model's weights so that
// a resumed run continues bit-exactly: AdamW's state per parameter and the random generators;
// and which checkpoint a resumed run starts from.
//   optim/<i>/exp_avg, optim/<i>/exp_avg_sq   [the shape of parameter i], the parameter's dtype
//   optim/<i>/step                            int64 scalar
//   rng/cpu, rng/cuda                         the generators' state (uint8 bytes)
// i indexes the Trainer's parameter list (named_parameters order, frozen parameters included);
// a parameter with no optimizer state yet (no step taken, or frozen) has no optim/<i>/ tensors.
// The meta keys (step, cursor, best loss, ...) are the Trainer's own (trainer.cpp).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "model/checkpoint_file.h"

namespace plinth::train {

using NamedParameters = std::vector<std::pair<std::string, torch::Tensor>>;

// Appends optim/<i>/... for every parameter `optim` holds state for, copied to the CPU.
void add_optimizer_state(model::CheckpointContents& c, const NamedParameters& params,
                         const torch::optim::AdamW& optim);
// Replaces `optim`'s state by the checkpoint's. A parameter that is frozen now keeps none (its
// state has nowhere to go); BadInput naming `file` when a trainable one's state is incomplete or
// has another shape.
void restore_optimizer_state(const model::CheckpointContents& c, const std::filesystem::path& file,
                             const NamedParameters& params, torch::optim::AdamW& optim);

// Appends rng/cpu, and rng/cuda when `device` is a CUDA device.
void add_generator_states(model::CheckpointContents& c, const torch::Device& device);
// Sets the generators from the checkpoint's (those it lacks keep their state).
void restore_generator_states(const model::CheckpointContents& c, const torch::Device& device);

// The run's newest step checkpoint, for --resume; BadInput when it has none, with the hint to
// start it without --resume (`command`: e.g. "plinth pretrain r.yaml").
std::filesystem::path checkpoint_to_resume(const std::filesystem::path& run_dir, const std::string& command);

// `restore`s the run's newest step checkpoint and returns it; one that is damaged
// (model::DamagedCheckpoint) is renamed to <file>.damaged (by the `lead` process only) with a
// warning, and the one before it is tried. BadInput when the run holds none, or only damaged ones.
std::filesystem::path restore_newest_readable(
    const std::filesystem::path& run_dir, bool lead,
    const std::function<void(const std::filesystem::path&)>& restore);

}  // namespace plinth::train
