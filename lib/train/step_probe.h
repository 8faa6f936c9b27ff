// A measurement the Trainer takes of the model at fixed steps beside validation, whose state
// travels in the step checkpoints so that a resumed run measures and decides exactly as an
// uninterrupted one. The fine-tune's checkpoint selection (finetune/selection_probe.h) is one.
//
// The Trainer runs it at step 0 of a fresh run (after the step-0 validation), at every multiple
// of every() and at the last step. On those steps it also validates (the probe reads the
// validation losses), writes a metrics line and a step checkpoint, whatever eval_every and
// checkpoint_every say; a run without a probe is unchanged. Data-parallel: every rank calls
// measure() (and must get the same numbers), every rank calls committed().
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "model/checkpoint_file.h"
#include "model/llama.h"
#include "train/metrics_log.h"
#include "train/val_loss.h"

namespace plinth::train {

class StepProbe {
 public:
  virtual ~StepProbe() = default;

  // Steps between measurements (>= 1).
  virtual int64_t every() const = 0;

  // Measures the model after `step` optimizer steps (eval mode, gradients off), given the
  // validation losses of that step, and adds its fields to the step's metrics line.
  virtual void measure(model::Llama& model, int64_t step, const DomainLosses& val, MetricsRecord& record) = 0;

  // The step's checkpoint holding state() is on disk (step 0: there is none): what the probe
  // keeps beside the checkpoints may now follow, from the same weights.
  virtual void committed(model::Llama& model, int64_t step) = 0;

  // Its state as checkpoint meta (keys of its own, not the Trainer's), and back from a checkpoint
  // the Trainer has just restored `model` and `step` from.
  virtual std::map<std::string, std::string> state() const = 0;
  virtual void restore(const model::CheckpointContents& checkpoint, const std::filesystem::path& file,
                       model::Llama& model, int64_t step) = 0;
};

}  // namespace plinth::train
