// The diagonal Fisher information of a base model, for EWC (regularizers.h): how much the base's
// loss on its own pretraining data depends on each weight. Estimated once per base on its
// pretraining validation data and stored beside the base checkpoint, so every fine-tune of that
// base reuses it:
//   runs/quickstart/checkpoints/best.ckpt  ->  runs/quickstart/checkpoints/best.fisher.ckpt
// The file is a checkpoint file (model/checkpoint_file.h): tensors "fisher/<HF name>" (float32,
// the parameter's shape), meta "kind" = "plinth-fisher", "base_checkpoint", "base_weights_hash",
// "tokenizer_hash", "batches", "rows", "estimator".
//
// Estimator: the empirical Fisher of mini-batches, F = mean over batches of g*g, where g is the
// gradient of one batch's mean token loss against the data's own next tokens (not tokens
// sampled from the model). Squaring batch gradients rather than per-token ones costs one
// backward per batch instead of one per token; it changes F's overall scale (noise averages
// out inside a batch), which the EWC lambda absorbs, while keeping which weights matter.
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
  int64_t batches = 0;                          // micro-batches averaged
  int64_t rows = 0;                             // sequences per micro-batch
  uint64_t base_weights_hash = 0;               // weights_hash() of the base; 0 = unknown
};

// Estimates F for every parameter but LoRA adapters ("lora_"), frozen ones included (their
// requires_grad is switched on for the estimate and restored after), so one file serves every
// fine-tune of the base whatever it freezes. Moves the model to `device`; runs in float32 with
// the model in eval mode (restored after) and leaves no gradients behind. Draws `batches` micro-batches of `rows` sequences from
// `val_batches`. Fills values, batches, rows and base_weights_hash; the caller sets
// base_checkpoint and tokenizer_hash.
FisherDiagonal estimate_fisher(model::LlamaImpl& model, BatchSource& val_batches, int64_t batches, int64_t rows,
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

// The base checkpoint's path with ".fisher" before its extension: best.ckpt -> best.fisher.ckpt.
std::filesystem::path fisher_path_for(const std::filesystem::path& base_checkpoint);

}  // namespace plinth::train
