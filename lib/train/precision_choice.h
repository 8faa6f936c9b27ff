// train.precision: auto — the training precision chosen per machine by measuring it. Whether bf16
// autocast beats float32 depends on the CPU far more than on the model: where the CPU multiplies
// bf16 natively (AMX, AVX-512 BF16) and oneDNN uses it, a bf16 step can take half the float32
// one; where OpenBLAS's float32 kernel is good and bf16 is emulated, float32 wins (docs/scaling.md
// gives both cases). So plinth times one step of the run's own model in each and trains in the
// faster. Includes torch.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "model/model_config.h"
#include "train/train_spec.h"

namespace plinth::train {

class DataParallel;

struct PrecisionChoice {
  Precision precision = Precision::fp32;  // what the run trains in
  std::string reason;               // for the log: why this one
  double fp32_ms = 0, bf16_ms = 0;  // measured step times (0 = not measured)
};

// Seconds of one training step (forward and backward, through the trainer's own step code) of a
// fresh model of `config` on `rows` rows of its context, on `device`, in bf16 autocast or not:
// the best of two after one to warm up. Leaves the global random generator as it found it.
double measured_step_seconds(const model::ModelConfig& config, int64_t rows, const torch::Device& device,
                             bool bf16);

// How choose_training_precision times a step: measured_step_seconds, or a stand-in in tests.
using StepTimer =
    std::function<double(const model::ModelConfig&, int64_t rows, const torch::Device&, bool bf16)>;

// spec.precision as the run will train: fp32 or bf16 as the recipe says; for auto, the precision
// recorded in `resume_from` (a resumed run goes on as it began: its steps stay bit-exact), else
// bf16 on CUDA, else the faster of the two by `time_step` on up to 2048 tokens of the batch. A
// bf16 step that fails (LibTorch sends it to a oneDNN without bf16 kernels) counts as infinitely
// slow: fp32, and the reason says why. Data-parallel ranks agree: the decision is made on the
// times summed over the ranks.
PrecisionChoice choose_training_precision(const TrainSpec& spec, const model::ModelConfig& config,
                                          const torch::Device& device,
                                          const std::optional<std::filesystem::path>& resume_from,
                                          DataParallel* dp,
                                          const StepTimer& time_step = measured_step_seconds);

// The same, written back into spec.precision (when it was auto, with a log line saying which and
// why): what pretraining and fine-tuning call before anything reads the precision.
void settle_training_precision(TrainSpec& spec, const model::ModelConfig& config, const torch::Device& device,
                               const std::optional<std::filesystem::path>& resume_from, DataParallel* dp);

}  // namespace plinth::train
