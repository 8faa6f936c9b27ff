// A tiny but real training setup for the [train] tests: two domains of patterned token
// streams written as shards with data::ShardWriter, a 2-layer model, and a Trainer on them.
#pragma once

#include <deque>
#include <memory>

#include "data/shard.h"
#include "model/llama.h"
#include "test_support.h"
#include "train/trainer.h"

namespace plinth::test {

struct TinyRun {
  static constexpr uint64_t kTokenizerHash = 0x0123456789abcdefull;
  static constexpr int kVocab = 64;

  TempDir dir;
  std::deque<data::ShardReader> shards;  // deque: stable addresses for the sampler's pointers
  std::vector<data::MixtureDomain> train_domains;
  std::vector<train::ValDomain> val_domains;
  model::ModelConfig config;
  train::TrainSpec spec;
  std::function<void(int64_t step, double loss)> after_step;  // handed to the trainer
  // Called with the new model (on the CPU, before the Trainer is made) and the trainer's options:
  // fine-tune tests freeze parameters, add regularizers or set the checkpoint kind here.
  std::function<void(model::Llama&, train::TrainerOptions&)> prepare;

  TinyRun();  // also silences the trainer's log lines
  // A new model (seeded from spec.seed) and a Trainer over the shards, writing to spec.run_dir.
  // `model_out`, when given, receives the model handle.
  std::unique_ptr<train::Trainer> trainer(model::Llama* model_out = nullptr,
                                          uint64_t tokenizer_hash = kTokenizerHash) const;
};

}  // namespace plinth::test
