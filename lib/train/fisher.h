// The diagonal Fisher information of a base model, for EWC (regularizers.h): how much the base's
// loss on its own pretraining data depends on each weight. Estimated by the fine-tune that needs
// it and kept in that fine-tune's run directory (<run_dir>/fisher.ckpt): a fine-tune writes only
// into its own directory (the base's may be read-only, mounted into a container, or in use by
// another run), a resumed fine-tune reuses the file, and one whose base, estimator or sample size
// changed estimates it again (the file records the base's weights hash).
// The file is a checkpoint file (model/checkpoint_file.h): tensors "fisher/<HF name>" (float32,
// the parameter's shape), meta "kind" = "plinth-fisher", "base_checkpoint", "base_weights_hash",
// "tokenizer_hash", "sequences", "data" (where the sequences came from), "estimator".
//
// Estimator: the empirical Fisher as EWC defines it, the mean over examples of the squared
// per-example gradient, F = (1/N) sum_s g_s * g_s, with one example = one sequence of the base's
// pretraining data and g_s the gradient of that sequence's mean token loss against its own next
// tokens (not tokens sampled from the model). Computed exactly, by one forward and backward pass
// per sequence (N passes of one row: no per-example-gradient trick, the simple loop is exact and
// the tiny models here make it cheap). F does not depend on the batch size (there is none) nor,
// in expectation, on N; it does depend on the sequence length T (a mean over more tokens has
// less noise), so a lambda carries over between bases of the same context.
//
// Data: the sequences are a seeded random sample of windows of the base's TRAINING shards, never
// the validation shards that `plinth eval` scores forgetting on, so the regulariser has not seen
// the documents that test it (the data split puts each document in one split only).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "model/llama.h"
#include "train/batch_source.h"

namespace plinth::train {

struct FisherDiagonal {
  std::map<std::string, torch::Tensor> values;  // parameter name -> F >= 0, float32, its shape
  std::string base_checkpoint;                  // the checkpoint the base weights came from
  uint64_t tokenizer_hash = 0;                  // the base's tokenizer; 0 = unknown
  int64_t sequences = 0;                        // sequences averaged (N)
  std::string data;                             // where they came from, e.g. "train shards of a, b; seed 0"
  uint64_t base_weights_hash = 0;               // weights_hash() of the base; 0 = unknown
};

// Estimates F for every parameter but LoRA adapters ("lora_"), frozen ones included (their
// requires_grad is switched on for the estimate and restored after), so one file serves every
// fine-tune of the base whatever it freezes. Draws `sequences` rows from `source` one at a time
// (a row with no scored target is skipped and another drawn). Moves the model to `device`; runs
// in float32 with the model in eval mode (restored after) and leaves no gradients behind. Fills
// values, sequences and base_weights_hash; the caller sets base_checkpoint, tokenizer_hash, data.
FisherDiagonal estimate_fisher(model::LlamaImpl& model, BatchSource& source, int64_t sequences,
                               torch::Device device);

// XXH3 over the names and float32 bytes of the parameters, LoRA adapters excepted: tells
// whether a Fisher file was estimated for these very weights.
uint64_t weights_hash(const model::LlamaImpl& model);

// One file, written atomically.
void write_fisher(const std::filesystem::path& file, const FisherDiagonal& fisher);
// BadInput when the file is missing ("EWC needs a Fisher diagonal ...", with what to run), is not
// a Fisher file, or is damaged. Values come back on the CPU.
FisherDiagonal read_fisher(const std::filesystem::path& file);

// BadInput when `fisher` (read from `file`) was made for another base than `base_model` with
// tokenizer `tokenizer_hash` (0 = do not check): another tokenizer, a parameter the model lacks
// or of another shape, or other base weights (when both hashes are known). Call it with the
// model right after loading the base weights.
void check_fisher_fits(const FisherDiagonal& fisher, const std::filesystem::path& file,
                       const model::LlamaImpl& base_model, uint64_t tokenizer_hash);

// <run_dir>/fisher.ckpt: where a fine-tune keeps the Fisher of its base.
std::filesystem::path fisher_path(const std::filesystem::path& fine_tune_run_dir);

}  // namespace plinth::train
